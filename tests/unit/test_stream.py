"""The event stream: journal first, then every subscriber, in journal order —
also for an event a subscriber emits while another is being handed out."""

from __future__ import annotations

import time
from pathlib import Path

from chaoskit._events import Aborted, Event, PhaseChanged, SafeguardTripped
from chaoskit._journal import Journal, read_journal
from chaoskit._phases import Phase
from chaoskit._secrets import Secrets
from chaoskit._stream import EventStream


def test_every_subscriber_sees_the_journal_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl", Secrets(), time.monotonic())
    stream = EventStream(journal)
    first: list[int] = []
    last: list[int] = []

    def trips(event: Event) -> None:  # a safeguard: emits while the phase is handed out
        first.append(event.seq)
        if isinstance(event, PhaseChanged):
            stream.emit(SafeguardTripped(probe="p", failing_for=1.0))
            stream.emit(Aborted(reason="safeguard"))

    stream.subscribe(trips)
    stream.subscribe(lambda event: last.append(event.seq))
    stored = stream.emit(PhaseChanged(phase=Phase.FAULTS, iteration=1))
    stream.emit(PhaseChanged(phase=Phase.RECOVERY, iteration=1))
    journal.close()
    assert stored.seq == 1
    assert first == last == [1, 2, 3, 4, 5, 6]
    assert [e.seq for e in read_journal(journal.path)] == [1, 2, 3, 4, 5, 6]
