"""The write ledger: every write attempt of a stream, with its id and what its
client learnt (acknowledged / failed / indeterminate).

Records go to ``writes-<stream>.tsv`` in the run directory as they happen
(buffered; a long run does not hold them in memory); the counts stay in
memory. The audit reads the file back in batches.

One line per write, four tab-separated fields, the id last::

    a<TAB>12.345678<TAB>201<TAB>run-transfers-17

outcome (``a`` acknowledged, ``f`` failed, ``i`` indeterminate), the run-relative
time the request was sent, the HTTP status or ``-``, and the id as it was sent.
An id holding a character that would break the line (``\\n``, ``\\r``) or that
starts with ``"`` is written as a JSON string instead. Plain text, because a
run of a million writes is read back at the end of every run: a split per line
costs a fraction of a JSON parse.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

from chaoskit._errors import ChaoskitError
from chaoskit._plugin_api import WriteOutcome

__all__ = ["LEDGER_SUFFIX", "LedgerBatch", "WriteLedger"]

LEDGER_SUFFIX = ".tsv"
_CODES: dict[WriteOutcome, str] = {"acknowledged": "a", "failed": "f", "indeterminate": "i"}
_OUTCOMES: dict[str, WriteOutcome] = {code: outcome for outcome, code in _CODES.items()}


class LedgerBatch(NamedTuple):
    """Consecutive records, as two parallel lists."""

    ids: list[str]
    outcomes: list[WriteOutcome]


class WriteLedger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts: Counter[str] = Counter()
        self._file: IO[str] = open(path, "w", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115

    def record(self, write_id: str, outcome: WriteOutcome, t: float, status: int | None) -> None:
        self.counts[outcome] += 1
        if write_id.startswith('"') or "\n" in write_id or "\r" in write_id:
            write_id = json.dumps(write_id)
        status_field = "-" if status is None else status
        self._file.write(f"{_CODES[outcome]}\t{t:.6f}\t{status_field}\t{write_id}\n")

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def batches(self, size: int) -> Iterator[LedgerBatch]:
        """Every record, in batches of ``size`` (the ledger is closed first)."""
        self.close()
        ids: list[str] = []
        outcomes: list[WriteOutcome] = []
        with self.path.open(encoding="utf-8", newline="\n") as lines:
            for number, line in enumerate(lines, start=1):
                try:
                    code, _, _, write_id = line.rstrip("\n").split("\t", 3)
                    outcome = _OUTCOMES[code]
                    if write_id.startswith('"'):
                        write_id = json.loads(write_id)
                except (ValueError, KeyError):
                    raise ChaoskitError(
                        f"{self.path}:{number}: not a write record: {line[:200]!r}"
                    ) from None
                ids.append(write_id)
                outcomes.append(outcome)
                if len(ids) >= size:
                    yield LedgerBatch(ids, outcomes)
                    ids, outcomes = [], []
        if ids:
            yield LedgerBatch(ids, outcomes)
