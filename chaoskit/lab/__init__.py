"""The lab: a small system under test with known ground truth (docs/lab.md).

``ledger`` (HTTP, writes to PostgreSQL through Toxiproxy with a bounded pool) and ``catalog``
(its neighbour), PostgreSQL and Toxiproxy, run as local processes or as a Compose stack.
:func:`up` is idempotent and waits for health; :func:`down` takes down only what :func:`up`
started. Blocking calls: async callers run them in a worker thread.
"""

from __future__ import annotations

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
