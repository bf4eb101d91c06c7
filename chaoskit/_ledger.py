"""The write ledger: every write attempt of a stream, with its id and what its
client learnt (acknowledged / failed / indeterminate).

Records go to ``writes-<stream>.jsonl`` in the run directory as they happen
(buffered; a long run does not hold them in memory); the counts stay in
memory. The audit reads the file back in batches.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from chaoskit._plugin_api import WriteOutcome

__all__ = ["WriteLedger", "WriteRecord"]

_CODES: dict[WriteOutcome, str] = {"acknowledged": "a", "failed": "f", "indeterminate": "i"}
_OUTCOMES: dict[str, WriteOutcome] = {code: outcome for outcome, code in _CODES.items()}

WriteRecord = tuple[str, WriteOutcome]


class WriteLedger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts: Counter[str] = Counter()
        self._file: IO[str] = open(path, "w", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115

    def record(self, write_id: str, outcome: WriteOutcome, t: float, status: int | None) -> None:
        self.counts[outcome] += 1
        self._file.write(
            json.dumps({"id": write_id, "o": _CODES[outcome], "t": round(t, 6), "s": status}) + "\n"
        )

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def batches(self, size: int) -> Iterator[list[WriteRecord]]:
        """Every record, in batches of ``size`` (the ledger is closed first)."""
        self.close()
        batch: list[WriteRecord] = []
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                batch.append((record["id"], _OUTCOMES[record["o"]]))
                if len(batch) >= size:
                    yield batch
                    batch = []
        if batch:
            yield batch
