"""The lab: a small system under test with known ground truth (docs/lab.md).

``ledger`` (HTTP, writes to PostgreSQL through Toxiproxy with a bounded pool) and ``catalog``
(its neighbour), PostgreSQL and Toxiproxy, run as local processes or as a Compose stack.
:func:`up` is idempotent and waits for health; :func:`down` takes down only what :func:`up`
started. Blocking calls: async callers run them in a worker thread.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaoskit.lab.config import LabConfig, LabPorts, load_config
    from chaoskit.lab.core import (
        RUNTIMES,
        LabStatus,
        ServiceStatus,
        UpResult,
        default_runtime,
        down,
        status,
        up,
    )
    from chaoskit.lab.errors import LabError, LabUsageError
    from chaoskit.lab.health import PROXIES, SERVICES
    from chaoskit.lab.knobs import KNOBS, Knob, parse_settings

# Resolved lazily (PEP 562): `chaoskit --help` builds the `lab` subcommand's parser
# without importing the runtimes, their HTTP health checks and subprocess machinery.
_HOMES = {
    "chaoskit.lab.config": ("LabConfig", "LabPorts", "load_config"),
    "chaoskit.lab.core": (
        "RUNTIMES",
        "LabStatus",
        "ServiceStatus",
        "UpResult",
        "default_runtime",
        "down",
        "status",
        "up",
    ),
    "chaoskit.lab.errors": ("LabError", "LabUsageError"),
    "chaoskit.lab.health": ("PROXIES", "SERVICES"),
    "chaoskit.lab.knobs": ("KNOBS", "Knob", "parse_settings"),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'chaoskit.lab' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "KNOBS",
    "PROXIES",
    "RUNTIMES",
    "SERVICES",
    "Knob",
    "LabConfig",
    "LabError",
    "LabPorts",
    "LabStatus",
    "LabUsageError",
    "ServiceStatus",
    "UpResult",
    "default_runtime",
    "down",
    "load_config",
    "parse_settings",
    "status",
    "up",
]
