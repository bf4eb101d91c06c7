"""postgres.hold_lock against a real PostgreSQL 15: a competing statement waits
(seen through its own lock_timeout) while the fault holds, and goes through
after revert."""

from __future__ import annotations

import json

import psycopg
import pytest
from chaoskit_postgres import HoldLock, PostgresTarget, application_name
from postgres_faults import connect, holder_processes, tagged_backends

from chaoskit import FaultNotInForce, InjectorError
from chaoskit.testing import FaultTracker, fault_context

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def try_update(dsn: str, account: int) -> int:
    """An UPDATE that gives up after 200ms of waiting for a lock (LockNotAvailable);
    rolled back. The number of rows it updated."""
    with connect(dsn, autocommit=False) as connection:
        connection.execute("SET lock_timeout = '200ms'")
        cursor = connection.execute(
            "UPDATE accounts SET balance = balance + 1 WHERE id = %s", [account]
        )
        connection.rollback()
        return cursor.rowcount


def try_select(dsn: str) -> None:
    with connect(dsn) as connection:
        connection.execute("SET lock_timeout = '200ms'")
        connection.execute("SELECT count(*) FROM accounts").fetchone()


def idle_in_transaction(dsn: str, name: str) -> int:
    with connect(dsn) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
            "AND state = 'idle in transaction'",
            [name],
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_row_lock_blocks_an_update_until_revert(
    target: PostgresTarget, app_dsn: str, superuser_dsn: str, faults: FaultTracker
) -> None:
    try_update(app_dsn, 1)  # nothing in the way yet

    fault = await faults.apply(HoldLock(), target, {"table": "accounts", "where": "id = 1"})

    assert idle_in_transaction(superuser_dsn, application_name(fault.tag)) == 1
    with pytest.raises(psycopg.errors.LockNotAvailable):
        try_update(app_dsn, 1)
    try_update(app_dsn, 2)  # another row is free
    await HoldLock().verify(fault.ctx, fault.revert_state)

    await fault.revert()

    try_update(app_dsn, 1)
    assert tagged_backends(superuser_dsn, application_name(fault.tag)) == 0
    with pytest.raises(FaultNotInForce):
        await HoldLock().verify(fault.ctx, fault.revert_state)


async def test_table_lock_blocks_even_reads(
    target: PostgresTarget, app_dsn: str, faults: FaultTracker
) -> None:
    fault = await faults.apply(
        HoldLock(), target, {"table": "public.accounts", "mode": "ACCESS EXCLUSIVE"}
    )

    with pytest.raises(psycopg.errors.LockNotAvailable):
        try_select(app_dsn)
    await HoldLock().verify(fault.ctx, fault.revert_state)

    await fault.revert()
    try_select(app_dsn)


async def test_share_lock_lets_reads_through_and_blocks_writes(
    target: PostgresTarget, app_dsn: str, faults: FaultTracker
) -> None:
    await faults.apply(HoldLock(), target, {"table": "accounts", "mode": "share"})

    try_select(app_dsn)
    with pytest.raises(psycopg.errors.LockNotAvailable):
        try_update(app_dsn, 3)


async def test_a_where_that_matches_nothing_is_refused(target: PostgresTarget) -> None:
    injector = HoldLock()
    ctx = fault_context(injector, target, {"table": "accounts", "where": "id = 999"})
    state = await injector.prepare(ctx)

    with pytest.raises(InjectorError, match="no row of accounts matches 'id = 999'"):
        await injector.inject(ctx, state)
    await injector.revert(ctx, state)
    assert holder_processes(application_name(ctx.tag)) == []


async def test_a_lock_held_by_someone_else_fails_within_open_timeout(
    target: PostgresTarget, app_dsn: str
) -> None:
    injector = HoldLock()
    ctx = fault_context(
        injector, target, {"table": "accounts", "where": "id = 2", "open_timeout": "500ms"}
    )
    state = await injector.prepare(ctx)
    with connect(app_dsn, autocommit=False) as other:
        other.execute("SELECT 1 FROM accounts WHERE id = 2 FOR UPDATE")
        with pytest.raises(InjectorError, match="another transaction holds a conflicting one"):
            await injector.inject(ctx, state)
        other.rollback()
    await injector.revert(ctx, state)


async def test_preflight_names_a_missing_table(target: PostgresTarget) -> None:
    injector = HoldLock()
    ctx = fault_context(injector, target, {"table": "Accounts", "where": "id = 1"})

    with pytest.raises(InjectorError, match="table 'Accounts' does not exist"):
        await injector.preflight(ctx)


async def test_reverting_twice_and_from_json_is_harmless(
    target: PostgresTarget, app_dsn: str, superuser_dsn: str, faults: FaultTracker
) -> None:
    fault = await faults.apply(HoldLock(), target, {"table": "accounts", "where": "id = 3"})
    with pytest.raises(psycopg.errors.LockNotAvailable):
        try_update(app_dsn, 3)
    journaled = json.loads(json.dumps(fault.revert_state))

    await HoldLock().revert(fault.ctx, journaled)
    await HoldLock().revert(fault.ctx, journaled)

    assert try_update(app_dsn, 3) == 1  # the row is free again
    name = application_name(fault.tag)
    assert tagged_backends(superuser_dsn, name) == 0
    assert holder_processes(name) == []


async def test_preflight_starts_a_standby_holder_that_inject_uses(
    target: PostgresTarget, superuser_dsn: str
) -> None:
    """Preflight starts the holder ahead (holding nothing) so that inject pays no
    process start; inject hands it the spec; revert leaves no holder."""
    injector = HoldLock()
    ctx = fault_context(injector, target, {"table": "accounts", "where": "id = 1"})
    name = application_name(ctx.tag)
    await injector.preflight(ctx)
    [standby] = holder_processes(name)
    assert tagged_backends(superuser_dsn, name) == 0  # waiting, not holding
    state = await injector.inject(ctx, await injector.prepare(ctx))
    try:
        assert json.loads(json.dumps(state))["holder_pid"] == standby
        assert tagged_backends(superuser_dsn, name) == 1
        await injector.verify(ctx, state)
    finally:
        await injector.revert(ctx, state)
    assert holder_processes(name) == []
    assert tagged_backends(superuser_dsn, name) == 0


async def test_an_unused_standby_goes_with_the_revert(target: PostgresTarget) -> None:
    """A fault prepared but never injected (the run was aborted first): its
    revert stops the standby too."""
    injector = HoldLock()
    ctx = fault_context(injector, target, {"table": "accounts", "where": "id = 1"})
    await injector.preflight(ctx)
    assert len(holder_processes(application_name(ctx.tag))) == 1
    await injector.revert(ctx, await injector.prepare(ctx))
    assert holder_processes(application_name(ctx.tag)) == []
