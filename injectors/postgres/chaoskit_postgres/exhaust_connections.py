"""``postgres.exhaust_connections``: take every connection slot an ordinary
role may use, but ``keep_free``, and hold them for the fault's duration."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chaoskit import (
    FaultContext,
    FaultNotInForce,
    InjectorError,
    JsonValue,
    Params,
    params_as,
)
from chaoskit_postgres._base import (
    Connection,
    HolderInjector,
    HolderParams,
    HolderRevertState,
    count_tagged,
    holder_conninfo,
    milliseconds,
)

__all__ = ["ExhaustConnections", "ExhaustConnectionsParams", "usable_slots"]

SLOTS_QUERY = """
SELECT current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int,
       coalesce(current_setting('reserved_connections', true), '0')::int,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int
"""


class ExhaustConnectionsParams(HolderParams):
    keep_free: int = Field(
        default=3,
        ge=0,
        description=(
            "slots to leave free for ordinary roles: 0 makes the next ordinary connection fail "
            "with 'remaining connection slots are reserved'"
        ),
    )
    max_open: int = Field(
        default=500,
        ge=1,
        description="refuse to open more connections than this (a server with a huge limit)",
    )


async def usable_slots(connection: Connection) -> tuple[int, int]:
    """(slots ordinary roles may use: max_connections minus the reserved ones,
    client backends in use besides ``connection``)."""
    cursor = await connection.execute(SLOTS_QUERY)
    row = await cursor.fetchone()
    if row is None:
        raise InjectorError("pg_stat_activity returned nothing")
    max_connections, superuser_reserved, reserved, in_use = (int(str(v)) for v in row)
    return max_connections - superuser_reserved - reserved, in_use - 1


class ExhaustConnections(HolderInjector):
    """Opens connections, all tagged with the fault's ``application_name``, until
    ``max_connections - superuser_reserved_connections - keep_free`` client
    backends are in use (those already in use count), and holds them idle.
    Revert closes them and ends any tagged backend left."""

    name: ClassVar[str] = "postgres.exhaust_connections"
    params: ClassVar[type[Params]] = ExhaustConnectionsParams
    refusal_means_in_force = True

    def holder_spec(self, ctx: FaultContext) -> dict[str, JsonValue]:
        params = params_as(ctx.params, ExhaustConnectionsParams)
        return {
            "mode": "connections",
            "first": holder_conninfo(ctx, statement_timeout=milliseconds(params.open_timeout)),
            "conninfo": holder_conninfo(ctx),
            "slots_query": SLOTS_QUERY,
            "keep_free": params.keep_free,
            "max_open": params.max_open,
        }

    async def check_ready(self, ctx: FaultContext, connection: Connection) -> None:
        params = params_as(ctx.params, ExhaustConnectionsParams)
        usable, in_use = await usable_slots(connection)
        wanted = usable - params.keep_free - in_use
        if wanted > params.max_open:
            raise InjectorError(
                f"exhausting the pool needs {wanted} connections ({in_use} of {usable} usable "
                f"slots in use), more than max_open={params.max_open}; raise max_open or keep_free"
            )
        if wanted <= 0:
            ctx.log.warning(
                "postgres.pool_already_full",
                usable=usable,
                in_use=in_use,
                keep_free=params.keep_free,
            )

    async def check_in_force(
        self, ctx: FaultContext, connection: Connection, state: HolderRevertState
    ) -> None:
        held = await count_tagged(connection, state.application_name)
        if held < state.backends:
            raise FaultNotInForce(
                f"{held} backends tagged {state.application_name!r}, the fault opened "
                f"{state.backends}"
            )
