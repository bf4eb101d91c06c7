"""Reading a journal that a crash left damaged: which lines are torn tails
(harmless, skipped with a note) and which are corrupt (reported)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from chaoskit._errors import UserError
from chaoskit._events import RollbackStarted
from chaoskit._journal import Journal, read_journal, scan_journal
from chaoskit._secrets import Secrets

# the fields each event of these tests needs, beside seq, event, t and wall
FIELDS: dict[str, dict[str, object]] = {
    "run_started": {
        "run_id": "r1",
        "source": "/x.yaml",
        "title": "t",
        "experiment": {},
        "chaoskit_version": "0",
        "pid": 1,
        "started_at": "2026-01-01T00:00:00Z",
    },
    "phase": {"phase": "baseline"},
    "rollback_started": {"outstanding": 0, "pid": 1},
    "fault_reverted": {"fault": "f", "iteration": 1, "attempts": 1},
}


def record(seq: int, event: str) -> str:
    fields = {"seq": seq, "event": event, "t": 0.0, "wall": 1.0, **FIELDS[event]}
    return json.dumps(fields, separators=(",", ":"))


def write(path: Path, *lines: str, tail: str = "") -> Path:
    path.write_text("".join(line + "\n" for line in lines) + tail)
    return path


def test_a_whole_journal_has_no_problems(tmp_path: Path) -> None:
    path = write(tmp_path / "j", record(1, "run_started"), record(2, "phase"))
    scan = scan_journal(path)
    assert [r["event"] for r in scan.records] == ["run_started", "phase"]
    assert scan.problems == []


def test_a_torn_last_line_is_torn(tmp_path: Path) -> None:
    path = write(tmp_path / "j", record(1, "run_started"), tail='{"seq":2,"event":"sam')
    scan = scan_journal(path)
    assert len(scan.records) == 1
    [problem] = scan.problems
    assert (problem.line, problem.torn, problem.excerpt) == (2, True, '{"seq":2,"event":"sam')
    assert [e.event for e in read_journal(path)] == [r["event"] for r in scan.records]


def test_a_torn_tail_of_invalid_utf8_is_torn(tmp_path: Path) -> None:
    path = tmp_path / "j"
    path.write_bytes((record(1, "run_started") + "\n").encode() + b'{"seq":2,"detail":"\xc3')
    [problem] = scan_journal(path).problems
    assert problem.torn


def test_a_line_before_a_rollback_is_torn(tmp_path: Path) -> None:
    path = write(
        tmp_path / "j",
        record(1, "run_started"),
        '{"seq":2,"event":"sam',
        record(1, "rollback_started"),
        record(2, "fault_reverted"),
    )
    scan = scan_journal(path)
    assert [r["event"] for r in scan.records] == [
        "run_started",
        "rollback_started",
        "fault_reverted",
    ]
    [problem] = scan.problems
    assert (problem.line, problem.torn) == (2, True)


def test_a_fragment_glued_to_a_rollback_record_is_split(tmp_path: Path) -> None:
    glued = '{"seq":2,"event":"sam' + record(1, "rollback_started")
    path = write(tmp_path / "j", record(1, "run_started"), glued)
    scan = scan_journal(path)
    assert [r["event"] for r in scan.records] == ["run_started", "rollback_started"]
    [problem] = scan.problems
    assert (problem.line, problem.torn, problem.excerpt) == (2, True, '{"seq":2,"event":"sam')


def test_a_bad_line_in_the_middle_is_corrupt(tmp_path: Path) -> None:
    path = write(
        tmp_path / "j", record(1, "run_started"), "#### disk error", "[1, 2]", record(4, "phase")
    )
    scan = scan_journal(path)
    assert [r["event"] for r in scan.records] == ["run_started", "phase"]
    assert [(p.line, p.torn) for p in scan.problems] == [(2, False), (3, False)]
    assert [p.line for p in scan.corrupt] == [2, 3]
    assert "corrupt journal line skipped: '#### disk error'" in scan.problems[0].describe(path)
    with pytest.raises(UserError, match=":2: corrupt journal line"):
        read_journal(path)


def test_a_journal_appended_after_a_torn_tail_starts_on_a_fresh_line(tmp_path: Path) -> None:
    path = write(tmp_path / "j", record(1, "run_started"), tail='{"seq":2,"event":"sam')
    journal = Journal(path, Secrets(), time.monotonic())
    journal.append(RollbackStarted(outstanding=0, pid=1))
    journal.close()
    lines = path.read_text().splitlines()
    assert lines[1] == '{"seq":2,"event":"sam'
    assert json.loads(lines[2])["event"] == "rollback_started"
    assert [p.torn for p in scan_journal(path).problems] == [True]


def test_a_journal_appended_after_a_whole_line_adds_no_blank_line(tmp_path: Path) -> None:
    path = write(tmp_path / "j", record(1, "run_started"))
    journal = Journal(path, Secrets(), time.monotonic())
    journal.append(RollbackStarted(outstanding=0, pid=1))
    journal.close()
    assert len(path.read_text().splitlines()) == 2
