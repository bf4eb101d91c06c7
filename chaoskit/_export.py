"""``chaoskit export RUN_DIR``: the run's timeline as CSV, for spreadsheets and
plotting — every probe sample (resource probes such as ``process.rss`` or
``docker.memory`` give resource usage over time) and every fault event."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from chaoskit._journal import JOURNAL_NAME, read_journal

__all__ = ["timeline_csv"]

_FAULT_EVENTS = {"fault_injected", "fault_reverted", "fault_inject_failed", "fault_revert_failed"}
COLUMNS = ("t", "wall", "kind", "name", "phase", "ok", "value", "latency", "detail")


def timeline_csv(run_dir: Path) -> str:
    """One row per sample, phase change and fault event, in journal order."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    phase = ""
    for record in read_journal(run_dir / JOURNAL_NAME):
        event = record.get("event")
        if event == "phase":
            phase = str(record.get("phase", ""))
            writer.writerow([record["t"], record["wall"], "phase", phase, phase, "", "", "", ""])
        elif event == "sample":
            value = record.get("value")
            writer.writerow(
                [
                    record["t"],
                    record["wall"],
                    f"sample:{record.get('role', '')}",
                    record.get("probe", ""),
                    phase,
                    record.get("ok"),
                    value
                    if isinstance(value, int | float | str) or value is None
                    else json.dumps(value),
                    record.get("latency", ""),
                    record.get("detail", ""),
                ]
            )
        elif event in _FAULT_EVENTS:
            writer.writerow(
                [record["t"], record["wall"], event, record.get("fault", ""), phase,
                 "", "", "", record.get("error", "")]
            )  # fmt: skip
    return out.getvalue()
