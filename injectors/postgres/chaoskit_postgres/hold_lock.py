"""``postgres.hold_lock``: a transaction that takes a row lock (``SELECT ...
FOR UPDATE``) or a table lock (``LOCK TABLE ... IN <mode> MODE``) and stays
idle in transaction for the fault's duration."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from psycopg import sql
from pydantic import Field, field_validator, model_validator

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
    holder_conninfo,
    milliseconds,
)

__all__ = ["HoldLock", "HoldLockParams"]

TableLockMode = Literal[
    "access share",
    "row share",
    "row exclusive",
    "share update exclusive",
    "share",
    "share row exclusive",
    "exclusive",
    "access exclusive",
]
RowLockStrength = Literal["update", "no key update", "share", "key share"]
_RELATION_MODE = {
    "update": "RowShareLock",
    "no key update": "RowShareLock",
    "share": "RowShareLock",
    "key share": "RowShareLock",
}
"""The table-level lock a ``SELECT ... FOR <strength>`` takes besides its row locks."""


def _table_lock_name(mode: str) -> str:
    """``share row exclusive`` → ``ShareRowExclusiveLock``, as pg_locks says it."""
    return "".join(word.capitalize() for word in mode.split()) + "Lock"


class HoldLockParams(HolderParams):
    """Give ``where`` for a row lock or ``mode`` for a table lock, not both."""

    table: str = Field(
        min_length=1,
        pattern=r"^[^.\s]+(\.[^.\s]+)?$",
        examples=["accounts", "public.accounts"],
        description="the table, as name or schema.name; matched exactly (no case folding)",
    )
    where: str | None = Field(
        default=None,
        min_length=1,
        examples=["id = 1"],
        description="SQL condition of the rows to lock: SELECT ... WHERE <where> FOR <row_lock>",
    )
    row_lock: RowLockStrength = Field(
        default="update", description="the row lock strength, with where"
    )
    mode: TableLockMode | None = Field(
        default=None,
        description="a table lock instead: LOCK TABLE <table> IN <mode> MODE",
    )

    @field_validator("row_lock", "mode", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return " ".join(value.lower().split()) if isinstance(value, str) else value

    @field_validator("where")
    @classmethod
    def _one_condition(cls, value: str | None) -> str | None:
        if value is not None and ";" in value:
            raise ValueError("expected one SQL condition, like 'id = 1', without ';'")
        return value

    @model_validator(mode="after")
    def _row_or_table(self) -> Self:
        if (self.where is None) == (self.mode is None):
            raise ValueError(
                "give either where (a row lock, like where: 'id = 1') or mode "
                "(a table lock, like mode: access exclusive), not both and not neither"
            )
        return self

    @property
    def table_parts(self) -> list[str]:
        return self.table.split(".")


class HoldLock(HolderInjector):
    """Holds a lock in an open transaction, so that conflicting statements wait
    (or fail on their ``lock_timeout``). The transaction disables its own
    ``idle_in_transaction_session_timeout``. Revert ends the transaction by
    ending its backend; nothing it locked was changed."""

    name: ClassVar[str] = "postgres.hold_lock"
    params: ClassVar[type[Params]] = HoldLockParams

    def holder_spec(self, ctx: FaultContext) -> dict[str, JsonValue]:
        params = params_as(ctx.params, HoldLockParams)
        table = sql.Identifier(*params.table_parts)
        if params.mode is not None:
            statement = sql.SQL("LOCK TABLE {} IN {} MODE").format(
                table, sql.SQL(params.mode.upper())
            )
        else:
            statement = sql.SQL("SELECT 1 FROM {} WHERE {} FOR {}").format(
                table, sql.SQL(params.where or "true"), sql.SQL(params.row_lock.upper())
            )
        budget = milliseconds(params.open_timeout)
        conninfo = holder_conninfo(
            ctx,
            lock_timeout=budget,
            statement_timeout=budget + 500,  # lock_timeout first: its error says what happened
            # The server's own limit would end the fault early, unseen by the runner.
            idle_in_transaction_session_timeout=0,
        )
        return {
            "mode": "lock",
            "conninfo": conninfo,
            "statement": statement.as_string(None),
            "row_lock": params.mode is None,
            "table": params.table,
            "where": params.where,
        }

    def _relation(self, ctx: FaultContext, connection: Connection) -> str:
        params = params_as(ctx.params, HoldLockParams)
        return sql.Identifier(*params.table_parts).as_string(connection)

    async def check_ready(self, ctx: FaultContext, connection: Connection) -> None:
        params = params_as(ctx.params, HoldLockParams)
        cursor = await connection.execute(
            "SELECT to_regclass(%s) IS NOT NULL", [self._relation(ctx, connection)]
        )
        row = await cursor.fetchone()
        if not row or not row[0]:
            raise InjectorError(f"table {params.table!r} does not exist (names are case-sensitive)")

    async def check_in_force(
        self, ctx: FaultContext, connection: Connection, state: HolderRevertState
    ) -> None:
        params = params_as(ctx.params, HoldLockParams)
        wanted = _table_lock_name(params.mode) if params.mode else _RELATION_MODE[params.row_lock]
        cursor = await connection.execute(
            """
            SELECT a.state, l.mode
            FROM pg_stat_activity a
            LEFT JOIN pg_locks l
              ON l.pid = a.pid AND l.granted AND l.locktype = 'relation'
             AND l.relation = to_regclass(%s) AND l.mode = %s
            WHERE a.application_name = %s AND a.pid <> pg_backend_pid()
            """,
            [self._relation(ctx, connection), wanted, state.application_name],
        )
        rows = await cursor.fetchall()
        if not rows:
            raise FaultNotInForce(f"no backend tagged {state.application_name!r}")
        if not any(mode for _, mode in rows):
            raise FaultNotInForce(
                f"the backend tagged {state.application_name!r} holds no {wanted} on "
                f"{params.table!r} (state {rows[0][0]!r})"
            )
