"""``${env:NAME}`` substitution, and the redaction of what it brought in.

Values taken from the environment are treated as secrets: the journal, the
logs and results.json pass through :meth:`Secrets.redact`, which replaces
every occurrence with ``***``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaoskit._yamlpos import Path

__all__ = ["REDACTED", "Secrets", "substitute_env"]

REDACTED = "***"
_ENV_RE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Secrets:
    """The values that came from the environment, each with its variable name."""

    names: dict[str, str] = field(default_factory=dict)
    """secret value → the NAME of ``${env:NAME}`` it came from"""

    @property
    def values(self) -> set[str]:
        return set(self.names)

    def redact(self, value: Any) -> Any:
        """A copy of ``value`` (str, list, dict, scalars) with each secret
        replaced by ``***``: for logs, results and anything people read."""
        return self._replace(value, lambda _: REDACTED)

    def placeholders(self, value: Any) -> Any:
        """A copy of ``value`` with each secret replaced by the ``${env:NAME}``
        it came from: for the journal, so that ``substitute_env`` restores the
        exact original (``chaoskit rollback`` needs the real revert state)."""
        return self._replace(value, lambda secret: "${env:" + self.names[secret] + "}")

    def _replace(self, value: Any, replacement: Any) -> Any:
        if not self.names:
            return value
        if isinstance(value, str):
            for secret in sorted(self.names, key=len, reverse=True):
                if secret in value:
                    value = value.replace(secret, replacement(secret))
            return value
        if isinstance(value, dict):
            return {k: self._replace(v, replacement) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._replace(v, replacement) for v in value]
        return value


def substitute_env(
    data: Any, environ: Mapping[str, str] | None = None
) -> tuple[Any, Secrets, list[tuple[Path, str]]]:
    """Replace ``${env:NAME}`` in every string of ``data``.

    Returns the new data, the secrets it brought in and the problems found
    (path, message) for variables that are not set.
    """
    env = os.environ if environ is None else environ
    secrets = Secrets()
    problems: list[tuple[Path, str]] = []

    def visit(value: Any, path: Path) -> Any:
        if isinstance(value, str) and "${env:" in value:

            def replace(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in env:
                    problems.append((path, f"environment variable {name} is not set"))
                    return match.group(0)
                if env[name]:
                    secrets.names[env[name]] = name
                return env[name]

            return _ENV_RE.sub(replace, value)
        if isinstance(value, dict):
            return {k: visit(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [visit(v, (*path, i)) for i, v in enumerate(value)]
        return value

    return visit(data, ()), secrets, problems
