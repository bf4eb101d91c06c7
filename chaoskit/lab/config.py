"""Where the lab lives and which ports it uses.

The lab's files (``compose/``) are found beside the chaoskit package in a checkout, or where
``CHAOSKIT_LAB_ROOT`` points. Its ports are written down once, in ``compose/ports.env``; an
environment variable of the same name overrides one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chaoskit.lab.errors import LabError

__all__ = ["HOST", "LabConfig", "LabPorts", "load_config", "read_env_file"]

HOST = "127.0.0.1"
EPHEMERAL = range(32768, 61001)

_PORT_VARIABLES = {
    "ledger": "CHAOSKIT_LAB_LEDGER_PORT",
    "catalog": "CHAOSKIT_LAB_CATALOG_PORT",
    "toxiproxy": "CHAOSKIT_LAB_TOXIPROXY_PORT",
    "ledger_postgres_proxy": "CHAOSKIT_LAB_LEDGER_POSTGRES_PROXY_PORT",
    "catalog_ledger_proxy": "CHAOSKIT_LAB_CATALOG_LEDGER_PROXY_PORT",
    "postgres": "CHAOSKIT_LAB_POSTGRES_PORT",
}


@dataclass(frozen=True)
class LabPorts:
    """The lab's ports on 127.0.0.1."""

    ledger: int
    catalog: int
    toxiproxy: int
    ledger_postgres_proxy: int
    catalog_ledger_proxy: int
    postgres: int

    @property
    def ledger_url(self) -> str:
        return f"http://{HOST}:{self.ledger}"

    @property
    def catalog_url(self) -> str:
        return f"http://{HOST}:{self.catalog}"

    @property
    def toxiproxy_url(self) -> str:
        return f"http://{HOST}:{self.toxiproxy}"

    def env(self) -> dict[str, str]:
        """The ports as the ``CHAOSKIT_LAB_*_PORT`` variables compose/lab.yml reads."""
        return {variable: str(getattr(self, field)) for field, variable in _PORT_VARIABLES.items()}

    def all(self) -> dict[str, int]:
        return {field: int(getattr(self, field)) for field in _PORT_VARIABLES}


@dataclass(frozen=True)
class LabConfig:
    """Paths and ports of one lab."""

    root: Path
    ports: LabPorts

    @property
    def compose_dir(self) -> Path:
        return self.root / "compose"

    @property
    def services_dir(self) -> Path:
        return self.compose_dir / "services"

    @property
    def state_dir(self) -> Path:
        """``.chaoskit/lab/`` of the checkout: state file, pid records, logs."""
        override = os.environ.get("CHAOSKIT_LAB_STATE_DIR")
        return Path(override) if override else self.root / ".chaoskit" / "lab"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def ports_file(self) -> Path:
        return self.compose_dir / "ports.env"

    @property
    def compose_file(self) -> Path:
        return self.compose_dir / "lab.yml"


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; blank lines and ``#`` comments skipped; no quoting or expansion."""
    values: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LabError(f"cannot read {path}: {exc.strerror}") from exc
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise LabError(f"{path}:{number}: expected KEY=VALUE, got {text!r}")
        values[key.strip()] = value.strip()
    return values


def _lab_root() -> Path:
    override = os.environ.get("CHAOSKIT_LAB_ROOT")
    root = Path(override) if override else Path(__file__).resolve().parents[2]
    if not (root / "compose" / "lab.yml").is_file():
        raise LabError(
            f"the lab's files are not at {root / 'compose'}: run from a chaoskit checkout, "
            "or set CHAOSKIT_LAB_ROOT to one"
        )
    return root


def _ports(path: Path, environ: Mapping[str, str]) -> LabPorts:
    written = read_env_file(path)
    values: dict[str, int] = {}
    for field, variable in _PORT_VARIABLES.items():
        raw = environ.get(variable) or written.get(variable)
        if raw is None:
            raise LabError(f"{path}: {variable} is missing")
        try:
            port = int(raw)
        except ValueError:
            raise LabError(f"{variable}={raw!r}: expected a port number") from None
        if not 1 <= port <= 65535 or port in EPHEMERAL:
            raise LabError(f"{variable}={port}: expected 1-65535, outside 32768-61000")
        values[field] = port
    if len(set(values.values())) != len(values):
        raise LabError(f"{path}: two lab services share a port: {values}")
    return LabPorts(**values)


def load_config(environ: Mapping[str, str] | None = None) -> LabConfig:
    """The lab of this checkout, with ports from compose/ports.env and the environment."""
    root = _lab_root()
    ports = _ports(root / "compose" / "ports.env", os.environ if environ is None else environ)
    return LabConfig(root=root, ports=ports)
