"""YAML loading that remembers where every value came from.

``load_with_positions`` returns the plain data and a ``Positions`` map from a
path (tuple of keys and indices) to its ``(line, column)``, 1-based, so that a
validation error deep inside a document can point at the exact spot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from chaoskit._yamllimits import MAX_DOCUMENT_BYTES, LimitedLoader, LimitExceeded

__all__ = ["Path", "Positions", "YamlError", "check_document_size", "load_with_positions"]

Path = tuple[str | int, ...]


class YamlError(Exception):
    """The text is not YAML (or not one document); ``line``/``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class Positions:
    """Where each path of a document starts (line, column), 1-based."""

    spots: dict[Path, tuple[int, int]] = field(default_factory=dict)
    written: dict[Path, str] = field(default_factory=dict)
    """The text of each scalar that YAML did not take for a string (``26380``,
    ``yes``, ``0777``, ``12:30``): the value alone may not say how it was written."""

    def nearest(self, data: Any, loc: Sequence[str | int]) -> tuple[Path, tuple[int, int]]:
        """Follow ``loc`` (a pydantic error location) through ``data`` as far as
        it goes; return the path actually walked and its position.

        Parts of ``loc`` that are not keys of the data (union tags added by
        pydantic) are skipped, so the position is that of the deepest real value.
        """
        walked: list[str | int] = []
        node = data
        for part in loc:
            if isinstance(node, dict) and part in node:
                node = node[part]
                walked.append(part)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
                walked.append(part)
        path = tuple(walked)
        while path not in self.spots and path:
            path = path[:-1]
        return tuple(walked), self.spots.get(path, (1, 1))


def check_document_size(encoded: bytes) -> None:
    """Raise YamlError, at the first byte too many, if ``encoded`` is larger than
    MAX_DOCUMENT_BYTES (``encoded`` may be cut short one byte past it)."""
    if len(encoded) <= MAX_DOCUMENT_BYTES:
        return
    within = encoded[:MAX_DOCUMENT_BYTES].decode("utf-8", errors="replace")
    line = within.count("\n") + 1
    column = len(within) - (within.rfind("\n") + 1) + 1
    raise YamlError(
        f"document passes {MAX_DOCUMENT_BYTES} bytes here: expected at most "
        f"{MAX_DOCUMENT_BYTES} bytes ({MAX_DOCUMENT_BYTES / 2**20:g} MiB)",
        line,
        column,
    )


def load_with_positions(text: str) -> tuple[Any, Positions]:
    """Parse one YAML document within the limits of chaoskit._yamllimits.
    Raises YamlError with its position."""
    # a character is 1 to 4 bytes in UTF-8: encode only when the length leaves a doubt
    if len(text) > MAX_DOCUMENT_BYTES // 4:
        check_document_size(text[: MAX_DOCUMENT_BYTES + 1].encode("utf-8", errors="replace"))
    loader = LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, Positions()
        positions = Positions()
        _record(node, (), positions)
        data = loader.construct_document(node)
    except LimitExceeded as exc:
        raise YamlError(_clip(exc.message), exc.line, exc.column) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YamlError(_clip(message or "not valid YAML"), line, column) from exc
    except yaml.YAMLError as exc:
        raise YamlError(_clip(str(exc)), 1, 1) from exc
    finally:
        loader.dispose()
    return data, positions


def _clip(message: str, most: int = 300) -> str:
    """A message quotes the offending tag or anchor whole, which may be most of the file."""
    return message if len(message) <= most else message[: most - 1] + "…"


_STR_TAG = "tag:yaml.org,2002:str"


def _record(node: yaml.Node, path: Path, positions: Positions) -> None:
    positions.spots[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.ScalarNode) and node.tag != _STR_TAG:
        positions.written[path] = node.value
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key: str | int = key_node.value
                _record(value_node, (*path, key), positions)
                # a missing or unknown field points at its key, not its value
                positions.spots[(*path, key, "__key__")] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), positions)
