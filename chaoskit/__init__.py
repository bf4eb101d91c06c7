"""chaoskit — the public API for injector, probe and target-kind authors.

Everything not re-exported here is private and may change. Names are resolved
lazily (PEP 562) so that ``chaoskit --help`` does not import pydantic.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaoskit._authoring import RevertState, params_as
    from chaoskit._errors import (
        ChaoskitError,
        ExperimentInvalid,
        FaultNotInForce,
        InjectorError,
        PluginError,
        RevertFailed,
        UserError,
    )
    from chaoskit._plugin_api import (
        Describable,
        Expect,
        FaultContext,
        Footprint,
        Injector,
        JsonValue,
        LoadContext,
        LoadKind,
        Lookup,
        LookupContext,
        Observation,
        Outcome,
        Params,
        Probe,
        ProbeContext,
        Provisioning,
        Resources,
        TargetSpec,
        Verifiable,
        WriteOutcome,
    )
    from chaoskit._units import Duration, DurationThreshold, NumberThreshold, Percentage, Rate

__version__ = "0.1.0"

_HOMES = {
    "chaoskit._authoring": ("RevertState", "params_as"),
    "chaoskit._errors": (
        "ChaoskitError",
        "ExperimentInvalid",
        "FaultNotInForce",
        "InjectorError",
        "PluginError",
        "RevertFailed",
        "UserError",
    ),
    "chaoskit._plugin_api": (
        "Describable",
        "Expect",
        "FaultContext",
        "Footprint",
        "Injector",
        "JsonValue",
        "LoadContext",
        "LoadKind",
        "Lookup",
        "LookupContext",
        "Observation",
        "Outcome",
        "Params",
        "Probe",
        "ProbeContext",
        "Provisioning",
        "Resources",
        "TargetSpec",
        "Verifiable",
        "WriteOutcome",
    ),
    "chaoskit._units": ("Duration", "DurationThreshold", "NumberThreshold", "Percentage", "Rate"),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "ChaoskitError",
    "Describable",
    "Duration",
    "DurationThreshold",
    "Expect",
    "ExperimentInvalid",
    "FaultContext",
    "FaultNotInForce",
    "Footprint",
    "Injector",
    "InjectorError",
    "JsonValue",
    "LoadContext",
    "LoadKind",
    "Lookup",
    "LookupContext",
    "NumberThreshold",
    "Observation",
    "Outcome",
    "Params",
    "Percentage",
    "PluginError",
    "Probe",
    "ProbeContext",
    "Provisioning",
    "Rate",
    "Resources",
    "RevertFailed",
    "RevertState",
    "TargetSpec",
    "UserError",
    "Verifiable",
    "WriteOutcome",
    "params_as",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'chaoskit' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*__all__, "__version__"]
