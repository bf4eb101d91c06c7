"""The ``sql`` load kind: one SQL statement per request on a ``postgres``
target, in autocommit, over a connection pool kept for the run. What the
client learnt becomes the write's outcome (acknowledged / failed /
indeterminate) in the write ledger."""

from __future__ import annotations

import logging
import math
import re
import time
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import psycopg
from psycopg.conninfo import make_conninfo
from pydantic import Field, field_validator

from chaoskit import LoadContext, Outcome, Params, PluginError
from chaoskit_postgres._connect import closed_by_server, describe_error, with_session_settings
from chaoskit_postgres.target import PostgresTarget

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    Pool = AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]]

__all__ = ["SqlLoad", "SqlLoadParams", "classify_error"]

PLACEHOLDERS = ("id", "seq")
ANSWER_GRACE = 0.25
"""How long past its budget a request waits for the server's own
``statement_timeout`` error, which says for certain that nothing was done."""
RECONNECT_WINDOW = 2.0
"""psycopg_pool backs off exponentially while a server is down (1 s, 2 s, 4 s
... for five minutes by default): a load generator would keep failing long
after the server is back. A short window makes the pool give up a dead slot
quickly and open a fresh one, first try immediate, when the next request
waits: the pool tries again about every second while requests come."""
INDETERMINATE_CLASSES = ("08", "57P", "58", "XX", "40003")
"""SQLSTATE prefixes after which a statement may or may not have committed:
connection exceptions, the backend terminated (operator intervention, crash,
shutdown), system and internal errors, ``statement_completion_unknown``. Any
other SQLSTATE comes from a live backend whose autocommit statement was rolled
back: a definite failure (57014 ``query_canceled`` too: statement_timeout)."""

_TOKEN = re.compile(r"%(?:%|\((?P<name>[^()%]*)\)[sbt]|.?)", re.DOTALL)

# psycopg_pool logs every failed connection attempt as a warning. Without a
# handler anywhere on the way up, Python's last-resort handler would print
# each one on stderr, between the run's own log lines. An application that
# configures logging still gets them through its root handlers.
logging.getLogger("psycopg").addHandler(logging.NullHandler())


def unknown_placeholders(query: str) -> list[str]:
    """The ``%`` sequences of ``query`` that are neither ``%%`` nor a known
    named placeholder (``%(id)s``, ``%(seq)s``; ``b`` and ``t`` formats too)."""
    bad = []
    for match in _TOKEN.finditer(query):
        name = match.group("name")
        if match.group(0) == "%%" or (name is not None and name in PLACEHOLDERS):
            continue
        bad.append(match.group(0))
    return bad


class SqlLoadParams(Params):
    target: str = Field(min_length=1, description="name of a postgres target")
    query: str = Field(
        min_length=1,
        examples=["insert into transfers (id, amount) values (%(id)s, 10)"],
        description=(
            "one SQL statement, run in autocommit on a pooled connection; %(id)s is the "
            "write id (text), %(seq)s the request's number; write a literal % as %%"
        ),
    )
    pool_size: int = Field(
        default=10,
        ge=1,
        le=1000,
        description=(
            "connections this stream keeps open to the target; a request waits for a free "
            "one within its timeout"
        ),
    )

    @field_validator("query")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        if bad := unknown_placeholders(value):
            raise ValueError(
                f"unknown placeholder(s) {sorted(set(bad))}; use %(id)s and %(seq)s, "
                "and write a literal % as %%"
            )
        return value


def classify_error(exc: psycopg.Error) -> Outcome:
    """The outcome of a statement that raised ``exc`` once it had been sent."""
    detail = describe_error(exc)
    sqlstate = exc.sqlstate
    if sqlstate is None:
        if isinstance(exc, psycopg.OperationalError):
            # libpq lost the connection while it waited for the answer
            return Outcome("indeterminate", None, f"connection lost: {detail}")
        # raised by psycopg before sending (a parameter it could not adapt)
        return Outcome("failed", None, detail)
    if sqlstate.startswith(INDETERMINATE_CLASSES):
        return Outcome("indeterminate", None, detail)
    return Outcome("failed", None, detail)


class SqlLoad:
    """Runs ``query`` once per request with ``id`` and ``seq`` as parameters.

    Each stream keeps a pool of ``pool_size`` connections to its target for
    the run (closed when the run ends). A request takes a free connection,
    waiting at most its timeout for one, and runs the statement under a
    server-side ``statement_timeout`` of the stream's timeout; the whole
    request is cut at the remaining budget plus a quarter second. Outcomes:

    * acknowledged: the statement completed (committed, autocommit);
    * failed: no connection in time (server down, refused, pool busy), a
      statement never sent, or an SQL error from a live backend (unique
      violation, statement_timeout, deadlock ...): it was rolled back;
    * indeterminate: the connection was lost or the backend terminated while
      the statement ran, or no answer came in time: it may have committed.
    """

    name: ClassVar[str] = "sql"
    params: ClassVar[type[Params]] = SqlLoadParams
    enforces_timeout: ClassVar[bool] = True
    """The pool wait and the statement are bounded by ctx.timeout (+0.25 s)."""

    async def warm_up(self) -> None:
        """Import the pool before the load starts, so no request pays for it."""
        import psycopg_pool  # noqa: F401

    async def send(self, ctx: LoadContext) -> Outcome:
        from psycopg_pool import PoolClosed, PoolTimeout

        params, target = _checked(ctx)
        started = time.monotonic()
        deadline = started + ctx.timeout
        pool = await ctx.resources.get(
            f"load.sql.pool.{ctx.stream}.{params.target}.{params.pool_size}",
            lambda: _new_pool(ctx.stream, params, target, ctx.timeout),
        )
        try:
            connection = await _checkout(pool, deadline)
        except PoolTimeout:
            errors = pool.get_stats().get("connections_errors", 0)
            cause = f"; {errors} connection attempts failed so far" if errors else ""
            return Outcome("failed", None, f"no pooled connection within {ctx.timeout:g}s{cause}")
        except PoolClosed:
            return Outcome("failed", None, "the connection pool is closed")
        left = deadline - time.monotonic()
        if left <= 0:
            with anyio.CancelScope(shield=True):
                await pool.putconn(connection)
            return Outcome("failed", None, f"no pooled connection within {ctx.timeout:g}s")
        try:
            with anyio.move_on_after(left + ANSWER_GRACE) as scope:
                await connection.execute(params.query, {"id": ctx.write_id, "seq": ctx.seq})
        except psycopg.Error as exc:
            return classify_error(exc)
        except OSError as exc:
            return Outcome("indeterminate", None, f"{type(exc).__name__}: {exc}")
        finally:
            # A connection cut mid-statement is closed by now: the pool drops it.
            with anyio.CancelScope(shield=True):
                await pool.putconn(connection)
        if scope.cancelled_caught:
            return Outcome("indeterminate", None, f"no answer within {ctx.timeout:g}s")
        return Outcome("acknowledged")


def _checked(ctx: LoadContext) -> tuple[SqlLoadParams, PostgresTarget]:
    params = ctx.params
    if not isinstance(params, SqlLoadParams):
        raise PluginError(f"load stream {ctx.stream!r} (sql) got parameters of another kind")
    if not isinstance(ctx.target, PostgresTarget):
        found = "no such target" if ctx.target is None else f"a {ctx.target.kind} target"
        raise PluginError(
            f"load stream {ctx.stream!r} (sql) needs a postgres target; "
            f"{params.target!r} is {found}"
        )
    return params, ctx.target


def _new_pool(stream: str, params: SqlLoadParams, target: PostgresTarget, timeout: float) -> Pool:
    from psycopg_pool import AsyncConnectionPool

    conninfo = make_conninfo(
        with_session_settings(target.dsn, statement_timeout=max(1, math.ceil(timeout * 1000))),
        fallback_application_name=f"chaoskit-load-{stream}"[:63],
    )
    pool: Pool = AsyncConnectionPool(
        conninfo,
        min_size=params.pool_size,
        max_size=params.pool_size,
        kwargs={"autocommit": True, "connect_timeout": max(2, math.ceil(target.connect_timeout))},
        open=False,  # opened (without waiting for connections) when the run enters it
        timeout=timeout,
        reconnect_timeout=RECONNECT_WINDOW,
        name=f"chaoskit-load-{stream}",
    )
    return pool


async def _checkout(pool: Pool, deadline: float) -> psycopg.AsyncConnection[tuple[Any, ...]]:
    """A live connection from the pool, waiting until ``deadline`` at most.

    Connections the server closed while they sat in the pool are handed back
    (the pool replaces them) instead of being used: a statement sent on one
    would fail with an error that cannot tell whether it was received."""
    from psycopg_pool import PoolTimeout

    for _ in range(pool.max_size + 1):
        connection = await pool.getconn(timeout=max(0.001, deadline - time.monotonic()))
        if not await closed_by_server(connection):
            return connection
        await pool.putconn(connection)
    raise PoolTimeout("every pooled connection was closed by the server")
