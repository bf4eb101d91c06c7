"""The ``sql`` probe: run a query on a ``postgres`` target over a new connection
and judge the row count or the first value."""

from __future__ import annotations

import datetime
import decimal
import math
import uuid
from typing import ClassVar

import anyio
import psycopg
from pydantic import Field

from chaoskit import (
    Expect,
    JsonValue,
    NumberThreshold,
    Observation,
    Params,
    PluginError,
    ProbeContext,
)
from chaoskit_postgres._connect import describe_error, open_connection
from chaoskit_postgres.target import PostgresTarget

__all__ = ["SqlExpect", "SqlParams", "SqlProbe", "json_value"]


class SqlParams(Params):
    target: str = Field(min_length=1, description="name of a postgres target")
    query: str = Field(
        min_length=1,
        examples=["select count(*) from transfers"],
        description=(
            "SQL to run on a new connection, in autocommit, cut by a statement_timeout "
            "of the sample's budget"
        ),
    )


class SqlExpect(Expect):
    rows: NumberThreshold | None = None
    """A bound on the number of rows returned (or affected), like ``>= 1``."""
    value: JsonValue = None
    """The first column of the first row must equal this (null: not checked)."""
    value_is: NumberThreshold | None = None
    """A numeric comparison of the first column of the first row, like ``< 100``."""


def json_value(value: object) -> JsonValue:
    """A database value as JSON: numbers stay numbers, times become ISO strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def _number(value: JsonValue) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _judge(expect: SqlExpect, rows: int, first: JsonValue, has_value: bool) -> list[str]:
    problems: list[str] = []
    if expect.rows is not None and not expect.rows.holds(rows):
        problems.append(f"{rows} rows, expected {expect.rows}")
    if expect.value is not None:
        if not has_value:
            problems.append(f"no value, expected {expect.value!r}")
        elif first != expect.value:
            problems.append(f"value {first!r}, expected {expect.value!r}")
    if expect.value_is is not None:
        number = _number(first) if has_value else None
        if number is None:
            problems.append(f"value {first!r} is not a number, expected {expect.value_is}")
        elif not expect.value_is.holds(number):
            problems.append(f"value {first!r}, expected {expect.value_is}")
    return problems


class SqlProbe:
    """Connects anew for every sample (with the target's ``connect_timeout``),
    so that it sees what a new client sees — a pool exhausted, a server
    refusing — and runs ``query`` in autocommit with a ``statement_timeout`` of
    the sample's budget. The value is ``{"rows": N, "value": first column of the
    first row}``. A failed connection or query is a failed observation."""

    name: ClassVar[str] = "sql"
    params: ClassVar[type[Params]] = SqlParams
    expect: ClassVar[type[Expect]] = SqlExpect

    async def observe(self, ctx: ProbeContext) -> Observation:
        target, params, expect = ctx.target, ctx.params, ctx.expect
        if not isinstance(target, PostgresTarget):
            raise PluginError(
                f"probe {ctx.probe_name!r} (sql) needs a postgres target, "
                f"got {type(target).__name__}"
            )
        if not isinstance(params, SqlParams) or not isinstance(expect, SqlExpect):
            raise PluginError(f"probe {ctx.probe_name!r} got parameters of another kind")
        budget = ctx.timeout
        stage = "connecting"
        rows, first, has_value = 0, None, False
        with anyio.move_on_after(budget) as scope:
            try:
                async with open_connection(
                    target.dsn,
                    connect_timeout=min(target.connect_timeout, budget),
                    statement_timeout=budget,
                ) as connection:
                    stage = "querying"
                    cursor = await connection.execute(params.query)
                    rows = max(cursor.rowcount, 0)
                    if cursor.description:
                        row = await cursor.fetchone()
                        if row is not None and len(row) > 0:
                            first, has_value = json_value(row[0]), True
            except TimeoutError:
                return Observation(
                    ok=False,
                    detail=f"no connection within {min(target.connect_timeout, budget):g}s",
                )
            except psycopg.Error as exc:
                verb = "cannot connect" if stage == "connecting" else "query failed"
                return Observation(ok=False, detail=f"{verb}: {describe_error(exc)}")
        if scope.cancelled_caught:
            return Observation(ok=False, detail=f"no answer within {budget:g}s while {stage}")
        value: JsonValue = {"rows": rows, "value": first}
        problems = _judge(expect, rows, first, has_value)
        return Observation(ok=not problems, value=value, detail="; ".join(problems))
