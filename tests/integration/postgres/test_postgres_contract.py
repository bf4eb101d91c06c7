"""The injector contract (chaoskit.testing) for every PostgreSQL injector
against the private server: the state is what a DBA would look at
(chaoskit-tagged backends, holder processes, locks on the table, its rows),
and the effect is what the application would meet (a refused connection, a
statement that cannot get its lock, backends busy in pg_sleep)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from chaoskit_postgres import (
    ExhaustConnections,
    HoldLock,
    PostgresTarget,
    SlowQueries,
    application_name,
)
from postgres_faults import connect, holder_processes, tagged_backends

from chaoskit import Injector, TargetSpec
from chaoskit.testing import AppliedFault, InjectorContract

pytestmark = pytest.mark.integration

REFUSED = "remaining connection slots are reserved"


@dataclass(frozen=True)
class Observer:
    """How the tests look at the server: as the application (the ordinary
    role) and as a DBA (the superuser, who still gets a reserved slot)."""

    app_dsn: str
    superuser_dsn: str


def refused(observer: Observer, name: str) -> bool:
    """The ordinary role cannot get a connection: the pool is exhausted."""
    try:
        with connect(observer.app_dsn, connect_timeout=3):
            return False
    except psycopg.OperationalError as exc:
        if REFUSED in str(exc):
            return True
        raise


def blocked(observer: Observer, statement: str) -> bool:
    """``statement`` gives up on its lock_timeout: someone holds a conflicting lock."""
    with connect(observer.app_dsn, autocommit=False) as connection:
        connection.execute("SET lock_timeout = '200ms'")
        try:
            connection.execute(statement)
        except psycopg.errors.LockNotAvailable:
            return True
        finally:
            connection.rollback()
    return False


def row_locked(observer: Observer, name: str) -> bool:
    return blocked(observer, "UPDATE accounts SET balance = balance + 1 WHERE id = 1")


def table_locked(observer: Observer, name: str) -> bool:
    return blocked(observer, "SELECT count(*) FROM accounts")


def writes_locked(observer: Observer, name: str) -> bool:
    # A SHARE lock: reads go through, writes wait.
    return not blocked(observer, "SELECT count(*) FROM accounts") and blocked(
        observer, "UPDATE accounts SET balance = balance WHERE id = 2"
    )


def three_sleeping(observer: Observer, name: str) -> bool:
    return tagged_backends(observer.superuser_dsn, name, sleeping=True) == 3


@dataclass(frozen=True)
class Case:
    injector: Injector
    params: dict[str, Any]
    effect: Callable[[Observer, str], bool]
    """(how to look, the fault's application_name) -> is the fault in force?"""


CASES = {
    "exhaust_connections": Case(ExhaustConnections(), {"keep_free": 0}, refused),
    "hold_lock-row": Case(HoldLock(), {"table": "accounts", "where": "id = 1"}, row_locked),
    "hold_lock-table": Case(
        HoldLock(), {"table": "public.accounts", "mode": "access exclusive"}, table_locked
    ),
    "hold_lock-share": Case(HoldLock(), {"table": "accounts", "mode": "share"}, writes_locked),
    "slow_queries": Case(SlowQueries(), {"backends": 3, "sleep": "30s"}, three_sleeping),
}


class TestPostgresContract(InjectorContract):
    @pytest.fixture(params=sorted(CASES))
    def case(self, request: pytest.FixtureRequest) -> Case:
        case: Case = CASES[request.param]
        return case

    @pytest.fixture
    def injector(self, case: Case) -> Injector:
        return case.injector

    @pytest.fixture
    def params(self, case: Case) -> dict[str, Any]:
        return case.params

    @pytest.fixture
    def target(self, case: Case, superuser_dsn: str, app_dsn: str) -> TargetSpec:
        self.effect = case.effect
        self.observer = Observer(app_dsn=app_dsn, superuser_dsn=superuser_dsn)
        return PostgresTarget(dsn=superuser_dsn, connect_timeout="5s")

    def snapshot(self, target: TargetSpec) -> object:
        with connect(self.observer.superuser_dsn) as connection:
            tagged = connection.execute(
                "SELECT application_name, state FROM pg_stat_activity "
                "WHERE application_name LIKE 'chaoskit-%%' AND pid <> pg_backend_pid() "
                "ORDER BY 1, 2"
            ).fetchall()
            locks = connection.execute(
                "SELECT mode FROM pg_locks WHERE relation = 'accounts'::regclass "
                "AND pid <> pg_backend_pid() ORDER BY 1"
            ).fetchall()
            rows = connection.execute("SELECT id, balance FROM accounts ORDER BY id").fetchall()
        return {
            "tagged backends": tagged,
            "holder processes": holder_processes(ours=True),
            "locks on accounts": locks,
            "accounts": rows,
            "ordinary role refused": refused(self.observer, ""),
        }

    def in_force(self, fault: AppliedFault) -> bool:
        return self.effect(self.observer, application_name(fault.tag))

    def leftovers(self, fault: AppliedFault) -> list[Any]:
        name = application_name(fault.tag)
        left: list[Any] = [f"holder {pid}" for pid in holder_processes(name)]
        backends = tagged_backends(self.observer.superuser_dsn, name)
        return left + ([f"{backends} backends tagged {name}"] if backends else [])
