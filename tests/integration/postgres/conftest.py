"""A private PostgreSQL 15 server for the session (tests/pg_server.py), a test
database with a table for lock tests, an ordinary role, the ``apply_fault``
fixture that reverts leftovers and proves nothing leaked, and for the sql
load kind and lookup a fresh table and the run's resource cache."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from chaoskit_postgres import PostgresTarget
from pg_server import PgServer, PgServerError, pg_bin_dir, start_postgres, stop_postgres
from postgres_faults import (
    MAX_CONNECTIONS,
    Applied,
    ApplyFault,
    connect,
    fault_context,
    holder_processes,
    load_backends,
    scalar,
    wait_until,
)

from chaoskit import Injector
from chaoskit._resources import RunResources

DATABASE = "chaos"
ORDINARY_ROLE = "app"
ACCOUNTS = [(1, 100), (2, 200), (3, 300)]


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    """A private server: max_connections=40 (3 reserved for superusers), a
    database ``chaos`` with table ``accounts``, an ordinary role ``app``."""
    if pg_bin_dir() is None:
        message = "PostgreSQL 15 server binaries not found in /usr/lib/postgresql/15/bin"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        server = start_postgres(max_connections=MAX_CONNECTIONS)
    except PgServerError as exc:
        pytest.fail(str(exc))
    try:
        with connect(server.dsn()) as admin:
            admin.execute(f"CREATE ROLE {ORDINARY_ROLE} LOGIN")
            admin.execute(f"CREATE DATABASE {DATABASE} OWNER {ORDINARY_ROLE}")
        with connect(server.dsn(ORDINARY_ROLE, DATABASE)) as owner:
            owner.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)")
            with owner.cursor() as cursor:
                cursor.executemany("INSERT INTO accounts VALUES (%s, %s)", ACCOUNTS)
        yield server
    finally:
        stop_postgres(server)


@pytest.fixture
def superuser_dsn(pg: PgServer) -> str:
    return pg.dsn("postgres", DATABASE)


@pytest.fixture
def app_dsn(pg: PgServer) -> str:
    return pg.dsn(ORDINARY_ROLE, DATABASE)


@pytest.fixture
def target(superuser_dsn: str) -> PostgresTarget:
    """The faults' target: the superuser, as an operator's chaoskit would connect."""
    return PostgresTarget(dsn=superuser_dsn, connect_timeout=5.0)


@pytest.fixture
def app_target(app_dsn: str) -> PostgresTarget:
    """The ordinary role, as the application (and its probes) connect."""
    return PostgresTarget(dsn=app_dsn, connect_timeout=3.0)


@pytest.fixture(autouse=True)
def nothing_leaked(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that uses the server: no chaoskit-tagged backend left
    on it, no holder process of ours left, and the table as it was."""
    yield
    if "pg" not in request.fixturenames:
        return
    server: PgServer = request.getfixturevalue("pg")
    dsn = server.dsn("postgres", DATABASE)
    left = scalar(
        dsn,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'chaoskit-%%'",
    )
    ours = [pid for pid in holder_processes() if _is_our_child(pid)]
    rows = _accounts(dsn)
    assert (left, ours, rows) == (0, [], ACCOUNTS), "leaked: tagged backends, holders, rows"


def _is_our_child(pid: int) -> bool:
    try:
        stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115
    except OSError:
        return False
    return int(stat.rsplit(")", 1)[-1].split()[1]) == os.getpid()


def _accounts(dsn: str) -> list[tuple[int, int]]:
    with connect(dsn) as connection:
        return [
            (int(a), int(b))
            for a, b in connection.execute("SELECT id, balance FROM accounts ORDER BY id")
        ]


@pytest.fixture
async def apply_fault(pg: PgServer) -> AsyncIterator[ApplyFault]:
    """``await apply_fault(injector, target, params)`` runs preflight, prepare
    and inject like the runner, and returns an :class:`Applied`. Everything
    applied is reverted at teardown (a no-op when the test reverted already)."""
    applied: list[Applied] = []

    async def apply(injector: Injector, target: PostgresTarget, params: dict[str, Any]) -> Applied:
        ctx = fault_context(injector, target, params)
        await injector.preflight(ctx)
        prior_state = await injector.prepare(ctx)
        fault = Applied(injector, ctx, prior_state)
        applied.append(fault)
        fault.revert_state = await injector.inject(ctx, prior_state)
        return fault

    yield apply
    for fault in reversed(applied):
        await fault.revert()


@pytest.fixture
def transfers(app_dsn: str) -> Iterator[str]:
    """A fresh table ``transfers_<hex>`` (``id text PRIMARY KEY, seq bigint,
    amount int``) owned by the ordinary role, dropped afterwards."""
    name = f"transfers_{uuid.uuid4().hex[:8]}"
    with connect(app_dsn) as owner:
        owner.execute(f"CREATE TABLE {name} (id text PRIMARY KEY, seq bigint, amount int)")
    yield name
    with connect(app_dsn) as owner:
        owner.execute(f"DROP TABLE IF EXISTS {name} CASCADE")


@pytest.fixture
async def resources(pg: PgServer) -> AsyncIterator[RunResources]:
    """The run's resource cache, as the runner passes it to load kinds and
    lookups; closed at teardown, which must end every connection they opened."""
    cache = RunResources()
    yield cache
    await cache.aclose()
    dsn = pg.dsn("postgres", DATABASE)
    wait_until(lambda: load_backends(dsn) == 0, what="the load and audit connections to close")
