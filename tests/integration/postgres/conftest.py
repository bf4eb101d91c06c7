"""A private PostgreSQL 15 server for the session (tests/pg_server.py), a test
database with a table for lock tests, an ordinary role, the ``faults`` fixture
(chaoskit.testing) that reverts leftovers, a check after every test that
nothing leaked (which cleans up what it reports), and for the sql load kind and
lookup a fresh table and the run's resource cache."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
from chaoskit_postgres import PostgresTarget
from pg_server import PgServer, PgServerError, pg_bin_dir, start_postgres, stop_postgres
from postgres_faults import (
    MAX_CONNECTIONS,
    connect,
    holder_processes,
    load_backends,
    wait_until,
)

from chaoskit._resources import RunResources
from chaoskit.testing import FaultTracker

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
    return PostgresTarget(dsn=superuser_dsn, connect_timeout="5s")


@pytest.fixture
def app_target(app_dsn: str) -> PostgresTarget:
    """The ordinary role, as the application (and its probes) connect."""
    return PostgresTarget(dsn=app_dsn, connect_timeout="3s")


@pytest.fixture(autouse=True)
def nothing_leaked(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that uses the server: no chaoskit-tagged backend left
    on it, no holder process of ours left, and the table as it was. A leak fails
    the test that made it, and is then cleaned up, so that the tests after it
    start clean (one leak, one failure)."""
    yield
    if "pg" not in request.fixturenames:
        return
    server: PgServer = request.getfixturevalue("pg")
    dsn = server.dsn("postgres", DATABASE)
    holders = _our_holders()
    backends = _tagged_backends(dsn)
    rows = _accounts(dsn)
    if not (holders or backends or rows != ACCOUNTS):
        return
    _kill(holders)
    _terminate(dsn, [pid for pid, _ in backends])
    _restore_accounts(dsn)
    by_name = Counter(name for _, name in backends)
    pytest.fail(
        f"leaked (now cleaned up): holder processes {holders}, tagged backends "
        f"{dict(by_name)}, accounts {rows} instead of {ACCOUNTS}",
        pytrace=False,
    )


def _our_holders() -> list[int]:
    return holder_processes(ours=True)


def _tagged_backends(dsn: str) -> list[tuple[int, str]]:
    """(pid, application_name) of every chaoskit-tagged backend but the asker's."""
    with connect(dsn) as connection:
        rows = connection.execute(
            "SELECT pid, application_name FROM pg_stat_activity "
            "WHERE application_name LIKE 'chaoskit-%%' AND pid <> pg_backend_pid() ORDER BY pid"
        ).fetchall()
    return [(int(pid), str(name)) for pid, name in rows]


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not set(pids) & set(_our_holders()), what=f"holders {pids} to die")


def _terminate(dsn: str, pids: list[int]) -> None:
    with connect(dsn) as connection:
        for pid in pids:
            connection.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_until(lambda: not _tagged_backends(dsn), what=f"backends {pids} to end")


def _restore_accounts(dsn: str) -> None:
    with connect(dsn) as connection:
        connection.execute("SET lock_timeout = '5s'")
        with connection.transaction():
            connection.execute("DELETE FROM accounts")
            with connection.cursor() as cursor:
                cursor.executemany("INSERT INTO accounts VALUES (%s, %s)", ACCOUNTS)


def _accounts(dsn: str) -> list[tuple[int, int]]:
    with connect(dsn) as connection:
        return [
            (int(a), int(b))
            for a, b in connection.execute("SELECT id, balance FROM accounts ORDER BY id")
        ]


@pytest.fixture
async def faults(pg: PgServer) -> AsyncIterator[FaultTracker]:
    """``await faults.apply(injector, target, params)`` runs preflight, prepare
    and inject like the runner, and returns a chaoskit.testing.AppliedFault.
    Every fault still applied is reverted at teardown, which fails if a revert
    does."""
    async with FaultTracker() as tracker:
        yield tracker


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
