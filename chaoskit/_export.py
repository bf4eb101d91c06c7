"""``chaoskit export RUN_DIR``: the run's timeline as CSV, for spreadsheets and
plotting — every probe sample (resource probes such as ``process.rss`` or
``docker.memory`` give resource usage over time) and every fault event."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from chaoskit._events import (
    FaultInjected,
    FaultInjectFailed,
    FaultReverted,
    FaultRevertFailed,
    PhaseChanged,
    SampleTaken,
)
from chaoskit._journal import JOURNAL_NAME, read_journal

__all__ = ["timeline_csv"]

_FAULT_EVENTS = (FaultInjected, FaultReverted, FaultInjectFailed, FaultRevertFailed)
COLUMNS = ("t", "wall", "kind", "name", "phase", "ok", "value", "latency", "detail")


def timeline_csv(run_dir: Path) -> str:
    """One row per sample, phase change and fault event, in journal order."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    phase = ""
    for event in read_journal(run_dir / JOURNAL_NAME):
        if isinstance(event, PhaseChanged):
            phase = str(event.phase)
            writer.writerow([event.t, event.wall, "phase", phase, phase, "", "", "", ""])
        elif isinstance(event, SampleTaken):
            value = event.value
            writer.writerow(
                [
                    event.t,
                    event.wall,
                    f"sample:{event.role}",
                    event.probe,
                    phase,
                    event.ok,
                    value
                    if isinstance(value, int | float | str) or value is None
                    else json.dumps(value),
                    event.latency,
                    event.detail,
                ]
            )
        elif isinstance(event, _FAULT_EVENTS):
            error = event.error if isinstance(event, FaultInjectFailed | FaultRevertFailed) else ""
            writer.writerow(
                [event.t, event.wall, event.event, event.fault, phase, "", "", "", error]
            )
    return out.getvalue()
