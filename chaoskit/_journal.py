"""The run journal: append-only JSON lines, written ahead.

Records that matter for safety (a fault's intent with its revert state, its
application, its revert, the end of the run) are flushed and fsync'd before
the call returns; the rest (samples, phases) are flushed to the OS only.
Secrets never reach the file: each value that came from ``${env:NAME}`` is
written back as ``${env:NAME}`` (see ``Secrets.placeholders``).

Every record is a typed event (``chaoskit._events``); readers get them back
typed, migrated from an older journal version (or refused when newer).
Readers skip a *torn* line (a writer killed mid-write: see :func:`scan_journal`);
a writer that opens a journal ending mid-line starts on a fresh line.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import ValidationError

from chaoskit._errors import UserError
from chaoskit._events import (
    JOURNAL_VERSION,
    Event,
    EventBase,
    migrate,
    parse_event,
    parse_event_json,
    problem_of,
)
from chaoskit._secrets import Secrets

__all__ = [
    "JOURNAL_NAME",
    "Journal",
    "JournalProblem",
    "JournalScan",
    "Malformed",
    "read_journal",
    "scan_journal",
]

JOURNAL_NAME = "journal.jsonl"
E = TypeVar("E", bound=EventBase)


class Journal:
    """Writes one run's journal. ``t`` in every record is seconds since ``origin``
    on the monotonic clock; ``wall`` is the wall-clock time beside it."""

    def __init__(self, path: Path, secrets: Secrets, origin: float) -> None:
        self.path = path
        self._secrets = secrets
        self._origin = origin
        self._seq = 0
        torn_tail = _ends_mid_line(path)
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        if torn_tail:
            # A writer died mid-line (kill -9 of a run or a rollback). Start on a fresh
            # line, so that our first record is not glued to the torn fragment.
            self._file.write("\n")

    def now(self) -> float:
        return time.monotonic() - self._origin

    def append(self, event: E, *, durable: bool = False, t: float | None = None) -> E:
        """Write ``event`` stamped with its ``seq``, ``t`` (now unless given) and
        ``wall``, each secret as its ``${env:NAME}``; returns the event as written."""
        self._seq += 1
        head = {
            "seq": self._seq,
            "event": event.event,
            "t": round(self.now() if t is None else t, 6),
            "wall": round(time.time(), 6),
        }
        body = event.model_dump(mode="json", exclude={"seq", "event", "t", "wall"})
        if self._secrets.names:
            body = self._secrets.placeholders(body)
            stored = type(event).model_validate({**body, **head})
        else:
            stored = event.model_copy(update=head)
        self._file.write(json.dumps({**head, **body}, separators=(",", ":")) + "\n")
        self._file.flush()
        if durable:
            os.fsync(self._file.fileno())
        return stored

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


def _ends_mid_line(path: Path) -> bool:
    try:
        with open(path, "rb") as existing:
            existing.seek(0, os.SEEK_END)
            if existing.tell() == 0:
                return False
            existing.seek(-1, os.SEEK_END)
            return existing.read(1) != b"\n"
    except FileNotFoundError:
        return False


@dataclass(frozen=True)
class JournalProblem:
    """A line of the journal that is not a complete record."""

    line: int
    torn: bool
    """True: the torn tail of a writer that died mid-write (the last line, or the
    line just before a ``rollback_started``). Nothing was done after a record that
    never reached the disk whole, so it is harmless. False: a corrupt line."""
    excerpt: str

    def describe(self, path: Path) -> str:
        if self.torn:
            return (
                f"{path}:{self.line}: incomplete record (a crash mid-write) ignored: "
                f"{self.excerpt!r}"
            )
        return f"{path}:{self.line}: corrupt journal line skipped: {self.excerpt!r}"


@dataclass(frozen=True)
class Malformed:
    """A complete JSON record that is not an event of this journal version (an
    edited journal, a field a plugin upgrade renamed …)."""

    line: int
    record: dict[str, Any]
    error: str

    def describe(self, path: Path) -> str:
        return f"{path}:{self.line}: not a journal event: {self.error}"


@dataclass
class JournalScan:
    records: list[dict[str, Any]] = field(default_factory=list)
    """Every complete JSON record, as written."""
    items: list[Event | Malformed] = field(default_factory=list)
    """Each record as an event (migrated to the current journal version) or as
    Malformed, in journal order."""
    problems: list[JournalProblem] = field(default_factory=list)
    version: int = JOURNAL_VERSION

    @property
    def events(self) -> list[Event]:
        return [item for item in self.items if not isinstance(item, Malformed)]

    @property
    def malformed(self) -> list[Malformed]:
        return [item for item in self.items if isinstance(item, Malformed)]

    @property
    def corrupt(self) -> list[JournalProblem]:
        return [problem for problem in self.problems if not problem.torn]


def scan_journal(
    path: Path, into: Callable[[Event | Malformed], None] | None = None
) -> JournalScan:
    """Every complete record, and every line that is not one.

    A line is *torn* (see :class:`JournalProblem`) when it is the last line or is
    followed by a ``rollback_started`` record: every writer but the first is a
    rollback, and each begins on a fresh line. A torn fragment that an older
    rollback appended to directly (``{"seq":7,"ev{"seq":1,...}``) is split: the
    complete record after the fragment is kept.

    With ``into``, each item is handed to it in journal order and neither the
    records nor the items are kept: a journal of any length is read in bounded
    memory (``chaoskit results`` on an hour of samples).
    """
    try:
        handle = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise UserError(f"{path}: no journal here (expected a run directory)") from None
    scan = JournalScan()
    with handle:
        scan.version = _version(path, _run_started(handle))
        handle.seek(0)
        keep = into if into is not None else scan.items.append
        # streaming a journal of the current version: a line that is an event is
        # validated straight from its JSON (twice as fast); any other line, and
        # every line of an older journal, goes the long way below
        fast = into is not None and scan.version == JOURNAL_VERSION
        pending: tuple[int, str] | None = None
        """An unreadable line: torn or corrupt, as the line after it tells."""
        number = 0
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            event = _event_of(line) if fast else None
            if event is not None:
                if pending is not None:
                    torn = pending[0] == number - 1 and event.event == "rollback_started"
                    scan.problems.append(JournalProblem(pending[0], torn, _excerpt(pending[1])))
                    pending = None
                keep(event)
                continue
            record = _parse(line)
            glued = 0
            if record is None:
                glued = line.rfind('{"seq":', 1)
                record = _parse(line[glued:]) if glued > 0 else None
            if record is None:
                if pending is not None:
                    scan.problems.append(JournalProblem(pending[0], False, _excerpt(pending[1])))
                pending = (number, line)
                continue
            starts_rollback = record.get("event") == "rollback_started"
            if pending is not None:
                torn = glued == 0 and pending[0] == number - 1 and starts_rollback
                scan.problems.append(JournalProblem(pending[0], torn, _excerpt(pending[1])))
                pending = None
            if glued:
                scan.problems.append(
                    JournalProblem(number, starts_rollback, _excerpt(line[:glued]))
                )
            if into is None:
                scan.records.append(record)
            keep(_item(number, record, scan.version))
        if pending is not None:
            scan.problems.append(
                JournalProblem(pending[0], pending[0] == number, _excerpt(pending[1]))
            )
    scan.problems.sort(key=lambda problem: problem.line)
    return scan


def _item(number: int, record: dict[str, Any], version: int) -> Event | Malformed:
    try:
        return parse_event(migrate(record, version))
    except ValidationError as exc:
        return Malformed(number, record, problem_of(exc, record))


def _run_started(lines: Iterable[str]) -> dict[str, Any]:
    """The first run_started record (the first line, in a journal chaoskit wrote)."""
    for line in lines:
        record = _parse(line.strip()) if '"run_started"' in line else None
        if record is not None and record.get("event") == "run_started":
            return record
    return {}


def _version(path: Path, started: dict[str, Any]) -> int:
    """The journal version its run wrote (1: before it was recorded); UserError
    for a version this chaoskit does not know."""
    version = started.get("journal_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UserError(f"{path}: journal_version {version!r} is not a journal version")
    if version > JOURNAL_VERSION:
        raise UserError(
            f"{path}: journal version {version} is newer than this chaoskit reads "
            f"(up to {JOURNAL_VERSION}): use the chaoskit that wrote it, or a newer one"
        )
    return version


def read_journal(path: Path) -> list[Event]:
    """Every event; torn lines (a crash mid-write) are skipped, a corrupt line
    or a record that is no event raises UserError (file:line and why)."""
    scan = scan_journal(path)
    if scan.corrupt:
        raise UserError(f"{path}:{scan.corrupt[0].line}: corrupt journal line")
    if scan.malformed:
        raise UserError(scan.malformed[0].describe(path))
    return scan.events


def _event_of(line: str) -> Event | None:
    try:
        return parse_event_json(line)
    except ValidationError:
        return None


def _parse(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _excerpt(line: str, limit: int = 80) -> str:
    return line if len(line) <= limit else line[:limit] + "..."
