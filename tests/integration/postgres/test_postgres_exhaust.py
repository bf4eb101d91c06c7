"""postgres.exhaust_connections against a real PostgreSQL 15 (max_connections=40)."""

from __future__ import annotations

import json

import anyio
import psycopg
import pytest
from chaoskit_postgres import ExhaustConnections, PostgresTarget, application_name
from pg_server import PgServer
from postgres_faults import (
    MAX_CONNECTIONS,
    TaggedHelper,
    connect,
    holder_processes,
    scalar,
    tagged_backends,
)

from chaoskit import FaultNotInForce, InjectorError
from chaoskit.testing import FaultTracker, fault_context

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SUPERUSER_RESERVED = 3
USABLE = MAX_CONNECTIONS - SUPERUSER_RESERVED
REFUSED = "remaining connection slots are reserved"


def client_backends(dsn: str) -> int:
    """Client backends in use, besides the one asking."""
    return int(
        scalar(
            dsn,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        )
    )


def ordinary_connect(app_dsn: str) -> psycopg.Connection[tuple[object, ...]]:
    return connect(app_dsn, connect_timeout=3)


async def test_exhaust_takes_every_ordinary_slot_and_revert_gives_them_back(
    pg: PgServer,
    target: PostgresTarget,
    app_dsn: str,
    superuser_dsn: str,
    faults: FaultTracker,
) -> None:
    before = client_backends(superuser_dsn)

    fault = await faults.apply(ExhaustConnections(), target, {"keep_free": 0})

    name = application_name(fault.tag)
    held = tagged_backends(superuser_dsn, name)
    assert held == USABLE - before
    assert fault.revert_state == {
        "server": f"postgres@127.0.0.1:{pg.port}/chaos",
        "application_name": name,
        "holder_pid": holder_processes(name)[0],
        "backends": held,
    }
    with pytest.raises(psycopg.OperationalError, match=REFUSED):
        ordinary_connect(app_dsn)
    await ExhaustConnections().verify(fault.ctx, fault.revert_state)

    await fault.revert()

    assert tagged_backends(superuser_dsn, name) == 0
    assert holder_processes(name) == []
    assert client_backends(superuser_dsn) == before
    with ordinary_connect(app_dsn) as connection:
        assert connection.execute("select 1").fetchone() == (1,)
    with pytest.raises(FaultNotInForce, match="not running"):
        await ExhaustConnections().verify(fault.ctx, fault.revert_state)


async def test_keep_free_leaves_that_many_slots(
    target: PostgresTarget, app_dsn: str, superuser_dsn: str, faults: FaultTracker
) -> None:
    await faults.apply(ExhaustConnections(), target, {"keep_free": 2})

    first, second = ordinary_connect(app_dsn), ordinary_connect(app_dsn)
    try:
        with pytest.raises(psycopg.OperationalError, match=REFUSED):
            ordinary_connect(app_dsn)
    finally:
        first.close()
        second.close()


async def test_connections_already_in_use_are_counted(
    target: PostgresTarget, app_dsn: str, superuser_dsn: str, faults: FaultTracker
) -> None:
    busy = [ordinary_connect(app_dsn) for _ in range(5)]
    try:
        before = client_backends(superuser_dsn)
        fault = await faults.apply(ExhaustConnections(), target, {"keep_free": 1})
        assert tagged_backends(superuser_dsn, application_name(fault.tag)) == USABLE - 1 - before
        assert client_backends(superuser_dsn) == USABLE - 1 + 0  # the observer is not counted
    finally:
        for connection in busy:
            connection.close()


async def test_an_ordinary_role_target_verifies_through_the_refusal(
    app_target: PostgresTarget, app_dsn: str, faults: FaultTracker
) -> None:
    """With keep_free 0 an ordinary role cannot connect to count: the refusal
    itself shows the fault."""
    fault = await faults.apply(ExhaustConnections(), app_target, {"keep_free": 0})

    with pytest.raises(psycopg.OperationalError, match=REFUSED):
        ordinary_connect(app_dsn)  # the role verify connects as is refused, too ...
    await ExhaustConnections().verify(fault.ctx, fault.revert_state)  # ... and that is in force
    await fault.revert()

    with ordinary_connect(app_dsn) as connection:
        assert connection.execute("select 1").fetchone() == (1,)
    with pytest.raises(FaultNotInForce, match="not running"):
        await ExhaustConnections().verify(fault.ctx, fault.revert_state)


async def test_max_open_refuses_a_pool_too_large(
    target: PostgresTarget, superuser_dsn: str
) -> None:
    injector = ExhaustConnections()
    ctx = fault_context(injector, target, {"keep_free": 0, "max_open": 5})

    with pytest.raises(InjectorError, match="more than max_open=5"):
        await injector.preflight(ctx)
    state = await injector.prepare(ctx)
    with pytest.raises(InjectorError, match="more than max_open=5"):
        await injector.inject(ctx, state)
    await injector.revert(ctx, state)
    assert holder_processes(application_name(ctx.tag)) == []


async def test_reverting_twice_is_harmless(
    target: PostgresTarget, superuser_dsn: str, faults: FaultTracker
) -> None:
    fault = await faults.apply(ExhaustConnections(), target, {})

    await fault.revert()
    await fault.revert()

    assert tagged_backends(superuser_dsn, application_name(fault.tag)) == 0


async def test_revert_from_json_in_a_fresh_instance(
    target: PostgresTarget, superuser_dsn: str, faults: FaultTracker
) -> None:
    fault = await faults.apply(ExhaustConnections(), target, {})
    journaled = json.loads(json.dumps(fault.revert_state))

    await ExhaustConnections().revert(fault.ctx, journaled)

    assert tagged_backends(superuser_dsn, application_name(fault.tag)) == 0
    assert holder_processes(application_name(fault.tag)) == []


async def test_revert_ends_tagged_connections_held_by_another_process(
    target: PostgresTarget, superuser_dsn: str
) -> None:
    """Connections with the fault's tag that outlived its holder (here: held by
    an unrelated process) are ended by revert, even from the intent state."""
    injector = ExhaustConnections()
    ctx = fault_context(injector, target, {})
    state = await injector.prepare(ctx)
    name = application_name(ctx.tag)
    helper = TaggedHelper.start(superuser_dsn, name, count=3)
    try:
        assert tagged_backends(superuser_dsn, name) == 3

        await injector.revert(ctx, state)

        assert tagged_backends(superuser_dsn, name) == 0
        assert await anyio.to_thread.run_sync(helper.finish) == "terminated"
    finally:
        helper.stop()


async def test_revert_says_what_to_do_when_it_may_not_end_a_backend(
    target: PostgresTarget, app_target: PostgresTarget, superuser_dsn: str
) -> None:
    """Tagged connections of a superuser cannot be ended by an ordinary role:
    revert fails loudly with the SQL to run by hand (and the run would be DIRTY)."""
    injector = ExhaustConnections()
    ctx = fault_context(injector, app_target, {})
    state = await injector.prepare(ctx)
    name = application_name(ctx.tag)
    helper = TaggedHelper.start(superuser_dsn, name, count=1)
    try:
        with pytest.raises(InjectorError, match="pg_signal_backend") as raised:
            await injector.revert(ctx, state)
        assert f"WHERE application_name = '{name}'" in str(raised.value)
        assert tagged_backends(superuser_dsn, name) == 1

        await injector.revert(fault_context(injector, target, {}, run_id=ctx.run_id), state)
        assert tagged_backends(superuser_dsn, name) == 0
    finally:
        helper.stop()


async def test_revert_from_the_intent_state_finds_the_holder(
    target: PostgresTarget, superuser_dsn: str
) -> None:
    """A crash after inject started the holder but before its state was
    journaled leaves only the intent (holder_pid null): revert finds the holder
    by its command line."""
    injector = ExhaustConnections()
    ctx = fault_context(injector, target, {"keep_free": 10})
    intent = await injector.prepare(ctx)
    await injector.inject(ctx, intent)
    name = application_name(ctx.tag)
    assert len(holder_processes(name)) == 1

    await injector.revert(ctx, intent)

    assert holder_processes(name) == []
    assert tagged_backends(superuser_dsn, name) == 0


async def test_a_cancelled_inject_leaves_no_holder(
    target: PostgresTarget, superuser_dsn: str
) -> None:
    injector = ExhaustConnections()
    ctx = fault_context(injector, target, {})
    state = await injector.prepare(ctx)

    with anyio.move_on_after(0.01) as scope:
        await injector.inject(ctx, state)

    assert scope.cancelled_caught
    name = application_name(ctx.tag)
    assert holder_processes(name) == []
    await injector.revert(ctx, state)
    assert tagged_backends(superuser_dsn, name) == 0
