"""The ``sql`` probe against a real PostgreSQL 15: values, row counts, and
failures (refused connections, SQL errors, slow queries) as observations."""

from __future__ import annotations

from typing import Any

import pytest
import structlog
from chaoskit_postgres import ExhaustConnections, PostgresTarget, SqlExpect, SqlParams, SqlProbe
from pg_server import PgServer

from chaoskit import Observation, ProbeContext
from chaoskit._resources import RunResources
from chaoskit.testing import FaultTracker

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def observe(
    target: PostgresTarget, query: str, expect: dict[str, Any] | None = None, timeout: float = 3.0
) -> Observation:
    resources = RunResources()
    try:
        ctx = ProbeContext(
            probe_name="db",
            params=SqlParams(target="db", query=query),
            expect=SqlExpect.model_validate(expect or {}),
            timeout=timeout,
            target=target,
            log=structlog.get_logger(),
            resources=resources,
        )
        return await SqlProbe().observe(ctx)
    finally:
        await resources.aclose()


async def test_value_and_rows(app_target: PostgresTarget) -> None:
    seen = await observe(app_target, "select id from accounts order by id", {"rows": 3, "value": 1})

    assert seen == Observation(ok=True, value={"rows": 3, "value": 1})


async def test_numeric_comparison_of_the_first_value(app_target: PostgresTarget) -> None:
    total = "select sum(balance) from accounts"  # numeric: a Decimal, judged as a number

    assert (await observe(app_target, total, {"value_is": "== 600"})).ok
    assert (await observe(app_target, total, {"value": 600})).ok
    seen = await observe(app_target, total, {"value_is": "< 100"})
    assert not seen.ok
    assert seen.detail == "value 600, expected < 100"


@pytest.mark.parametrize(
    ("query", "expect", "detail"),
    [
        ("select 'x'", {"value": "y"}, "value 'x', expected 'y'"),
        ("select 'x'", {"value_is": "> 1"}, "value 'x' is not a number, expected > 1"),
        ("select 1 where false", {"rows": ">= 1"}, "0 rows, expected >= 1"),
        ("select 1 where false", {"value": 1}, "no value, expected 1"),
    ],
)
async def test_wrong_answers_say_why(
    app_target: PostgresTarget, query: str, expect: dict[str, Any], detail: str
) -> None:
    seen = await observe(app_target, query, expect)

    assert not seen.ok
    assert seen.detail == detail


async def test_non_json_values_become_json(app_target: PostgresTarget) -> None:
    seen = await observe(app_target, "select date '2024-02-29'")

    assert seen.ok
    assert seen.value == {"rows": 1, "value": "2024-02-29"}


async def test_an_sql_error_is_an_observation(app_target: PostgresTarget) -> None:
    seen = await observe(app_target, "select * from no_such_table")

    assert not seen.ok
    assert seen.detail.startswith('query failed: [42P01] relation "no_such_table" does not exist')


async def test_a_slow_query_is_cut_at_the_sample_budget(app_target: PostgresTarget) -> None:
    seen = await observe(app_target, "select pg_sleep(10)", timeout=0.5)

    assert not seen.ok
    assert "statement timeout" in seen.detail or "no answer within 0.5s" in seen.detail


async def test_a_refused_connection_is_an_observation(pg: PgServer) -> None:
    nowhere = PostgresTarget(dsn=pg.dsn("no_such_role", "chaos"), connect_timeout="2s")

    seen = await observe(nowhere, "select 1")

    assert not seen.ok
    assert seen.detail.startswith("cannot connect:")
    assert 'role "no_such_role" does not exist' in seen.detail


async def test_the_probe_sees_an_exhausted_pool(
    target: PostgresTarget, app_target: PostgresTarget, faults: FaultTracker
) -> None:
    assert (await observe(app_target, "select 1", {"value": 1})).ok

    fault = await faults.apply(ExhaustConnections(), target, {"keep_free": 0})
    seen = await observe(app_target, "select 1", {"value": 1})

    assert not seen.ok
    assert "remaining connection slots are reserved" in seen.detail
    await fault.revert()
    assert (await observe(app_target, "select 1", {"value": 1})).ok
