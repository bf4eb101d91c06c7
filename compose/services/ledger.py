"""ledger — the lab's system under test: transfers over HTTP, stored in PostgreSQL.

    POST /transfers {"id": str|int, "amount": int}
        201 {"id": ...}               acknowledged (stored, or buffered in before_commit mode)
        200 {"id": ..., "duplicate": true}   the id was already stored (an idempotent retry)
        400 bad body · 503 pool timeout / database unavailable · 504 statement timeout
    GET /transfers/{id}   200 {"id": ..., "amount": ...} or 404
    GET /health           200 when `select 1` through the pool answers within
                          LEDGER_HEALTH_TIMEOUT, else 503
    GET /stats            the ledger's own counts: accepted, acknowledged, dropped, buffered,
                          flushed, failed — the ground truth behind the data-loss knobs

Writes go through a bounded psycopg pool to LEDGER_DSN (in the lab: a Toxiproxy proxy in front
of PostgreSQL). Every knob is an environment variable; ``KNOBS`` lists them with their defaults.
Runs the same as a local process and in a container; logs JSON lines to stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from aiohttp import web
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

if TYPE_CHECKING:
    from psycopg.rows import TupleRow

SERVICE = "ledger"

#: name -> (default, meaning). The lab's knob table (chaoskit/lab/knobs.py) mirrors this.
KNOBS: dict[str, tuple[str, str]] = {
    "LEDGER_HOST": ("127.0.0.1", "address to listen on"),
    "LEDGER_PORT": ("18100", "port to listen on"),
    "LEDGER_DSN": (
        "postgresql://ledger:ledger@127.0.0.1:15432/ledger",
        "PostgreSQL to write to (in the lab: the ledger_postgres Toxiproxy proxy)",
    ),
    "LEDGER_POOL_SIZE": ("10", "connections in the pool (fixed size)"),
    "LEDGER_POOL_TIMEOUT": ("2.0", "seconds a request waits for a pooled connection"),
    "LEDGER_STATEMENT_TIMEOUT": ("5.0", "server-side statement_timeout, seconds (0: none)"),
    "LEDGER_CONNECT_TIMEOUT": ("3", "libpq connect_timeout, whole seconds (0: none)"),
    "LEDGER_RETRIES": ("1", "extra attempts after a connection error (not after timeouts)"),
    "LEDGER_ACK_MODE": (
        "after_commit",
        "after_commit, or before_commit: acknowledge at once and flush from a memory buffer",
    ),
    "LEDGER_FLUSH_INTERVAL": ("0.5", "before_commit: seconds between buffer flushes"),
    "LEDGER_DROP_EVERY_N": (
        "0",
        "acknowledge but do not store write requests number N, 2N, ... (0: off)",
    ),
    "LEDGER_STARTUP_DELAY": ("0", "seconds to wait before anything else at start"),
    "LEDGER_HEALTH_TIMEOUT": ("1.0", "seconds /health waits for `select 1`"),
    "LEDGER_DB_WAIT": ("60", "seconds to keep trying the database at start before exiting 1"),
}

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS transfers (
    id text PRIMARY KEY,
    amount bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = "INSERT INTO transfers (id, amount) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING"
SELECT = "SELECT id, amount FROM transfers WHERE id = %s"
MAX_ID_LENGTH = 200
FLUSH_BATCH = 500
SHUTDOWN_FLUSH_SECONDS = 5.0


def log(event: str, **fields: Any) -> None:
    """One JSON line on stdout."""
    record = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "service": SERVICE,
        "event": event,
        **fields,
    }
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


class _JsonLogHandler(logging.Handler):
    """Library logs (psycopg_pool's reconnect warnings, aiohttp's errors) as JSON lines too."""

    def emit(self, record: logging.LogRecord) -> None:
        log("library", logger=record.name, level=record.levelname, message=record.getMessage())


class ConfigError(ValueError):
    """A knob has a value the service cannot use."""


@dataclass(frozen=True)
class Config:
    host: str
    port: int
    dsn: str
    pool_size: int
    pool_timeout: float
    statement_timeout: float
    connect_timeout: int
    retries: int
    ack_mode: str
    flush_interval: float
    drop_every_n: int
    startup_delay: float
    health_timeout: float
    db_wait: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        def raw(name: str) -> str:
            value = env.get(name, "").strip()
            return value or KNOBS[name][0]

        def number(name: str, kind: type[int] | type[float], minimum: float) -> Any:
            try:
                value = kind(raw(name))
            except ValueError:
                raise ConfigError(f"{name}={raw(name)!r}: expected a number") from None
            if value < minimum:
                raise ConfigError(f"{name}={value}: must be at least {minimum}")
            return value

        ack_mode = raw("LEDGER_ACK_MODE")
        if ack_mode not in ("after_commit", "before_commit"):
            raise ConfigError(
                f"LEDGER_ACK_MODE={ack_mode!r}: expected after_commit or before_commit"
            )
        return cls(
            host=raw("LEDGER_HOST"),
            port=number("LEDGER_PORT", int, 1),
            dsn=raw("LEDGER_DSN"),
            pool_size=number("LEDGER_POOL_SIZE", int, 1),
            pool_timeout=number("LEDGER_POOL_TIMEOUT", float, 0.001),
            statement_timeout=number("LEDGER_STATEMENT_TIMEOUT", float, 0),
            connect_timeout=number("LEDGER_CONNECT_TIMEOUT", int, 0),
            retries=number("LEDGER_RETRIES", int, 0),
            ack_mode=ack_mode,
            flush_interval=number("LEDGER_FLUSH_INTERVAL", float, 0.001),
            drop_every_n=number("LEDGER_DROP_EVERY_N", int, 0),
            startup_delay=number("LEDGER_STARTUP_DELAY", float, 0),
            health_timeout=number("LEDGER_HEALTH_TIMEOUT", float, 0.001),
            db_wait=number("LEDGER_DB_WAIT", float, 0),
        )

    def connect_kwargs(self) -> dict[str, Any]:
        """Per-connection settings: autocommit (each INSERT commits), the statement timeout,
        a name that shows in pg_stat_activity."""
        kwargs: dict[str, Any] = {"autocommit": True, "application_name": SERVICE}
        if self.statement_timeout > 0:
            kwargs["options"] = f"-c statement_timeout={round(self.statement_timeout * 1000)}"
        if self.connect_timeout > 0:
            kwargs["connect_timeout"] = self.connect_timeout
        return kwargs

    def loggable(self) -> dict[str, Any]:
        fields = dict(self.__dict__)
        fields["dsn"] = _redact(self.dsn)
        return fields


def _redact(dsn: str) -> str:
    """The DSN without its password, for logs."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable dsn>"
    if "password" in params:
        params["password"] = "***"
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})


@dataclass(frozen=True, slots=True)
class Transfer:
    id: str
    amount: int


class BadRequest(ValueError):
    pass


def parse_transfer(body: object) -> Transfer:
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object with id and amount")
    transfer_id = body.get("id")
    amount = body.get("amount")
    if isinstance(transfer_id, bool) or not isinstance(transfer_id, str | int):
        raise BadRequest("id: expected a string or an integer")
    transfer_id = str(transfer_id)
    if not 0 < len(transfer_id) <= MAX_ID_LENGTH:
        raise BadRequest(f"id: expected 1 to {MAX_ID_LENGTH} characters")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise BadRequest("amount: expected an integer")
    return Transfer(transfer_id, amount)


def _error(status: int, error: str, **fields: Any) -> web.Response:
    return web.json_response({"error": error, **fields}, status=status)


class Ledger:
    """The service: HTTP handlers over a pool, plus the before_commit flush buffer."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]] = AsyncConnectionPool(
            config.dsn,
            min_size=config.pool_size,
            max_size=config.pool_size,
            timeout=config.pool_timeout,
            kwargs=config.connect_kwargs(),
            name=SERVICE,
            open=False,
        )
        self.buffer: list[Transfer] = []
        self.accepted = 0  # write requests that passed validation, numbered in arrival order
        self.acknowledged = 0
        self.dropped = 0
        self.flushed = 0
        self.failed = 0
        self._background: set[asyncio.Future[Any]] = set()
        self._flusher: asyncio.Task[None] | None = None

    # --- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await self.pool.open(wait=False)
        if self.config.ack_mode == "before_commit":
            self._flusher = asyncio.ensure_future(self._flush_forever())

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            if self.buffer:  # a graceful stop flushes; only a kill loses the buffer
                with contextlib.suppress(TimeoutError, psycopg.Error):
                    await asyncio.wait_for(self._flush_once(), SHUTDOWN_FLUSH_SECONDS)
            if self.buffer:
                log("buffer_lost_at_stop", count=len(self.buffer))
        await self.pool.close(timeout=2.0)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/transfers", self.post_transfer)
        app.router.add_get("/transfers/{id}", self.get_transfer)
        app.router.add_get("/health", self.health)
        app.router.add_get("/stats", self.stats)
        return app

    # --- handlers -----------------------------------------------------------------------

    async def post_transfer(self, request: web.Request) -> web.Response:
        try:
            transfer = parse_transfer(await request.json())
        except (BadRequest, ValueError) as exc:
            return _error(400, "bad_request", detail=str(exc))
        self.accepted += 1
        sequence = self.accepted
        every = self.config.drop_every_n
        if every and sequence % every == 0:
            # Deliberate data loss: the ground truth the audit must find.
            self.dropped += 1
            self.acknowledged += 1
            log("write_dropped", id=transfer.id, sequence=sequence)
            return web.json_response({"id": transfer.id}, status=201)
        if self.config.ack_mode == "before_commit":
            self.buffer.append(transfer)
            self.acknowledged += 1
            return web.json_response({"id": transfer.id}, status=201)
        try:
            created = await self._with_retries(self._insert_one, transfer)
        except psycopg.Error as exc:
            self.failed += 1
            return self._db_error(exc, "write")
        self.acknowledged += 1
        if created:
            return web.json_response({"id": transfer.id}, status=201)
        return web.json_response({"id": transfer.id, "duplicate": True}, status=200)

    async def get_transfer(self, request: web.Request) -> web.Response:
        transfer_id = request.match_info["id"]
        try:
            row = await self._with_retries(self._select_one, transfer_id)
        except psycopg.Error as exc:
            return self._db_error(exc, "read")
        if row is None:
            return _error(404, "not_found", id=transfer_id)
        return web.json_response({"id": row[0], "amount": row[1]})

    async def health(self, request: web.Request) -> web.Response:
        # The ping runs as its own task so that /health answers at the deadline even when the
        # database stalls; the abandoned ping is cancelled and finishes in the background.
        ping = asyncio.ensure_future(self._ping())
        done, _ = await asyncio.wait({ping}, timeout=self.config.health_timeout)
        if ping not in done:
            ping.cancel()
            self._keep(ping)
            return web.json_response({"status": "unavailable", "error": "timeout"}, status=503)
        exc = ping.exception()
        if exc is not None:
            return web.json_response(
                {"status": "unavailable", "error": type(exc).__name__, "detail": str(exc)},
                status=503,
            )
        return web.json_response({"status": "ok"})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "accepted": self.accepted,
                "acknowledged": self.acknowledged,
                "dropped": self.dropped,
                "buffered": len(self.buffer),
                "flushed": self.flushed,
                "failed": self.failed,
                "ack_mode": self.config.ack_mode,
                "drop_every_n": self.config.drop_every_n,
            }
        )

    # --- database -----------------------------------------------------------------------

    async def _with_retries(self, operation: Any, *args: Any) -> Any:
        """Run ``operation``; after a connection error (not a pool or statement timeout: more
        waiting would not help) try again up to LEDGER_RETRIES times, with a short backoff."""
        attempt = 0
        while True:
            try:
                return await operation(*args)
            except (PoolTimeout, pg_errors.QueryCanceled):
                raise
            except psycopg.OperationalError as exc:
                if attempt >= self.config.retries:
                    raise
                attempt += 1
                log("retry", attempt=attempt, error=type(exc).__name__, detail=str(exc))
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))

    async def _insert_one(self, transfer: Transfer) -> bool:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(INSERT, (transfer.id, transfer.amount))
            return cursor.rowcount == 1

    async def _select_one(self, transfer_id: str) -> tuple[Any, ...] | None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(SELECT, (transfer_id,))
            return await cursor.fetchone()

    async def _ping(self) -> None:
        async with self.pool.connection(timeout=self.config.health_timeout) as conn:
            await conn.execute("SELECT 1")

    def _db_error(self, exc: psycopg.Error, what: str) -> web.Response:
        if isinstance(exc, PoolTimeout):
            status, error = 503, "pool_timeout"
        elif isinstance(exc, pg_errors.QueryCanceled):
            status, error = 504, "statement_timeout"
        elif isinstance(exc, psycopg.OperationalError):
            status, error = 503, "database_unavailable"
        else:
            status, error = 500, "database_error"
        log(f"{what}_failed", error=error, exception=type(exc).__name__, detail=str(exc))
        return _error(status, error, detail=str(exc))

    # --- before_commit ------------------------------------------------------------------

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_interval)
            if not self.buffer:
                continue
            try:
                await self._flush_once()
            except psycopg.Error as exc:
                log("flush_failed", buffered=len(self.buffer), detail=str(exc))

    async def _flush_once(self) -> None:
        """Store up to FLUSH_BATCH buffered transfers in one transaction; they leave the
        buffer only once committed."""
        batch = self.buffer[:FLUSH_BATCH]
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            await cursor.executemany(INSERT, [(t.id, t.amount) for t in batch])
        del self.buffer[: len(batch)]
        self.flushed += len(batch)

    def _keep(self, future: asyncio.Future[Any]) -> None:
        """Hold a reference to a background future until it ends (and read its outcome)."""
        self._background.add(future)

        def done(finished: asyncio.Future[Any]) -> None:
            self._background.discard(finished)
            if not finished.cancelled():
                finished.exception()

        future.add_done_callback(done)


async def ensure_schema(config: Config) -> None:
    """Create the table (idempotent), retrying until LEDGER_DB_WAIT runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.db_wait
    attempt = 0
    while True:
        attempt += 1
        try:
            conn = await psycopg.AsyncConnection.connect(config.dsn, **config.connect_kwargs())
            async with conn:
                await conn.execute(CREATE_TABLE)
            log("schema_ready", attempts=attempt)
            return
        except psycopg.Error as exc:
            if loop.time() >= deadline:
                raise
            if attempt == 1 or attempt % 10 == 0:
                log("waiting_for_database", attempt=attempt, detail=str(exc).strip())
            await asyncio.sleep(0.5)


async def until_stopped(stop: asyncio.Event, awaitable: Awaitable[None]) -> bool:
    """Await ``awaitable`` unless ``stop`` is set first (then cancel it): False if stopped."""
    work = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if work not in done:
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
        return False
    work.result()
    return True


async def serve(config: Config, stop: asyncio.Event) -> None:
    if config.startup_delay:
        log("startup_delay", seconds=config.startup_delay)
        if not await until_stopped(stop, asyncio.sleep(config.startup_delay)):
            return
    if not await until_stopped(stop, ensure_schema(config)):
        return
    ledger = Ledger(config)
    await ledger.start()
    runner = web.AppRunner(ledger.app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
        await site.start()
        log("listening", host=config.host, port=config.port)
        await stop.wait()
        log("stopping")
    finally:
        await runner.cleanup()
        await ledger.stop()


async def main() -> int:
    logging.basicConfig(level=logging.WARNING, handlers=[_JsonLogHandler()])
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        log("bad_knob", error=str(exc))
        return 2
    log("starting", pid=os.getpid(), **config.loggable())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await serve(config, stop)
    except psycopg.Error as exc:
        log("database_unreachable_at_start", error=type(exc).__name__, detail=str(exc).strip())
        return 1
    except OSError as exc:
        log("cannot_listen", detail=str(exc))
        return 1
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
