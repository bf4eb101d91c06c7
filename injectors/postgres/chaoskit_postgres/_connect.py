"""Short-lived connections for injectors and probes, each bounded in time.

Every connection here is opened for one call and closed before it returns:
injector instances are stateless, and a probe must see a database that stops
accepting new connections. Each one carries a ``statement_timeout`` (sent in
the startup packet, so it costs no round trip) and the whole exchange runs
under an anyio deadline, which cancels the query on the server if it fires.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chaoskit import InjectorError

__all__ = [
    "TOO_MANY_CONNECTIONS",
    "admin_error",
    "closed_by_server",
    "connection_refused_for_slots",
    "describe_error",
    "open_connection",
    "server_label",
    "with_session_settings",
]

TOO_MANY_CONNECTIONS = (
    "too many clients already",
    "remaining connection slots are reserved",
)
"""How PostgreSQL refuses a connection when no slot is left (SQLSTATE 53300).
libpq gives no SQLSTATE for a refused start-up, so the text is all there is."""


def server_label(dsn: str) -> str:
    """``user@host:port/dbname`` of a connection string, without its password:
    safe for logs, errors and revert states."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparseable dsn>"
    user = params.get("user") or "<default user>"
    host = params.get("host") or params.get("hostaddr") or "<default host>"
    port = params.get("port") or "5432"
    dbname = params.get("dbname") or user
    return f"{user}@{host}:{port}/{dbname}"


def with_session_settings(dsn: str, **settings: str | int) -> str:
    """``dsn`` with ``-c name=value`` added to its ``options`` (kept, not replaced)."""
    params = conninfo_to_dict(dsn)
    extra = " ".join(f"-c {name}={value}" for name, value in settings.items())
    options = f"{params.get('options') or ''} {extra}".strip()
    return make_conninfo(dsn, options=options)


def _milliseconds(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def describe_error(exc: BaseException) -> str:
    """One line for an operator: SQLSTATE when the server sent one, then the message."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    sqlstate = getattr(exc, "sqlstate", None)
    return f"[{sqlstate}] {message}" if sqlstate else message


def connection_refused_for_slots(exc: BaseException) -> bool:
    """Whether a failed connect was PostgreSQL saying it has no slot left."""
    text = str(exc)
    return any(marker in text for marker in TOO_MANY_CONNECTIONS)


async def closed_by_server(connection: psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle connection is dead: closed here, or ended by the server
    while it sat in a pool (``pg_terminate_backend``, a restart). A connection
    found dead is closed.

    No round trip: libpq reads whatever waits on the socket without blocking
    (an async connection's socket is non-blocking) and parses it. A backend
    ending an idle session first sends a FATAL error, which libpq hands to the
    notice handlers, then closes the socket, which the read reports. A
    connection cut silently (a partition) still looks alive: only a query
    can tell."""
    if connection.closed:
        return True
    parting: list[str] = []

    def notice(diagnostic: psycopg.errors.Diagnostic) -> None:
        parting.append(diagnostic.severity_nonlocalized or diagnostic.severity or "")

    connection.add_notice_handler(notice)
    try:
        connection.pgconn.consume_input()
        connection.pgconn.is_busy()  # parses what arrived: a FATAL goes to the handlers
    except psycopg.OperationalError:
        return True
    finally:
        connection.remove_notice_handler(notice)
    if connection.pgconn.status != pq.ConnStatus.OK:
        return True
    if any(severity in ("FATAL", "PANIC") for severity in parting):
        await connection.close()
        return True
    return False


@asynccontextmanager
async def open_connection(
    dsn: str,
    *,
    connect_timeout: float,
    statement_timeout: float,
    application_name: str | None = None,
    autocommit: bool = True,
) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    """A new connection, closed on exit. Connect errors propagate as psycopg's
    ``OperationalError``; the connect itself is bounded by ``connect_timeout``
    (``TimeoutError`` after it)."""
    conninfo = with_session_settings(dsn, statement_timeout=_milliseconds(statement_timeout))
    if application_name is not None:
        conninfo = make_conninfo(conninfo, application_name=application_name)
    with anyio.fail_after(connect_timeout):
        connection = await psycopg.AsyncConnection.connect(
            conninfo,
            connect_timeout=max(1, math.ceil(connect_timeout)),
            autocommit=autocommit,
        )
    try:
        yield connection
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await connection.close()


def admin_error(action: str, label: str, exc: BaseException) -> InjectorError:
    """An InjectorError naming the server and what we asked of it."""
    if isinstance(exc, TimeoutError):
        return InjectorError(f"PostgreSQL at {label} did not answer in time while {action}")
    return InjectorError(f"PostgreSQL at {label}: {action} failed: {describe_error(exc)}")
