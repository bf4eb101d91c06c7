"""The ``sql`` load kind against a real PostgreSQL 15: what each way a
statement can end becomes (acknowledged / failed / indeterminate), the pool's
bounds, and connections the server closed behind the pool's back."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import psycopg
import pytest
from chaoskit_postgres import PostgresTarget, SqlLoad, SqlLoadParams
from postgres_faults import connect, scalar
from servers import free_port

from chaoskit import LoadContext, Outcome, PluginError
from chaoskit._resources import RunResources

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

INSERT = "insert into {table} (id, seq, amount) values (%(id)s, %(seq)s, 10)"
Admin = psycopg.AsyncConnection[tuple[Any, ...]]


def context(
    resources: RunResources,
    target: PostgresTarget | None,
    query: str,
    seq: int,
    *,
    stream: str = "s",
    timeout: float = 3.0,
    pool_size: int = 10,
    write_id: str | None = None,
) -> LoadContext:
    return LoadContext(
        stream=stream,
        params=SqlLoadParams(target="db", query=query, pool_size=pool_size),
        write_id=write_id or f"w-{seq}",
        seq=seq,
        timeout=timeout,
        target=target,
        resources=resources,
    )


@pytest.fixture
async def admin(superuser_dsn: str) -> AsyncIterator[Admin]:
    """An independent async connection: it must not block the event loop the
    load kind runs on while it watches and interferes."""
    connection: Admin = await psycopg.AsyncConnection.connect(superuser_dsn, autocommit=True)
    yield connection
    await connection.close()


async def value(admin: Admin, query: str, params: list[Any] | None = None) -> Any:
    cursor = await admin.execute(query, params)
    row = await cursor.fetchone()
    return row[0] if row else None


async def pool_backends(admin: Admin, stream: str, state: str | None = None) -> list[int]:
    query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
    args: list[Any] = [f"chaoskit-load-{stream}"]
    if state is not None:
        query += " AND state = %s"
        args.append(state)
    cursor = await admin.execute(query, args)
    return [int(pid) for (pid,) in await cursor.fetchall()]


async def wait_for(check: Any, what: str, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not await check():
            await anyio.sleep(0.02)


async def test_committed_inserts_are_acknowledged(
    resources: RunResources, app_target: PostgresTarget, app_dsn: str, transfers: str
) -> None:
    load = SqlLoad()
    query = INSERT.format(table=transfers)

    outcomes = [await load.send(context(resources, app_target, query, seq)) for seq in range(3)]

    assert outcomes == [Outcome("acknowledged")] * 3
    with connect(app_dsn) as observer:
        rows = observer.execute(f"select id, seq from {transfers} order by seq").fetchall()
    assert rows == [("w-0", 0), ("w-1", 1), ("w-2", 2)]


async def test_a_unique_violation_is_a_definite_failure(
    resources: RunResources, app_target: PostgresTarget, transfers: str
) -> None:
    load = SqlLoad()
    query = INSERT.format(table=transfers)

    first = await load.send(context(resources, app_target, query, 1, write_id="same"))
    second = await load.send(context(resources, app_target, query, 2, write_id="same"))

    assert first.outcome == "acknowledged"
    assert second.outcome == "failed"
    assert "[23505]" in second.detail


async def test_an_sql_error_fails_the_request_and_does_not_raise(
    resources: RunResources, app_target: PostgresTarget
) -> None:
    outcome = await SqlLoad().send(
        context(resources, app_target, INSERT.format(table="no_such_table"), 1)
    )

    assert outcome.outcome == "failed"
    assert "[42P01]" in outcome.detail


async def test_statement_timeout_is_a_failure_and_nothing_is_kept(
    resources: RunResources, app_target: PostgresTarget, app_dsn: str, transfers: str
) -> None:
    # The server cancels the statement at the stream's timeout (57014) and
    # rolls it back: that answer is definite, unlike a client giving up.
    load = SqlLoad()
    warm = await load.send(context(resources, app_target, "select %(id)s", 0, timeout=0.5))
    assert warm.outcome == "acknowledged"  # the pool is open: no wait for a connection
    with connect(app_dsn, autocommit=False) as locker:
        locker.execute(f"lock table {transfers} in access exclusive mode")
        started = time.monotonic()
        outcome = await load.send(
            context(resources, app_target, INSERT.format(table=transfers), 1, timeout=0.5)
        )
        elapsed = time.monotonic() - started
        locker.rollback()

    assert outcome.outcome == "failed", outcome
    assert "[57014]" in outcome.detail
    assert 0.4 < elapsed < 0.5 + 1.5
    assert scalar(app_dsn, f"select count(*) from {transfers}") == 0


async def test_a_backend_ended_mid_statement_is_indeterminate(
    resources: RunResources, app_target: PostgresTarget, admin: Admin, transfers: str
) -> None:
    stream = f"s{uuid.uuid4().hex[:6]}"
    slow = f"insert into {transfers} (id, seq) select %(id)s, %(seq)s from pg_sleep(30)"
    outcomes: list[Outcome] = []

    async def send() -> None:
        outcomes.append(
            await SqlLoad().send(
                context(resources, app_target, slow, 1, stream=stream, timeout=20, pool_size=1)
            )
        )

    async with anyio.create_task_group() as group:
        group.start_soon(send)
        await wait_for(lambda: pool_backends(admin, stream, "active"), "the statement to run")
        [pid] = await pool_backends(admin, stream, "active")
        assert await value(admin, "select pg_terminate_backend(%s)", [pid])

    [outcome] = outcomes
    assert outcome.outcome == "indeterminate", outcome
    assert "57P01" in outcome.detail or "connection lost" in outcome.detail


async def test_no_answer_in_time_is_indeterminate_and_bounded(
    resources: RunResources, app_target: PostgresTarget, admin: Admin, transfers: str
) -> None:
    # A stopped backend cannot even run its statement_timeout: only the
    # client's own deadline ends the request, and then nobody knows.
    stream = f"s{uuid.uuid4().hex[:6]}"
    load = SqlLoad()
    query = INSERT.format(table=transfers)
    warm = await load.send(context(resources, app_target, query, 0, stream=stream, pool_size=1))
    assert warm.outcome == "acknowledged"
    [pid] = await pool_backends(admin, stream)
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        outcome = await load.send(
            context(resources, app_target, query, 1, stream=stream, timeout=0.5, pool_size=1)
        )
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)

    assert outcome == Outcome("indeterminate", None, "no answer within 0.5s")
    assert elapsed < 0.5 + 1.5


async def test_an_unreachable_server_fails_within_the_timeout(resources: RunResources) -> None:
    nowhere = PostgresTarget(dsn=f"postgresql://app@127.0.0.1:{free_port()}/chaos")

    started = time.monotonic()
    outcome = await SqlLoad().send(context(resources, nowhere, "select %(id)s", 1, timeout=0.5))
    elapsed = time.monotonic() - started

    assert outcome.outcome == "failed"
    assert outcome.detail.startswith("no pooled connection within 0.5s")
    assert elapsed < 0.5 + 1.5


async def test_connections_the_server_closed_are_replaced_not_used(
    resources: RunResources, app_target: PostgresTarget, admin: Admin, transfers: str
) -> None:
    stream = f"s{uuid.uuid4().hex[:6]}"
    load = SqlLoad()
    query = INSERT.format(table=transfers)
    for seq in range(2):
        await load.send(context(resources, app_target, query, seq, stream=stream, pool_size=2))
    await wait_for(lambda: _count_is(admin, stream, 2), "the pool to fill")
    old = await pool_backends(admin, stream)
    await admin.execute("select pg_terminate_backend(pid) from unnest(%s::int[]) pid", [old])
    await wait_for(lambda: _none_of(admin, stream, old), "the pool's backends to end")

    outcomes = [
        await load.send(context(resources, app_target, query, seq, stream=stream, pool_size=2))
        for seq in range(2, 6)
    ]

    assert outcomes == [Outcome("acknowledged")] * 4
    assert not set(old) & set(await pool_backends(admin, stream))


async def _count_is(admin: Admin, stream: str, count: int) -> bool:
    return len(await pool_backends(admin, stream)) == count


async def _none_of(admin: Admin, stream: str, pids: list[int]) -> bool:
    return not set(pids) & set(await pool_backends(admin, stream))


async def test_many_concurrent_requests_share_a_bounded_pool(
    resources: RunResources, app_target: PostgresTarget, admin: Admin, app_dsn: str, transfers: str
) -> None:
    stream = f"s{uuid.uuid4().hex[:6]}"
    load = SqlLoad()
    query = INSERT.format(table=transfers)
    outcomes: list[Outcome] = []

    async def send(seq: int) -> None:
        ctx = context(resources, app_target, query, seq, stream=stream, pool_size=4, timeout=10)
        outcomes.append(await load.send(ctx))

    async with anyio.create_task_group() as group:
        for seq in range(200):
            group.start_soon(send, seq)

    assert outcomes == [Outcome("acknowledged")] * 200
    assert scalar(app_dsn, f"select count(*) from {transfers}") == 200
    assert len(await pool_backends(admin, stream)) == 4


async def test_a_missing_target_is_a_plugin_error(resources: RunResources) -> None:
    with pytest.raises(PluginError, match="needs a postgres target"):
        await SqlLoad().send(context(resources, None, "select 1", 1))
