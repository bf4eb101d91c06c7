"""The run journal: append-only JSON lines, written ahead.

Records that matter for safety (a fault's intent with its revert state, its
application, its revert, the end of the run) are flushed and fsync'd before
the call returns; the rest (samples, phases) are flushed to the OS only.
Secrets never reach the file: each value that came from ``${env:NAME}`` is
written back as ``${env:NAME}`` (see ``Secrets.placeholders``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any

from chaoskit._errors import UserError
from chaoskit._secrets import Secrets

__all__ = ["JOURNAL_NAME", "Journal", "read_journal"]

JOURNAL_NAME = "journal.jsonl"


class Journal:
    """Writes one run's journal. ``t`` in every record is seconds since ``origin``
    on the monotonic clock; ``wall`` is the wall-clock time beside it."""

    def __init__(self, path: Path, secrets: Secrets, origin: float) -> None:
        self.path = path
        self._secrets = secrets
        self._origin = origin
        self._seq = 0
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def now(self) -> float:
        return time.monotonic() - self._origin

    def write(self, event: str, *, durable: bool = False, **fields: Any) -> dict[str, Any]:
        self._seq += 1
        record: dict[str, Any] = {
            "seq": self._seq,
            "event": event,
            "t": round(fields.pop("t", self.now()), 6),
            "wall": round(time.time(), 6),
        }
        record.update(self._secrets.placeholders(fields))
        self._file.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
        self._file.flush()
        if durable:
            os.fsync(self._file.fileno())
        return record

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every complete record; a torn last line (a crash mid-write) is skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no journal here (expected a run directory)") from None
    records = []
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # torn tail of a crashed run
            raise UserError(f"{path}:{number}: corrupt journal line") from None
    return records
