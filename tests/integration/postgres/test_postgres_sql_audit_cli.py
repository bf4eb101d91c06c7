"""Whole experiments through the real ``chaoskit`` CLI: an ``sql`` load stream
writes to a table while ``postgres.hold_lock`` holds it, and the ``sql``
lookup audits every write afterwards, against a ground truth kept by the
server itself (triggers that drop or double writes and note which)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaoskit_cli import run_chaoskit
from pg_server import PgServer
from postgres_faults import connect, load_backends, scalar, wait_until

pytestmark = pytest.mark.integration


def write_experiment(tmp_path: Path, pg: PgServer, table: str, *, lock_for: str = "1s") -> Path:
    document: dict[str, Any] = {
        "version": 1,
        "title": "writes through a held lock",
        "targets": {
            "db": {"kind": "postgres", "dsn": pg.dsn("postgres", "chaos")},
            "app-db": {"kind": "postgres", "dsn": pg.dsn("app", "chaos"), "connect_timeout": "2s"},
        },
        "steady_state": {
            "every": "100ms",
            "stable_for": "300ms",
            "baseline": "300ms",
            "probes": [
                {"name": "app-can-query", "sql": {"target": "app-db", "query": "select 1"},
                 "expect": {"value": 1}},
            ],
        },
        "faults": [
            {"name": "lock", "injector": "postgres.hold_lock", "target": "db",
             "with": {"table": table, "mode": "exclusive"}, "at": "300ms", "duration": lock_for},
        ],
        "load": [
            {
                "name": "transfers",
                "rate": "200/s",
                "timeout": "5s",
                "sql": {
                    "target": "app-db",
                    "query": f"insert into {table} (id, seq, amount) "
                    "values (%(id)s, %(seq)s, 10)",
                    "pool_size": 8,
                },
                "writes": {
                    "lookup": {"batch": 50_000, "sql": {"target": "app-db", "table": table}}
                },
            }
        ],
        "expect": {"data_loss": 0},
    }  # fmt: skip
    path = tmp_path / "writes.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run(tmp_path: Path, path: Path) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    [run_dir] = list((tmp_path / "runs").iterdir())
    result: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    return code, result, out + err


@pytest.fixture
def closed_afterwards(pg: PgServer) -> Iterator[None]:
    """The runner's pools and audit connection are gone once it has exited."""
    yield
    dsn = pg.dsn("postgres", "chaos")
    wait_until(lambda: load_backends(dsn) == 0, what="the run's connections to close")


@pytest.mark.usefixtures("closed_afterwards")
def test_no_write_is_lost_through_a_held_lock(
    tmp_path: Path, pg: PgServer, app_dsn: str, transfers: str
) -> None:
    code, result, output = run(tmp_path, write_experiment(tmp_path, pg, transfers))

    assert code == 0, output
    assert result["status"] == "passed", output
    [fault] = result["faults"]
    assert fault["verified"] is True
    assert fault["reverted"] is True
    [loss] = result["data_loss"]
    rows = scalar(app_dsn, f"select count(*) from {transfers}")
    assert loss["lost"] == 0
    assert loss["phantom"] == 0
    assert loss["unverified"] == 0
    assert loss["duplicated"] == 0
    assert loss["acknowledged"] + loss["indeterminate_present"] == rows
    assert loss["acknowledged"] > 300
    # the writes felt the lock: some waited most of the second it was held
    [load] = result["load"]
    assert load["phases"]["fault"]["latency"]["max"] > 0.5


@pytest.mark.usefixtures("closed_afterwards")
def test_the_audit_finds_exactly_the_writes_the_server_dropped(
    tmp_path: Path, pg: PgServer, app_dsn: str, transfers: str
) -> None:
    # Every 7th insert is acknowledged and silently thrown away, noted aside
    # (by the application's own role, which owns the table).
    with connect(app_dsn) as owner:
        owner.execute(f"create table {transfers}_dropped (id text)")
        owner.execute(
            f"""create function {transfers}_drop() returns trigger language plpgsql as $$
            begin
              if new.seq % 7 = 0 then
                insert into {transfers}_dropped values (new.id);
                return null;
              end if;
              return new;
            end $$"""
        )
        owner.execute(
            f"create trigger drop_some before insert on {transfers} "
            f"for each row execute function {transfers}_drop()"
        )
    try:
        code, result, output = run(tmp_path, write_experiment(tmp_path, pg, transfers))
        with connect(app_dsn) as owner:
            dropped = {i for (i,) in owner.execute(f"select id from {transfers}_dropped")}
    finally:
        with connect(app_dsn) as owner:
            owner.execute(f"drop table {transfers}_dropped")
            owner.execute(f"drop trigger drop_some on {transfers}")
            owner.execute(f"drop function {transfers}_drop()")

    assert code == 1, output  # data_loss: 0 was expected
    [loss] = result["data_loss"]
    assert (loss["failed"], loss["indeterminate"], loss["unverified"]) == (0, 0, 0), output
    assert len(dropped) > 30
    assert loss["lost"] == len(dropped)
    assert set(loss["lost_ids"]) <= dropped
    assert loss["data_loss_rate"] == round(len(dropped) / loss["acknowledged"], 9)
    [expectation] = result["expectations"]
    assert (expectation["name"], expectation["met"]) == ("data_loss", False)


@pytest.mark.usefixtures("closed_afterwards")
def test_the_audit_counts_writes_the_server_doubled(
    tmp_path: Path, pg: PgServer, app_dsn: str, transfers: str
) -> None:
    # No unique id, and every 5th insert lands twice, noted aside.
    with connect(app_dsn) as owner:
        owner.execute(f"alter table {transfers} drop constraint {transfers}_pkey")
        owner.execute(f"create index on {transfers} (id)")
        owner.execute(f"create table {transfers}_doubled (id text)")
        owner.execute(
            f"""create function {transfers}_double() returns trigger language plpgsql as $$
            begin
              if pg_trigger_depth() = 1 and new.seq % 5 = 0 then
                insert into {transfers} (id, seq, amount) values (new.id, new.seq, new.amount);
                insert into {transfers}_doubled values (new.id);
              end if;
              return null;
            end $$"""
        )
        owner.execute(
            f"create trigger double_some after insert on {transfers} "
            f"for each row execute function {transfers}_double()"
        )
    try:
        code, result, output = run(tmp_path, write_experiment(tmp_path, pg, transfers))
        with connect(app_dsn) as owner:
            doubled = {i for (i,) in owner.execute(f"select id from {transfers}_doubled")}
    finally:
        with connect(app_dsn) as owner:
            owner.execute(f"drop table {transfers}_doubled")
            owner.execute(f"drop trigger double_some on {transfers}")
            owner.execute(f"drop function {transfers}_double()")

    assert code == 0, output
    [loss] = result["data_loss"]
    assert (loss["failed"], loss["indeterminate"], loss["unverified"]) == (0, 0, 0), output
    assert loss["lost"] == 0
    assert len(doubled) > 50
    assert loss["duplicated"] == len(doubled)
