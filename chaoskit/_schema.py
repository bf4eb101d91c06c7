"""The JSON Schema of the experiment format for the installed plugins."""

from __future__ import annotations

from typing import Any

from chaoskit._model import build_experiment_model
from chaoskit._registry import Registry

__all__ = ["experiment_schema"]

SCHEMA_ID = "https://chaoskit.dev/schema/experiment-v1.json"


def experiment_schema(registry: Registry) -> dict[str, Any]:
    registry.load_all()
    schema = build_experiment_model(registry).model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "chaoskit experiment",
        **{k: v for k, v in schema.items() if k != "title"},
    }
