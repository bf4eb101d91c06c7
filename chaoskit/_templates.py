"""``{{...}}`` placeholders in load requests: ``{{id}}`` (the write id of the
request), ``{{seq}}`` (its sequence number in the stream), ``{{uuid}}`` (a
fresh random UUID), ``{{stream}}`` (the stream's name).

Templates are compiled once per stream: only the strings that contain a
placeholder are rendered for each request.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

__all__ = ["PLACEHOLDERS", "Template", "check_template"]

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z]+)\s*\}\}")
PLACEHOLDERS = ("id", "seq", "uuid", "stream")

Values = dict[str, str]


def check_template(value: Any) -> list[str]:
    """The unknown placeholder names used anywhere in ``value``."""
    unknown: list[str] = []
    if isinstance(value, str):
        unknown += [n for n in _PLACEHOLDER.findall(value) if n not in PLACEHOLDERS]
    elif isinstance(value, dict):
        for item in value.values():
            unknown += check_template(item)
    elif isinstance(value, list):
        for item in value:
            unknown += check_template(item)
    return unknown


class Template:
    """A JSON-like value whose strings may hold placeholders."""

    def __init__(self, value: Any) -> None:
        self._render: Callable[[Values], Any] = _compile(value)
        self.uses_uuid = "uuid" in str(value)

    def render(self, write_id: str, seq: int, stream: str) -> Any:
        values = {"id": write_id, "seq": str(seq), "stream": stream}
        if self.uses_uuid:
            values["uuid"] = str(uuid.uuid4())
        return self._render(values)


def _compile(value: Any) -> Callable[[Values], Any]:
    if isinstance(value, str) and _PLACEHOLDER.search(value):
        return lambda values: _PLACEHOLDER.sub(lambda m: values[m.group(1)], value)
    if isinstance(value, dict) and any(_has(v) for v in value.values()):
        parts = {k: _compile(v) for k, v in value.items()}
        return lambda values: {k: part(values) for k, part in parts.items()}
    if isinstance(value, list) and any(_has(v) for v in value):
        items = [_compile(v) for v in value]
        return lambda values: [item(values) for item in items]
    return lambda _: value


def _has(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_PLACEHOLDER.search(value))
    if isinstance(value, dict):
        return any(_has(v) for v in value.values())
    if isinstance(value, list):
        return any(_has(v) for v in value)
    return False
