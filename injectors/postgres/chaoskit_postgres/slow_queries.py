"""``postgres.slow_queries``: a bounded storm of ``pg_sleep`` queries that keeps
``backends`` backends busy for the fault's duration."""

from __future__ import annotations

from typing import ClassVar

import anyio
from pydantic import Field

from chaoskit import (
    Duration,
    FaultContext,
    FaultNotInForce,
    JsonValue,
    Params,
    params_as,
)
from chaoskit_postgres._base import (
    Connection,
    HolderInjector,
    HolderParams,
    HolderRevertState,
    holder_conninfo,
    milliseconds,
)

__all__ = ["SlowQueries", "SlowQueriesParams", "count_sleeping"]

VERIFY_SAMPLES = 5
VERIFY_INTERVAL = 0.1


class SlowQueriesParams(HolderParams):
    backends: int = Field(
        default=4, ge=1, le=500, description="how many backends run pg_sleep at once"
    )
    sleep: Duration = Field(
        default=1.0, gt=0, description="how long each pg_sleep query lasts; each backend loops"
    )


async def count_sleeping(connection: Connection, application_name: str) -> int:
    """Backends tagged ``application_name`` that are running pg_sleep right now."""
    cursor = await connection.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
        "AND state = 'active' AND query ILIKE '%%pg_sleep%%' AND pid <> pg_backend_pid()",
        [application_name],
    )
    row = await cursor.fetchone()
    return int(str(row[0])) if row else 0


class SlowQueries(HolderInjector):
    """Opens ``backends`` tagged connections, each running ``SELECT pg_sleep(sleep)``
    back to back, so that they occupy backends (and CPU slots, connection
    slots and pool capacity) like slow queries would. Revert cancels them and
    ends every tagged backend — a sleeping backend does not notice its client
    going away until the sleep ends."""

    name: ClassVar[str] = "postgres.slow_queries"
    params: ClassVar[type[Params]] = SlowQueriesParams

    def holder_spec(self, ctx: FaultContext) -> dict[str, JsonValue]:
        params = params_as(ctx.params, SlowQueriesParams)
        # A statement_timeout well beyond the sleep: bounded, yet never the one that ends it.
        limit = milliseconds(params.sleep * 2 + 5)
        return {
            "mode": "sleep",
            "conninfo": holder_conninfo(ctx, statement_timeout=limit),
            "statement": f"SELECT pg_sleep({params.sleep!r})",
            "backends": params.backends,
        }

    async def check_in_force(
        self, ctx: FaultContext, connection: Connection, state: HolderRevertState
    ) -> None:
        params = params_as(ctx.params, SlowQueriesParams)
        # Between two queries a backend is idle for a moment: take the best of a few looks.
        best = 0
        for _ in range(VERIFY_SAMPLES):
            best = max(best, await count_sleeping(connection, state.application_name))
            if best >= params.backends:
                return
            await anyio.sleep(VERIFY_INTERVAL)
        raise FaultNotInForce(
            f"{best} backends tagged {state.application_name!r} are running pg_sleep, "
            f"expected {params.backends}"
        )
