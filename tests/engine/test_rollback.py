"""``chaoskit rollback`` through the real CLI with the ``fake.flag`` test plugin
(a flag file per applied fault): a fault that cannot be rebuilt does not stop the
others, each fault says whether it was still in force, torn and corrupt journal
lines, and one rollback of a run at a time."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaoskit_cli import journal_events, run_chaoskit, start_chaoskit

Record = dict[str, Any]


def write_experiment(tmp_path: Path, faults: list[Record]) -> Path:
    flags = tmp_path / "flags"
    flags.mkdir(exist_ok=True)
    document = {
        "version": 1,
        "title": "rollback test",
        "targets": {"flags": {"kind": "fake.dir", "path": str(flags)}},
        "steady_state": {
            "every": "100ms",
            "stable_for": "200ms",
            "baseline": "200ms",
            "probes": [{"name": "always-ok", "command": {"argv": ["true"]}}],
        },
        "faults": faults,
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def flag_fault(name: str, at: str = "0s", **params: Any) -> Record:
    fault: Record = {
        "name": name,
        "injector": "fake.flag",
        "target": "flags",
        "at": at,
        "duration": "60s",
    }
    if params:
        fault["with"] = params
    return fault


def applied_flags(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "flags").iterdir() if not p.name.endswith("attempts"))


def crashed_run(tmp_path: Path, faults: list[Record], env: dict[str, str] | None = None) -> Path:
    """Run the faults, ``kill -9`` the runner once every one is injected, and
    return the run directory it left. With ``env``, the flags directory is given
    as ``${env:CK_ROLLBACK_SECRET_DIR}`` (a secret, for the journal)."""
    path = write_experiment(tmp_path, faults)
    if env:
        flags = str(tmp_path / "flags")
        path.write_text(path.read_text().replace(flags, "${env:CK_ROLLBACK_SECRET_DIR}"))
    run = start_chaoskit(["run", str(path)], tmp_path, env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run_dir = run.run_dir()
        events = journal_events(run_dir) if run_dir else []
        if sum(e["event"] == "fault_injected" for e in events) == len(faults):
            break
        assert run.process.poll() is None, run.finish()
        time.sleep(0.05)
    else:
        raise AssertionError("the faults were not all injected within 30s")
    run.send(signal.SIGKILL)
    run.finish()
    assert run_dir is not None
    assert len(applied_flags(tmp_path)) == len(faults)
    return run_dir


def edit_journal(run_dir: Path, fault: str, edit: Callable[[Record, Record], None]) -> None:
    """Apply ``edit(intent, injected)`` to one fault's records, as a person with
    an editor (or a plugin upgrade that changes what those records mean) would."""
    path = run_dir / "journal.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    [intent] = [r for r in records if r["event"] == "fault_intent" and r["fault"] == fault]
    [injected] = [r for r in records if r["event"] == "fault_injected" and r["fault"] == fault]
    edit(intent, injected)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def rollback_faults(run_dir: Path) -> dict[str, Record]:
    return {e["fault"]: e for e in journal_events(run_dir) if e["event"] == "rollback_fault"}


def line_of(out: str, status: str, fault: str) -> str:
    [line] = [ln for ln in out.splitlines() if ln.startswith(f"{status:<9} {fault} ")]
    return line


def _set(*path: str, value: Any) -> Callable[[Record, Record], None]:
    def edit(intent: Record, injected: Record) -> None:
        record = injected if path[0] == "injected" else intent
        for key in path[1:-1]:
            record = record[key]
        record[path[-1]] = value

    return edit


def _drop_target(intent: Record, injected: Record) -> None:
    del intent["target"]


BREAKAGES = {
    # the plugin was upgraded after the crash: the journaled params no longer validate
    "params no longer validate": (
        _set("intent", "params", value={"renamed_knob": 1}),
        "params.renamed_knob: Extra inputs are not permitted (installed: chaoskit-testplugin",
    ),
    "unknown injector": (
        _set("intent", "injector", value="fake.gone"),
        "unknown injector 'fake.gone'; installed: ",
    ),
    "unknown target kind": (
        _set("intent", "target", "kind", value="fake.gone"),
        "unknown target kind 'fake.gone'; installed: ",
    ),
    "target no longer validates": (
        _set("intent", "target", "path", value=["not", "a", "path"]),
        "target.path: Input should be a valid string",
    ),
    "missing key": (_drop_target, "the fault_intent record has no 'target'"),
    "missing variable": (
        _set("intent", "target", "path", value="${env:CK_ROLLBACK_TEST_UNSET}"),
        "environment variable CK_ROLLBACK_TEST_UNSET is not set",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_fault_that_cannot_be_rebuilt_is_reported_and_the_others_are_reverted(
    tmp_path: Path, breakage: str
) -> None:
    edit, reason = BREAKAGES[breakage]
    faults = [flag_fault("first"), flag_fault("broken", "100ms"), flag_fault("last", "200ms")]
    run_dir = crashed_run(tmp_path, faults)
    [broken_flag] = [f for f in applied_flags(tmp_path) if f.endswith("-broken")]
    edit_journal(run_dir, "broken", edit)

    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)

    assert code == 4, out + err
    assert "Traceback" not in err
    assert applied_flags(tmp_path) == [broken_flag]  # the good ones, before and after it
    assert "was in force; reverted" in line_of(out, "reverted", "first")
    assert "was in force; reverted" in line_of(out, "reverted", "last")
    failed = line_of(out, "FAILED", "broken")
    assert "cannot be rebuilt from the journal: " + reason in failed
    assert "undo by hand: injector " in failed
    assert "revert state {" in failed
    assert broken_flag in failed
    assert "1 of 3 faults may still be applied" in out
    report = rollback_faults(run_dir)
    assert report["broken"]["outcome"] == "unrebuildable"
    assert report["broken"]["undo"]["revert_state"]["flag"].endswith(broken_flag)
    assert report["first"]["outcome"] == report["last"]["outcome"] == "reverted"
    [finished] = [e for e in journal_events(run_dir) if e["event"] == "rollback_finished"]
    assert finished["reverted"] == ["last", "first"]  # newest first
    # still outstanding: a second rollback reports it again, and only it
    code, out, _ = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert code == 4
    assert [ln.split()[:2] for ln in out.splitlines()[:-1]] == [["FAILED", "broken"]]


def test_what_to_undo_by_hand_names_secrets_never_shows_them(tmp_path: Path) -> None:
    secret = str(tmp_path / "flags")
    env = {"CK_ROLLBACK_SECRET_DIR": secret}
    run_dir = crashed_run(tmp_path, [flag_fault("good"), flag_fault("broken", "100ms")], env)
    edit_journal(run_dir, "broken", _set("intent", "params", value={"renamed_knob": 1}))
    for args in (["rollback"], ["--verbose", "rollback"]):
        code, out, err = run_chaoskit([*args, str(run_dir)], tmp_path, env=env)
        assert code == 4, out + err
        assert secret not in out + err
        failed = line_of(out, "FAILED", "broken")
        assert '"path": "${env:CK_ROLLBACK_SECRET_DIR}"' in failed
        assert '"flag": "${env:CK_ROLLBACK_SECRET_DIR}/chaoskit-' in failed
    code, out, err = run_chaoskit(["rollback", "--json", str(run_dir)], tmp_path, env=env)
    assert secret not in out + err
    assert secret not in (run_dir / "journal.jsonl").read_text()
    assert [f for f in applied_flags(tmp_path) if f.endswith("-good")] == []


def test_a_revert_state_of_the_wrong_shape_fails_that_fault_only(tmp_path: Path) -> None:
    faults = [flag_fault("first"), flag_fault("broken", "100ms"), flag_fault("last", "200ms")]
    run_dir = crashed_run(tmp_path, faults)
    edit_journal(run_dir, "broken", _set("injected", "revert_state", value="garbage"))

    code, out, err = run_chaoskit(["rollback", str(run_dir), "--revert-attempts", "1"], tmp_path)

    assert code == 4, out + err
    assert "Traceback" not in err
    assert [f.rsplit("-", 1)[1] for f in applied_flags(tmp_path)] == ["broken"]
    failed = line_of(out, "FAILED", "broken")
    assert "state unknown (verify failed: AssertionError" in failed
    assert "revert FAILED after 1 attempt: AssertionError" in failed
    assert 'revert state "garbage"' in failed
    assert line_of(out, "reverted", "first")
    assert line_of(out, "reverted", "last")


def test_verbose_shows_why_a_fault_cannot_be_rebuilt_with_its_traceback(tmp_path: Path) -> None:
    run_dir = crashed_run(tmp_path, [flag_fault("broken")])
    edit_journal(run_dir, "broken", _set("intent", "params", value={"renamed_knob": 1}))
    code, out, err = run_chaoskit(["--verbose", "rollback", str(run_dir)], tmp_path)
    assert code == 4, out + err
    assert "Traceback" in err
    assert "ValidationError" in err


def test_a_fault_no_longer_in_force_is_reported_and_cleaned_up(tmp_path: Path) -> None:
    run_dir = crashed_run(tmp_path, [flag_fault("held"), flag_fault("gone", "100ms")])
    [gone_flag] = [tmp_path / "flags" / f for f in applied_flags(tmp_path) if f.endswith("-gone")]
    gone_flag.unlink()  # its effect went away on its own after the crash

    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)

    assert code == 0, out + err
    assert line_of(out, "reverted", "gone").endswith(
        "fake.flag on flags: was no longer in force (flag missing); cleaned up anyway"
    )
    assert line_of(out, "reverted", "held").endswith("fake.flag on flags: was in force; reverted")
    assert applied_flags(tmp_path) == []
    # the revert ran all the same (it is what cleans up leftovers)
    assert (gone_flag.parent / (gone_flag.name + ".revert-attempts")).read_text() == "1"
    report = rollback_faults(run_dir)
    assert (report["gone"]["before"], report["gone"]["before_detail"]) == (
        "not-in-force",
        "flag missing",
    )
    assert report["held"]["before"] == "in-force"


def test_json_report(tmp_path: Path) -> None:
    run_dir = crashed_run(tmp_path, [flag_fault("held"), flag_fault("gone", "100ms")])
    for flag in (tmp_path / "flags").glob("*-gone"):
        flag.unlink()
    code, out, err = run_chaoskit(["rollback", str(run_dir), "--json"], tmp_path)
    assert code == 0, out + err
    report = json.loads(out)
    assert report["exit_code"] == 0
    assert report["journal_problems"] == []
    by_name = {f["fault"]: f for f in report["faults"]}
    assert by_name["gone"]["before"] == "not-in-force"
    assert by_name["held"]["before"] == "in-force"
    assert {f["outcome"] for f in report["faults"]} == {"reverted"}
    assert {f["attempts"] for f in report["faults"]} == {1}


def test_a_torn_last_line_is_skipped_with_a_note(tmp_path: Path) -> None:
    run_dir = crashed_run(tmp_path, [flag_fault("flag")])
    journal = run_dir / "journal.jsonl"
    with journal.open("a") as out:  # the crash came in the middle of a record
        out.write('{"seq":99,"event":"sample","t":1.2,"wall":17000')
    lines = len(journal.read_text().splitlines())

    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)

    assert code == 0, out + err
    assert f"chaoskit: note: {journal}:{lines}: incomplete record" in err
    assert "reverted  flag" in out
    assert applied_flags(tmp_path) == []
    # rollback's records start on a line of their own, after the fragment ...
    text = journal.read_text().splitlines()
    assert text[lines - 1].endswith('"wall":17000')
    assert json.loads(text[lines])["event"] == "rollback_started"
    # ... so that the fragment, no longer the last line, is still known as torn
    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert code == 0, out + err
    assert "nothing to do" in out
    assert "incomplete record" in err
    assert "chaoskit: warning" not in err
    code, _, err = run_chaoskit(["export", str(run_dir)], tmp_path)
    assert code == 0, err


def test_a_torn_line_an_older_rollback_appended_to_is_split(tmp_path: Path) -> None:
    """Before rollbacks began on a fresh line, their first record was glued to the
    torn fragment: the record is recovered, the fragment is a torn tail."""
    run_dir = crashed_run(tmp_path, [flag_fault("flag")])
    journal = run_dir / "journal.jsonl"
    glued = (
        '{"seq":99,"event":"sam{"seq":1,"event":"rollback_started","t":0,"wall":1,"outstanding":1}'
    )
    with journal.open("a") as out:
        out.write(glued + "\n")
    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert code == 0, out + err
    assert "incomplete record" in err
    assert "reverted  flag" in out


def test_a_corrupt_line_in_the_middle_is_reported_and_the_rest_reverted(tmp_path: Path) -> None:
    run_dir = crashed_run(tmp_path, [flag_fault("flag")])
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text().splitlines()
    [number] = [i for i, ln in enumerate(lines) if '"event":"phase"' in ln][:1]
    lines[number] = "#### disk error ####"
    journal.write_text("\n".join(lines) + "\n")

    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)

    assert code == 4, out + err  # a fault recorded on that line would be invisible
    assert f"chaoskit: warning: {journal}:{number + 1}: corrupt journal line skipped" in err
    assert "check by hand" in err
    assert "reverted  flag" in out
    assert applied_flags(tmp_path) == []
    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert code == 4, out + err
    assert "no outstanding fault in the lines that could be read" in out


# --- one rollback of a run at a time ------------------------------------------------


def slow_rollback(tmp_path: Path) -> tuple[Path, Any]:
    """A crashed run whose revert fails 4 times before it succeeds (7.5s of
    backoff), and a rollback of it that holds the lock meanwhile."""
    run_dir = crashed_run(tmp_path, [flag_fault("flag", revert_failures=4)])
    first = start_chaoskit(["rollback", str(run_dir), "--revert-attempts", "5"], tmp_path)
    deadline = time.monotonic() + 30
    while not any(e["event"] == "rollback_started" for e in journal_events(run_dir)):
        assert time.monotonic() < deadline, "the first rollback did not start within 30s"
        assert first.process.poll() is None, first.finish()
        time.sleep(0.02)
    return run_dir, first


def revert_attempts(tmp_path: Path) -> int:
    [counter] = (tmp_path / "flags").glob("*.revert-attempts")
    return int(counter.read_text())


def test_a_second_rollback_does_not_wait_with_wait_0(tmp_path: Path) -> None:
    run_dir, first = slow_rollback(tmp_path)
    code, out, err = run_chaoskit(["rollback", str(run_dir), "--wait", "0"], tmp_path)
    assert code == 4, out + err
    assert f"another rollback of this run is in progress (pid {first.process.pid})" in err
    assert "nothing was reverted by this one" in err
    assert out == ""
    code, out, err = first.finish()
    assert code == 0, out + err
    assert "reverted  flag" in out
    assert revert_attempts(tmp_path) == 5  # the first one's attempts only
    assert applied_flags(tmp_path) == []
    started = [e for e in journal_events(run_dir) if e["event"] == "rollback_started"]
    assert [e["pid"] for e in started] == [first.process.pid]


def test_a_second_rollback_waits_for_the_first_then_finds_nothing_to_do(tmp_path: Path) -> None:
    run_dir, first = slow_rollback(tmp_path)
    code, out, err = run_chaoskit(["rollback", str(run_dir), "--wait", "60"], tmp_path)
    assert code == 0, out + err
    assert "another rollback of this run is in progress" in err  # said while it waited
    # it read the journal only once the first had finished with it
    assert "nothing to do" in out
    code, out, err = first.finish()
    assert code == 0, out + err
    assert revert_attempts(tmp_path) == 5
    assert applied_flags(tmp_path) == []


def test_a_rollback_gives_up_after_its_wait(tmp_path: Path) -> None:
    run_dir, first = slow_rollback(tmp_path)
    began = time.monotonic()
    code, _, err = run_chaoskit(["rollback", str(run_dir), "--wait", "0.5"], tmp_path)
    assert code == 4, err
    assert "waited 0.5s" in err
    assert time.monotonic() - began < 6  # well before the first one could have finished
    code, out, err = first.finish()
    assert code == 0, out + err
    assert revert_attempts(tmp_path) == 5


def test_a_killed_rollback_leaves_no_lock_behind(tmp_path: Path) -> None:
    run_dir, first = slow_rollback(tmp_path)
    first.send(signal.SIGKILL)
    first.finish()
    code, out, err = run_chaoskit(["rollback", str(run_dir), "--wait", "0"], tmp_path)
    assert code == 0, out + err
    assert "reverted  flag" in out
    assert applied_flags(tmp_path) == []


def test_an_interrupted_rollback_exits_4_and_the_next_one_finishes(tmp_path: Path) -> None:
    run_dir, first = slow_rollback(tmp_path)
    first.send(signal.SIGINT)
    code, out, err = first.finish()
    assert code == 4, out + err
    assert "rollback interrupted: faults may still be applied" in err
    assert "nothing was injected" not in err
    assert len(applied_flags(tmp_path)) == 1
    code, out, err = run_chaoskit(["rollback", str(run_dir), "--wait", "0"], tmp_path)
    assert code == 0, out + err
    assert "reverted  flag" in out
    assert applied_flags(tmp_path) == []


@pytest.mark.parametrize("wait", ["-1", "nan", "inf"])
def test_a_bad_wait_exits_2(tmp_path: Path, wait: str) -> None:
    code, _, err = run_chaoskit(["rollback", str(tmp_path), f"--wait={wait}"], tmp_path)
    assert code == 2
    assert "--wait: expected" in err
