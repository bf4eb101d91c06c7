"""The ``sql`` lookup against a real PostgreSQL 15: copies counted per write id
in one query per batch, failures leaving a batch unverified, a broken lookup
stopping the audit, and the whole audit over a ledger with a known truth."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from chaoskit_postgres import PostgresTarget, SqlLookup, SqlLookupParams
from postgres_faults import connect, load_backends, wait_until
from servers import free_port

from chaoskit import LookupContext, PluginError
from chaoskit._audit import audit_writes
from chaoskit._ledger import WriteLedger
from chaoskit._load_model import LookupSpec
from chaoskit._resources import RunResources

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def context(
    resources: RunResources,
    target: PostgresTarget | None,
    table: str,
    *,
    id_column: str = "id",
    timeout: float = 3.0,
    stream: str = "s",
) -> LookupContext:
    return LookupContext(
        stream=stream,
        params=SqlLookupParams(target="db", table=table, id_column=id_column),
        timeout=timeout,
        target=target,
        resources=resources,
    )


def insert(dsn: str, table: str, ids: list[str]) -> None:
    with (
        connect(dsn) as connection,
        connection.cursor() as cursor,
        cursor.copy(f"copy {table} (id) from stdin") as copy,
    ):
        for write_id in ids:
            copy.write_row((write_id,))


@pytest.fixture
def journal(app_dsn: str, transfers: str) -> str:
    """``transfers`` without its primary key: a table that can hold copies."""
    with connect(app_dsn) as owner:
        owner.execute(f"alter table {transfers} drop constraint {transfers}_pkey")
        owner.execute(f"create index on {transfers} (id)")
    return transfers


async def test_copies_are_counted_absent_ones_are_zero(
    resources: RunResources, app_target: PostgresTarget, app_dsn: str, journal: str
) -> None:
    insert(app_dsn, journal, ["once", "twice", "twice", "thrice", "thrice", "thrice"])

    found = await SqlLookup().find(
        context(resources, app_target, journal), ["once", "twice", "thrice", "never"]
    )

    assert found == {"once": 1, "twice": 2, "thrice": 3, "never": 0}


@pytest.mark.parametrize("shape", ["no index", "view"])
async def test_without_an_index_the_counts_are_the_same(
    resources: RunResources, app_target: PostgresTarget, app_dsn: str, journal: str, shape: str
) -> None:
    # No index to probe: the lookup lets the planner join instead.
    insert(app_dsn, journal, ["once", "twice", "twice"])
    table = journal
    with connect(app_dsn) as owner:
        owner.execute(f"drop index {journal}_id_idx")
        if shape == "view":
            table = f"{journal}_v"
            owner.execute(f"create view {table} as select id as write_id from {journal}")

    found = await SqlLookup().find(
        context(resources, app_target, table, id_column="write_id" if shape == "view" else "id"),
        ["once", "twice", "never"],
    )

    assert found == {"once": 1, "twice": 2, "never": 0}


async def test_a_schema_qualified_table_and_another_column(
    resources: RunResources, app_target: PostgresTarget, app_dsn: str, transfers: str
) -> None:
    with connect(app_dsn) as owner:
        owner.execute(f"alter table {transfers} add column request text")
        owner.execute(f"insert into {transfers} (id, request) values ('x', 'r-1')")

    found = await SqlLookup().find(
        context(resources, app_target, f"public.{transfers}", id_column="request"),
        ["r-1", "r-2"],
    )

    assert found == {"r-1": 1, "r-2": 0}


async def test_no_ids_no_query(resources: RunResources, app_target: PostgresTarget) -> None:
    assert await SqlLookup().find(context(resources, app_target, "no_such_table"), []) == {}


async def test_an_unreachable_server_leaves_the_batch_unverified(
    resources: RunResources,
) -> None:
    nowhere = PostgresTarget(dsn=f"postgresql://app@127.0.0.1:{free_port()}/chaos")

    assert await SqlLookup().find(context(resources, nowhere, "t", timeout=0.5), ["a"]) == {}


async def test_a_query_cut_by_its_timeout_leaves_the_batch_unverified(
    resources: RunResources, app_target: PostgresTarget, app_dsn: str, transfers: str
) -> None:
    insert(app_dsn, transfers, ["a"])
    with connect(app_dsn, autocommit=False) as locker:
        locker.execute(f"lock table {transfers} in access exclusive mode")
        started = time.monotonic()
        found = await SqlLookup().find(
            context(resources, app_target, transfers, timeout=0.5), ["a", "b"]
        )
        elapsed = time.monotonic() - started
        locker.rollback()

    assert found == {}
    assert elapsed < 0.5 + 1.5
    # and the next batch is answered (a new connection if it had to be)
    assert await SqlLookup().find(context(resources, app_target, transfers), ["a", "b"]) == {
        "a": 1,
        "b": 0,
    }


async def test_a_connection_ended_between_batches_is_replaced(
    resources: RunResources, app_target: PostgresTarget, app_dsn: str, superuser_dsn: str,
    transfers: str,
) -> None:  # fmt: skip
    insert(app_dsn, transfers, ["a"])
    lookup = SqlLookup()
    ctx = context(resources, app_target, transfers, stream="ended")
    assert await lookup.find(ctx, ["a"]) == {"a": 1}
    with connect(superuser_dsn) as admin:
        [[ended]] = admin.execute(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            "where application_name = 'chaoskit-audit-ended'"
        ).fetchall()
    assert ended == 1
    # pg_terminate_backend only signals: wait until the backend is gone, as a
    # connection ended between two batches is
    wait_until(lambda: load_backends(superuser_dsn) == 0, what="the audit backend to end")

    assert await lookup.find(ctx, ["a", "b"]) == {"a": 1, "b": 0}


@pytest.mark.parametrize(
    ("table", "column", "message"),
    [
        ("no_such_table", "id", "[42P01]"),
        ("{table}", "no_such_column", "[42703]"),
        ("{table}", "seq", "[42883]"),  # a bigint column compared with text ids
        ("no_such_schema.t", "id", "[42P01]"),
    ],
)
async def test_a_lookup_that_cannot_work_stops_the_audit(
    resources: RunResources,
    app_target: PostgresTarget,
    transfers: str,
    table: str,
    column: str,
    message: str,
) -> None:
    ctx = context(resources, app_target, table.format(table=transfers), id_column=column)

    with pytest.raises(PluginError) as raised:
        await SqlLookup().find(ctx, ["a"])

    assert message in str(raised.value)
    assert "cannot query" in str(raised.value)


async def test_a_missing_target_is_a_plugin_error(resources: RunResources) -> None:
    with pytest.raises(PluginError, match="needs a postgres target"):
        await SqlLookup().find(context(resources, None, "t"), ["a"])


async def test_the_audit_classifies_every_write_against_the_table(
    tmp_path: Path,
    resources: RunResources,
    app_target: PostgresTarget,
    app_dsn: str,
    journal: str,
) -> None:
    # 20,000 writes, batches of 3,000 (the last one short). The truth: of the
    # acknowledged, every 97th is missing and every 89th has two copies; every
    # 10th write failed, and half of those are there all the same (phantoms);
    # every 25th (not 10th) is indeterminate, present when even.
    ledger = WriteLedger(tmp_path / "writes-s.tsv")
    rows: list[str] = []
    lost: list[str] = []
    expected: dict[str, Any] = {
        "acknowledged": 0, "failed": 0, "indeterminate": 0, "lost": 0, "phantom": 0,
        "duplicated": 0, "indeterminate_present": 0, "indeterminate_absent": 0,
    }  # fmt: skip
    for seq in range(20_000):
        write_id = f"run-s-{seq}"
        if seq % 10 == 0:
            ledger.record(write_id, "failed", 0.0, None)
            expected["failed"] += 1
            if seq % 20 == 0:
                rows.append(write_id)
                expected["phantom"] += 1
        elif seq % 25 == 0:
            ledger.record(write_id, "indeterminate", 0.0, None)
            expected["indeterminate"] += 1
            present = seq % 2 == 0
            rows += [write_id] if present else []
            expected["indeterminate_present" if present else "indeterminate_absent"] += 1
        else:
            ledger.record(write_id, "acknowledged", 0.0, None)
            expected["acknowledged"] += 1
            if seq % 97 == 0:
                expected["lost"] += 1
                lost.append(write_id)
                continue
            rows.append(write_id)
            if seq % 89 == 0:
                rows.append(write_id)
                expected["duplicated"] += 1
    insert(app_dsn, journal, rows)
    spec = LookupSpec(kind_params=SqlLookupParams(target="db", table=journal), batch=3000)

    loss = await audit_writes("s", ledger, spec, SqlLookup(), {"db": app_target}, resources)

    assert {name: getattr(loss, name) for name in expected} == expected
    assert loss.writes == 20_000
    assert loss.unverified == 0
    assert loss.lost_ids == lost[:20]  # the first 20 are kept
