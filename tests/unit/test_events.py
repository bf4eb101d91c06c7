"""The typed journal: every event survives the round trip through the file, a
version-1 journal (before the typed stream) is read and migrated, a newer one is
refused, and a record that is JSON but no event is reported with what is wrong."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from chaoskit._errors import UserError
from chaoskit._events import (
    EVENTS,
    JOURNAL_VERSION,
    ControlApplied,
    FaultIntent,
    PhaseChanged,
    RunStarted,
    SampleTaken,
)
from chaoskit._journal import Journal, read_journal, scan_journal
from chaoskit._phases import Phase
from chaoskit._secrets import Secrets


def write_lines(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def v1_records() -> list[dict[str, Any]]:
    """What chaoskit wrote before journal_version (samples had no segment)."""
    return [
        {"seq": 1, "event": "run_started", "t": 0.0, "wall": 1.0, "run_id": "r", "source": "/x",
         "title": "t", "experiment": {"version": 1}, "chaoskit_version": "0.1.0", "pid": 7,
         "started_at": "2026-12-01T00:00:00.000+00:00"},
        {"seq": 2, "event": "phase", "t": 0.1, "wall": 1.1, "phase": "baseline"},
        {"seq": 3, "event": "sample", "t": 0.2, "wall": 1.2, "role": "steady", "probe": "web",
         "scope": "target", "ok": True, "latency": 0.01, "value": 200, "detail": ""},
        {"seq": 4, "event": "fault_intent", "t": 0.3, "wall": 1.3, "fault": "slow",
         "iteration": 1, "injector": "toxiproxy.latency", "target_name": "web",
         "target": {"kind": "toxiproxy.proxy"}, "params": {}, "revert_state": None},
    ]  # fmt: skip


def test_a_version_1_journal_is_read_as_typed_events(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "journal.jsonl", v1_records())
    events = read_journal(path)
    assert [type(e) for e in events] == [RunStarted, PhaseChanged, SampleTaken, FaultIntent]
    started, phase, sample, intent = events
    assert isinstance(started, RunStarted)
    assert started.journal_version == JOURNAL_VERSION
    assert isinstance(phase, PhaseChanged)
    assert phase.phase is Phase.BASELINE
    assert isinstance(sample, SampleTaken)
    assert sample.segment == ""
    assert isinstance(intent, FaultIntent)
    assert intent.setup is False
    assert scan_journal(path).version == 1


def test_a_journal_from_a_newer_chaoskit_is_refused(tmp_path: Path) -> None:
    records = v1_records()
    records[0]["journal_version"] = JOURNAL_VERSION + 1
    path = write_lines(tmp_path / "journal.jsonl", records)
    with pytest.raises(UserError, match=f"journal version {JOURNAL_VERSION + 1} is newer"):
        read_journal(path)


@pytest.mark.parametrize("version", ["2", 0, True, None])
def test_a_journal_version_that_is_no_version_is_refused(tmp_path: Path, version: object) -> None:
    records = v1_records()
    records[0]["journal_version"] = version
    path = write_lines(tmp_path / "journal.jsonl", records)
    with pytest.raises(UserError, match="is not a journal version"):
        read_journal(path)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda r: r.pop("target"), "the fault_intent record has no 'target'"),
        (lambda r: r.update(event="fault_teleported"), "unknown event 'fault_teleported'"),
        (lambda r: r.update(iteration="first"), "iteration: Input should be a valid integer"),
        (lambda r: r.update(colour="red"), "colour: Extra inputs are not permitted"),
    ],
)
def test_a_record_that_is_no_event_says_where_and_what(
    tmp_path: Path, change: Any, problem: str
) -> None:
    records = v1_records()
    change(records[3])
    path = write_lines(tmp_path / "journal.jsonl", records)
    scan = scan_journal(path)
    assert [m.line for m in scan.malformed] == [4]
    assert len(scan.events) == 3
    with pytest.raises(UserError) as raised:
        read_journal(path)
    assert str(raised.value).startswith(f"{path}:4: not a journal event: ")
    assert problem in str(raised.value)


def test_events_come_back_from_the_journal_as_they_were_appended(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl", Secrets(), time.monotonic())
    appended = [
        journal.append(PhaseChanged(phase=Phase.FAULTS, iteration=2), durable=True),
        journal.append(ControlApplied(action="extend", by="f", step="slow", seconds=1.5)),
        journal.append(SampleTaken(role="steady", probe="p", scope="outside", ok=False,
                                   latency=0.2, value={"a": [1]}, detail="x", segment="lead-in")),
    ]  # fmt: skip
    journal.close()
    assert read_journal(journal.path) == appended
    assert [e.seq for e in appended] == [1, 2, 3]


def test_every_event_name_is_known_to_the_union() -> None:
    assert {
        "run_started",
        "control",
        "fault_started",
        "sample",
        "rollback_finished",
        "load_window",
    } <= EVENTS
    assert len(EVENTS) == 27
