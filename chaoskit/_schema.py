"""The JSON Schema of the experiment format for the installed plugins."""

from __future__ import annotations

from typing import Any

from chaoskit._model import build_experiment_model
from chaoskit._registry import Registry

__all__ = ["experiment_schema"]

SCHEMA_ID = "https://chaoskit.dev/schema/experiment-v1.json"


def experiment_schema(registry: Registry, load_all: bool = True) -> dict[str, Any]:
    """The schema for the plugins in ``registry`` (all installed ones unless
    ``load_all`` is false, in which case the caller has loaded what it wants)."""
    if load_all:
        registry.load_all()
    schema = _drop_unknown(build_experiment_model(registry).model_json_schema(by_alias=True))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "chaoskit experiment",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def _drop_unknown(node: Any) -> Any:
    """Remove the loader's catch-all members for unknown plugin names: they
    exist to word an error message, not to describe the format."""
    if isinstance(node, dict):
        return {
            key: _drop_unknown(value)
            for key, value in node.items()
            if not (key.startswith("Unknown_") or _is_unknown_ref(value))
        }
    if isinstance(node, list):
        return [_drop_unknown(item) for item in node if not _is_unknown_ref(item)]
    return node


def _is_unknown_ref(value: Any) -> bool:
    if isinstance(value, dict):
        return str(value.get("$ref", "")).startswith("#/$defs/Unknown_")
    return isinstance(value, str) and value.startswith("#/$defs/Unknown_")
