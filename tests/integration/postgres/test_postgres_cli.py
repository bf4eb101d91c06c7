"""Whole experiments through the real ``chaoskit`` CLI against a real
PostgreSQL: a run that exhausts the pool and recovers, signals mid-fault, and
``kill -9`` of the runner followed by ``chaoskit rollback``."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaoskit_cli import journal_events, run_chaoskit, start_chaoskit, wait_for_event
from chaoskit_postgres import application_name
from pg_server import PgServer
from postgres_faults import TaggedHelper, holder_processes, tagged_backends, wait_until

pytestmark = pytest.mark.integration

SECRET = "pg-s3cret-never-shown"
ENV = {"CHAOSKIT_TEST_PGPASSWORD": SECRET}


def write_experiment(tmp_path: Path, pg: PgServer, duration: str) -> Path:
    # Trust authentication ignores the password; it is there to be redacted.
    dsn = f"postgresql://postgres:${{env:CHAOSKIT_TEST_PGPASSWORD}}@127.0.0.1:{pg.port}/chaos"
    document: dict[str, Any] = {
        "version": 1,
        "title": "pool exhaustion",
        "targets": {
            "db": {"kind": "postgres", "dsn": dsn},
            "app-db": {"kind": "postgres", "dsn": pg.dsn("app", "chaos"), "connect_timeout": "2s"},
        },
        "steady_state": {
            "every": "100ms",
            "stable_for": "300ms",
            "baseline": "300ms",
            "probes": [
                {
                    "name": "app-can-connect",
                    "sql": {"target": "app-db", "query": "select count(*) from accounts"},
                    "expect": {"value": 3},
                }
            ],
        },
        "faults": [
            {
                "name": "pool",
                "injector": "postgres.exhaust_connections",
                "target": "db",
                "with": {"keep_free": 0},
                "at": "200ms",
                "duration": duration,
            }
        ],
        "expect": {"mttr": "< 10s"},
    }
    path = tmp_path / "pool.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def fault_application_name(run_dir: Path) -> str:
    started = next(e for e in journal_events(run_dir) if e["event"] == "run_started")
    return application_name(f"chaoskit-{started['run_id']}-pool")


def assert_no_secret(run_dir: Path) -> None:
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path


def test_a_run_sees_the_exhaustion_and_recovers(
    tmp_path: Path, pg: PgServer, superuser_dsn: str
) -> None:
    path = write_experiment(tmp_path, pg, duration="1s")

    code, out, err = run_chaoskit(["run", str(path), "--json"], tmp_path, env=ENV)

    assert code == 0, out + err
    result = json.loads(out)
    assert result["status"] == "passed"
    [fault] = result["faults"]
    assert fault["verified"] is True
    assert fault["reverted"] is True
    mttr = result["measurements"]["mttr"]
    assert mttr["max"] > 0, "the app's probe saw the pool exhausted"
    [run_dir] = (tmp_path / "runs").iterdir()
    name = fault_application_name(run_dir)
    assert tagged_backends(superuser_dsn, name) == 0
    assert holder_processes(name) == []
    assert_no_secret(run_dir)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_fault_reverts(
    tmp_path: Path, pg: PgServer, superuser_dsn: str, signum: signal.Signals
) -> None:
    path = write_experiment(tmp_path, pg, duration="60s")
    run = start_chaoskit(["run", str(path)], tmp_path, env=ENV)
    wait_for_event(run, "fault_injected")
    run_dir = run.run_dir()
    assert run_dir is not None
    name = fault_application_name(run_dir)
    assert tagged_backends(superuser_dsn, name) > 0

    run.send(signum)
    code, out, err = run.finish()

    assert code == 3, out + err
    assert tagged_backends(superuser_dsn, name) == 0
    assert holder_processes(name) == []


def test_kill_9_then_rollback_leaves_nothing(
    tmp_path: Path, pg: PgServer, superuser_dsn: str
) -> None:
    path = write_experiment(tmp_path, pg, duration="60s")
    run = start_chaoskit(["run", str(path)], tmp_path, env=ENV)
    wait_for_event(run, "fault_injected")
    run_dir = run.run_dir()
    assert run_dir is not None
    name = fault_application_name(run_dir)
    [holder] = holder_processes(name)
    assert SECRET not in Path(f"/proc/{holder}/cmdline").read_text()
    assert tagged_backends(superuser_dsn, name) > 0

    run.send(signal.SIGKILL)
    run.finish()

    # The holder dies with the runner, and its connections with it ...
    wait_until(lambda: holder_processes(name) == [], what="the holder to exit")
    wait_until(lambda: tagged_backends(superuser_dsn, name) == 0, what="its backends to go")
    # ... but were any tagged connection still there, rollback must end it.
    helper = TaggedHelper.start(superuser_dsn, name, count=2)
    try:
        code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path, env=ENV)
        assert code == 0, out + err
        assert "reverted  pool" in out
        assert helper.finish() == "terminated"
    finally:
        helper.stop()
    assert tagged_backends(superuser_dsn, name) == 0
    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path, env=ENV)
    assert code == 0, out + err
    assert "nothing to do" in out
    assert_no_secret(run_dir)
