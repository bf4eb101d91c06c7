"""postgres.slow_queries against a real PostgreSQL 15."""

from __future__ import annotations

import json
import time

import pytest
from chaoskit_postgres import PostgresTarget, SlowQueries, application_name
from postgres_faults import connect, holder_processes, scalar, tagged_backends, wait_until

from chaoskit import FaultNotInForce
from chaoskit.testing import FaultTracker

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def query_starts(dsn: str, name: str) -> tuple[str, ...]:
    with connect(dsn) as connection:
        rows = connection.execute(
            "SELECT query_start::text FROM pg_stat_activity WHERE application_name = %s ORDER BY 1",
            [name],
        ).fetchall()
    return tuple(str(row[0]) for row in rows)


async def test_n_backends_sleep_until_revert(
    target: PostgresTarget, superuser_dsn: str, faults: FaultTracker
) -> None:
    sleep = 30.0
    fault = await faults.apply(SlowQueries(), target, {"backends": 5, "sleep": f"{sleep:g}s"})
    name = application_name(fault.tag)

    wait_until(
        lambda: tagged_backends(superuser_dsn, name, sleeping=True) == 5,
        what="5 tagged backends running pg_sleep",
    )
    await SlowQueries().verify(fault.ctx, fault.revert_state)

    started = time.monotonic()
    await fault.revert()
    took = time.monotonic() - started

    # Gone at once, not when the 30s sleeps would have ended by themselves.
    assert tagged_backends(superuser_dsn, name) == 0
    assert took < sleep / 3
    assert holder_processes(name) == []
    with pytest.raises(FaultNotInForce):
        await SlowQueries().verify(fault.ctx, fault.revert_state)


async def test_short_sleeps_loop(
    target: PostgresTarget, superuser_dsn: str, faults: FaultTracker
) -> None:
    fault = await faults.apply(SlowQueries(), target, {"backends": 2, "sleep": "50ms"})

    queries = []
    for _ in range(3):
        wait_until(
            lambda: tagged_backends(superuser_dsn, application_name(fault.tag), sleeping=True) >= 1,
            what="a sleeping backend",
        )
        queries.append(query_starts(superuser_dsn, application_name(fault.tag)))
        time.sleep(0.2)  # several 50ms queries later, still sleeping
    assert len(set(queries)) == 3, "each look saw new queries"
    await SlowQueries().verify(fault.ctx, fault.revert_state)


async def test_verify_sees_fewer_sleepers_than_asked(
    target: PostgresTarget, superuser_dsn: str, faults: FaultTracker
) -> None:
    fault = await faults.apply(SlowQueries(), target, {"backends": 3, "sleep": "30s"})
    wait_until(
        lambda: tagged_backends(superuser_dsn, application_name(fault.tag), sleeping=True) == 3
    )
    scalar(
        superuser_dsn,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = %s LIMIT 1",
        [application_name(fault.tag)],
    )
    wait_until(lambda: tagged_backends(superuser_dsn, application_name(fault.tag)) == 2)

    with pytest.raises(FaultNotInForce, match=r"2 backends .* expected 3"):
        await SlowQueries().verify(fault.ctx, fault.revert_state)


async def test_reverting_twice_and_from_json_is_harmless(
    target: PostgresTarget, superuser_dsn: str, faults: FaultTracker
) -> None:
    fault = await faults.apply(SlowQueries(), target, {"backends": 2, "sleep": "10s"})
    journaled = json.loads(json.dumps(fault.revert_state))

    await SlowQueries().revert(fault.ctx, journaled)
    await SlowQueries().revert(fault.ctx, journaled)

    assert tagged_backends(superuser_dsn, application_name(fault.tag)) == 0
