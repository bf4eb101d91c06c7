"""The JSON Schema of the experiment format for the installed plugins."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from chaoskit._model import build_experiment_model
from chaoskit._registry import Registry
from chaoskit._units import duration_text

__all__ = ["experiment_schema"]

SCHEMA_ID = "https://chaoskit.dev/schema/experiment-v1.json"


def experiment_schema(registry: Registry, load_all: bool = True) -> dict[str, Any]:
    """The schema for the plugins in ``registry`` (all installed ones unless
    ``load_all`` is false, in which case the caller has loaded what it wants)."""
    if load_all:
        registry.load_all()
    model = build_experiment_model(registry)
    schema = _drop_unknown(model.model_json_schema(by_alias=True, schema_generator=_Generator))
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


class _Generator(GenerateJsonSchema):
    """Defaults as a document writes them: a duration's default of 1.0 seconds
    is ``1s`` (a bare number is not a duration the format accepts)."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        default = json_schema.get("default")
        if isinstance(default, bool) or not isinstance(default, int | float):
            return json_schema
        if _is_duration(json_schema):
            json_schema["default"] = duration_text(default)
        return json_schema


def _is_duration(json_schema: JsonSchemaValue) -> bool:
    options = json_schema.get("anyOf", [])
    return any("(ms|s|m|h)" in str(option.get("pattern", "")) for option in options)
