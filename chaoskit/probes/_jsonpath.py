"""A minimal JSON path: ``$.a.b[0].c`` (dots and list indices, nothing more)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MISSING", "parse_json_path", "resolve"]

_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[\"([^\"]*)\"\]")
MISSING = object()


def parse_json_path(path: str) -> list[str | int]:
    if not path.startswith("$"):
        raise ValueError("expected a JSON path starting with $, like $.status or $.items[0].id")
    parts: list[str | int] = []
    rest = path[1:]
    while rest:
        match = _TOKEN.match(rest)
        if match is None:
            raise ValueError(f"cannot read JSON path {path!r} at {rest!r}")
        name, index, quoted = match.groups()
        parts.append(int(index) if index is not None else (name or quoted))
        rest = rest[match.end() :]
    return parts


def resolve(document: Any, parts: list[str | int]) -> Any:
    node = document
    for part in parts:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return MISSING
    return node
