"""Benchmark of the PostgreSQL injectors against a private PostgreSQL 15.

    uv run python -c "import sys; sys.path.insert(0,'bench'); \
import injectors_postgres as m; print(m.benchmark(20))"

For each injector: inject latency (call start → the effect seen by a tight
independent probe on its own connection; each trial runs preflight first, as a run
does at its start, which starts the standby holder) and revert latency (call start → the
effect gone), p50 and p99 over ``trials`` trials, beside the raw round trip of
the component: a new connection + ``SELECT 1`` (what any client pays to ask
PostgreSQL anything), target ratio 2.0. Two more rows put inject beside doing
the same thing directly from this process (opening the same connections; taking
the same lock), which is the floor of what an injector can do.

The probes:

* exhaust_connections — client backends in ``pg_stat_activity`` reach the
  ordinary roles' limit (max_connections - superuser_reserved); gone: no
  tagged backend left.
* hold_lock — ``SELECT ... FOR UPDATE NOWAIT`` on the row fails; gone: it works.
* slow_queries — N tagged backends running ``pg_sleep``; gone: none left.

``audit_benchmark()`` times the data-loss audit of 1,000,000 acknowledged writes
(issue 5: at most 10 s) with the ``sql`` lookup, end to end as the runner does it:
``chaoskit._audit.audit_writes`` reading a real write ledger (``WriteLedger``) and
looking every id up in a table of 1,000,000 rows (text primary key, loaded with
COPY, then vacuumed and analysed), batches of 50,000. Then again with 100 rows deleted: the audit
must report exactly 100 lost. A third row gives the part of the audit that is not
the lookup's (reading the ledger and tallying, with a lookup that answers at once).

    uv run python -c "import sys; sys.path.insert(0,'bench'); \
import injectors_postgres as m; print(m.audit_benchmark())"

Starts and stops its own server (tests/pg_server.py); nothing is left behind.
"""

from __future__ import annotations

import functools
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import psycopg
import structlog
from _timing import Row, latency_rows, timed_until, vs_direct_row

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pg_server import PgServer, running_postgres

from chaoskit import FaultContext, Injector, LookupContext
from chaoskit._audit import audit_writes
from chaoskit._ledger import WriteLedger
from chaoskit._load_model import LookupSpec
from chaoskit._resources import RunResources
from chaoskit._results import DataLoss

MAX_CONNECTIONS = 40
USABLE = MAX_CONNECTIONS - 3  # superuser_reserved_connections defaults to 3
SLEEPERS = 4
STANDBY_SETTLE = 0.2
"""Between preflight and inject; a run's baseline is seconds long."""
AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
Probe = Callable[[FaultContext], Awaitable[bool]]

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # warnings off


def _context(injector: Injector, dsn: str, params: dict[str, Any]) -> FaultContext:
    from chaoskit_postgres import PostgresTarget

    return FaultContext(
        run_id=uuid.uuid4().hex[:12],
        fault_name="bench",
        target_name="db",
        target=PostgresTarget(dsn=dsn),
        params=injector.params.model_validate(params),
        log=structlog.get_logger(),
    )


async def _scalar(observer: AsyncConn, query: str, params: list[Any] | None = None) -> int:
    cursor = await observer.execute(query, params)
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _trials(
    injector: Injector,
    dsn: str,
    params: dict[str, Any],
    trials: int,
    in_force: Callable[[FaultContext], Awaitable[bool]],
    gone: Callable[[FaultContext], Awaitable[bool]],
) -> tuple[list[float], list[float]]:
    injects, reverts = [], []
    for _ in range(trials):
        ctx = _context(injector, dsn, params)
        # as a run does it: preflight at the start (it starts the standby holder), then
        # at least the baseline passes before the fault's inject
        await injector.preflight(ctx)
        await anyio.sleep(STANDBY_SETTLE)
        state = await injector.prepare(ctx)
        applied: list[Any] = []

        async def inject(
            ctx: FaultContext = ctx, state: Any = state, out: list[Any] = applied
        ) -> None:
            out.append(await injector.inject(ctx, state))

        try:
            injects.append(await timed_until(inject, functools.partial(in_force, ctx)))
            revert = functools.partial(injector.revert, ctx, applied[0])
            reverts.append(await timed_until(revert, functools.partial(gone, ctx)))
        finally:
            await injector.revert(ctx, applied[0] if applied else state)
    return injects, reverts


async def _anchor_select_1(dsn: str, trials: int) -> list[float]:
    times = []
    for _ in range(trials):
        started = time.perf_counter()
        async with await psycopg.AsyncConnection.connect(dsn, connect_timeout=5) as connection:
            await connection.execute("SELECT 1")
        times.append(time.perf_counter() - started)
    return times


async def _direct_connections(dsn: str, count: int, trials: int) -> list[float]:
    """Opening ``count`` connections from here, 8 at a time, as the holder does."""
    times = []
    gate = anyio.Semaphore(8)
    for _ in range(trials):
        opened: list[AsyncConn] = []

        async def one(opened: list[AsyncConn] = opened) -> None:
            async with gate:
                opened.append(await psycopg.AsyncConnection.connect(dsn, connect_timeout=5))

        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(count):
                group.start_soon(one)
        times.append(time.perf_counter() - started)
        for connection in opened:
            await connection.close()
    return times


async def _direct_lock(dsn: str, trials: int) -> list[float]:
    times = []
    for _ in range(trials):
        started = time.perf_counter()
        async with await psycopg.AsyncConnection.connect(dsn, connect_timeout=5) as connection:
            await connection.execute("SELECT 1 FROM accounts WHERE id = 1 FOR UPDATE")
            times.append(time.perf_counter() - started)
            await connection.rollback()
    return times


def _setup(server: PgServer) -> str:
    with psycopg.connect(server.dsn(), autocommit=True, connect_timeout=5) as admin:
        admin.execute("CREATE DATABASE bench")
    dsn = server.dsn("postgres", "bench")
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
        connection.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)")
        connection.execute("INSERT INTO accounts VALUES (1, 100), (2, 200)")
    return dsn


async def _measure(dsn: str, trials: int) -> list[Row]:
    from chaoskit_postgres import ExhaustConnections, HoldLock, SlowQueries, application_name

    observer: AsyncConn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    locker: AsyncConn = await psycopg.AsyncConnection.connect(dsn)
    try:

        async def tagged(ctx: FaultContext, extra: str = "") -> int:
            return await _scalar(
                observer,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s" + extra,
                [application_name(ctx.tag)],
            )

        async def pool_full(ctx: FaultContext) -> bool:
            in_use = await _scalar(
                observer,
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
            )
            return in_use >= USABLE

        async def none_tagged(ctx: FaultContext) -> bool:
            return await tagged(ctx) == 0

        async def row_locked(ctx: FaultContext) -> bool:
            try:
                await locker.execute("SELECT 1 FROM accounts WHERE id = 1 FOR UPDATE NOWAIT")
            except psycopg.errors.LockNotAvailable:
                return True
            finally:
                await locker.rollback()
            return False

        async def row_free(ctx: FaultContext) -> bool:
            return not await row_locked(ctx)

        async def sleeping(ctx: FaultContext) -> bool:
            extra = " AND state = 'active' AND query ILIKE '%%pg_sleep%%'"
            return await tagged(ctx, extra) >= SLEEPERS

        anchor = await _anchor_select_1(dsn, max(trials, 100))
        anchor_name = "PostgreSQL new connection + SELECT 1"
        rows: list[Row] = []
        cases: list[tuple[str, Injector, dict[str, Any], Probe, Probe]] = [
            ("postgres.exhaust_connections", ExhaustConnections(), {"keep_free": 0},
             pool_full, none_tagged),
            ("postgres.hold_lock", HoldLock(), {"table": "accounts", "where": "id = 1"},
             row_locked, row_free),
            ("postgres.slow_queries", SlowQueries(), {"backends": SLEEPERS, "sleep": "10s"},
             sleeping, none_tagged),
        ]  # fmt: skip
        for name, injector, params, in_force, gone in cases:
            injects, reverts = await _trials(injector, dsn, params, trials, in_force, gone)
            rows += latency_rows(name, injects, reverts, anchor_name, anchor)
            if name == "postgres.exhaust_connections":
                direct = await _direct_connections(dsn, USABLE - 1, max(5, trials // 4))
                rows.append(
                    vs_direct_row(
                        name, injects, f"opening the same {USABLE - 1} connections directly",
                        direct, suffix=" vs direct",
                    )
                )  # fmt: skip
            if name == "postgres.hold_lock":
                direct = await _direct_lock(dsn, max(trials, 100))
                rows.append(
                    vs_direct_row(
                        name, injects, "connect + SELECT ... FOR UPDATE directly", direct,
                        suffix=" vs direct",
                    )
                )  # fmt: skip
        return rows
    finally:
        await locker.close()
        await observer.close()


def benchmark(trials: int) -> list[Row]:
    """Rows ``(figure, value, unit, anchor_name, anchor_value, target_ratio)``."""
    with running_postgres(max_connections=MAX_CONNECTIONS) as server:
        dsn = _setup(server)
        return anyio.run(_measure, dsn, trials)


AUDIT_WRITES = 1_000_000
AUDIT_BATCH = 50_000
AUDIT_MISSING = 100
AUDIT_LIMIT = 10.0
"""Issue 5: the data-loss audit of 1,000,000 acknowledged writes (SQL) in at most 10 s."""


def _fill_transfers(dsn: str, ids: list[str]) -> None:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
        # The server runs with synchronous_commit=off; VACUUM marks a page all-visible
        # only once the commit of its rows is flushed, so flush it.
        connection.execute("SET synchronous_commit TO on")
        connection.execute("CREATE TABLE transfers (id text PRIMARY KEY, amount int NOT NULL)")
        with connection.cursor().copy("COPY transfers (id, amount) FROM STDIN") as copy:
            for write_id in ids:
                copy.write_row((write_id, 10))
        # as autovacuum leaves it; else autovacuum, woken by a million inserts,
        # races the first audit (fresh rows also cost index-only scans a heap visit)
        connection.execute("VACUUM (ANALYZE) transfers")
        row = connection.execute(
            "SELECT relallvisible = relpages FROM pg_class WHERE relname = 'transfers'"
        ).fetchone()
        assert row is not None
        assert row[0], "VACUUM left pages not all-visible"


def _delete_some(dsn: str, ids: list[str]) -> None:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
        connection.execute("DELETE FROM transfers WHERE id = ANY(%s)", [ids])


def _write_ledger(path: Path, ids: list[str]) -> WriteLedger:
    ledger = WriteLedger(path)
    for seq, write_id in enumerate(ids):
        ledger.record(write_id, "acknowledged", seq / 1000, None)
    ledger.close()
    return ledger


async def _audit(dsn: str, ledger: WriteLedger, instant: bool = False) -> tuple[float, DataLoss]:
    """Seconds for ``audit_writes`` over ``ledger`` (with ``instant``: a lookup
    that answers "present" at once, so only the audit's own work is left)."""
    from chaoskit_postgres import PostgresTarget, SqlLookup, SqlLookupParams

    class Instant(SqlLookup):
        async def find(self, ctx: LookupContext, ids: list[str]) -> dict[str, int]:
            return dict.fromkeys(ids, 1)

    spec = LookupSpec(
        kind_params=SqlLookupParams(target="db", table="transfers"),
        batch=AUDIT_BATCH,
        timeout="30s",
    )
    resources = RunResources()
    try:
        started = time.perf_counter()
        loss = await audit_writes(
            "transfers",
            ledger,
            spec,
            Instant() if instant else SqlLookup(),
            {"db": PostgresTarget(dsn=dsn)},
            resources,
        )
        return time.perf_counter() - started, loss
    finally:
        await resources.aclose()


def _run(dsn: str, ledger: WriteLedger, instant: bool = False) -> tuple[float, DataLoss]:
    # uvloop, as the runner uses for runs with load (the audit runs in that loop)
    options: dict[str, Any] = {}
    try:
        import uvloop  # noqa: F401

        options = {"use_uvloop": True}
    except ImportError:
        pass
    return anyio.run(_audit, dsn, ledger, instant, backend_options=options)


def audit_benchmark() -> list[Row]:
    """Rows ``(figure, value, unit, anchor_name, anchor_value, target_ratio)``."""
    prefix = uuid.uuid4().hex[:6]
    ids = [f"{prefix}-transfers-{seq}" for seq in range(AUDIT_WRITES)]
    missing = random.Random(5).sample(ids, AUDIT_MISSING)
    anchor = f"limit {AUDIT_LIMIT:g} s"
    with (
        running_postgres(max_connections=MAX_CONNECTIONS) as server,
        tempfile.TemporaryDirectory(prefix="chaoskit-audit-") as tmp,
    ):
        dsn = _setup(server)
        _fill_transfers(dsn, ids)
        ledger = _write_ledger(Path(tmp) / "writes-transfers.tsv", ids)
        whole, loss = _run(dsn, ledger)
        assert (loss.acknowledged, loss.lost, loss.unverified) == (AUDIT_WRITES, 0, 0), loss
        _delete_some(dsn, missing)
        holed, loss = _run(dsn, ledger)
        assert (loss.lost, loss.unverified) == (AUDIT_MISSING, 0), loss
        assert set(loss.lost_ids) <= set(missing)
        own, _ = _run(dsn, ledger, instant=True)
    figure = f"sql audit of {AUDIT_WRITES:,} acknowledged writes (batch {AUDIT_BATCH:,})"
    return [
        (figure, whole, "s", anchor, AUDIT_LIMIT, 1.0),
        (f"{figure}, {AUDIT_MISSING} rows missing: lost={AUDIT_MISSING}", holed, "s", anchor,
         AUDIT_LIMIT, 1.0),
        ("  of which the audit's own work (ledger read, tally; no lookup)", own, "s", anchor,
         AUDIT_LIMIT, None),
    ]  # fmt: skip


def _print(rows: list[Row]) -> None:
    for figure, value, unit, anchor, anchor_value, _ in rows:
        ratio = value / anchor_value if anchor_value else float("nan")
        print(f"{figure:58} {value:9.2f} {unit}  {anchor:55} {anchor_value:8.2f}  x{ratio:.2f}")


if __name__ == "__main__":
    if sys.argv[1:] == ["audit"]:
        _print(audit_benchmark())
    else:
        _print(benchmark(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
