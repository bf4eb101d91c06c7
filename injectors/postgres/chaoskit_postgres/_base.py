"""What the PostgreSQL injectors share: the revert state, the target and params
checks, the tag → ``application_name`` rule, and the lifecycle of "a holder
process keeps the fault alive; revert stops it and ends every tagged backend".

Each fault is then a small module: its parameters, the holder spec they make,
and how ``verify`` sees the fault in ``pg_stat_activity``.
"""

from __future__ import annotations

import ctypes.util
import functools
import hashlib
import inspect
import math
import re
from pathlib import Path
from typing import ClassVar, TypeVar

import anyio
import psycopg
from psycopg.conninfo import make_conninfo
from pydantic import Field

from chaoskit import (
    Duration,
    FaultContext,
    FaultNotInForce,
    Footprint,
    InjectorError,
    JsonValue,
    Params,
    RevertState,
    params_as,
)
from chaoskit_postgres._connect import (
    admin_error,
    connection_refused_for_slots,
    describe_error,
    open_connection,
    server_label,
    with_session_settings,
)
from chaoskit_postgres._holding import holder_alive, start_holder, start_standby, stop_holders
from chaoskit_postgres.target import PostgresTarget

__all__ = [
    "TARGET_KIND",
    "Connection",
    "HolderInjector",
    "HolderParams",
    "HolderRevertState",
    "application_name",
    "holder_conninfo",
    "libpq_path",
    "milliseconds",
    "postgres_target",
]

TARGET_KIND = "postgres"
NAMEDATALEN = 63
"""PostgreSQL keeps at most 63 bytes of an application_name; longer is cut."""
ADMIN_STATEMENT_TIMEOUT = 5.0
TERMINATE_DEADLINE = 10.0
REPORT_MARGIN = 5.0 + 1.0
"""Extra time for the holder to start and report beyond its own open_timeout."""
P = TypeVar("P", bound=Params)
Connection = psycopg.AsyncConnection[tuple[object, ...]]


class HolderParams(Params):
    """Parameters every holder-based fault takes."""

    open_timeout: Duration = Field(
        default=20.0,
        gt=0,
        description=(
            "how long setting the fault up may take (opening connections, getting the lock); "
            "keep it below the runner's 60s inject limit"
        ),
    )


class HolderRevertState(RevertState):
    """The revert state of every holder-based injector, as JSON::

        {"server": "app@127.0.0.1:5432/ledger",
         "application_name": "chaoskit-RUN-FAULT",
         "holder_pid": 48213, "backends": 37}

    Nothing existed before the fault, so the prior state is "none of this":
    ``application_name`` tags every connection the fault opens and
    ``holder_pid`` is the process holding them (null until inject has started
    it). ``backends`` is how many tagged connections it held when ready.
    ``server`` says where, without a password; revert connects with the
    target's DSN.
    """

    label: ClassVar[str] = "PostgreSQL"

    server: str
    application_name: str
    holder_pid: int | None = None
    backends: int = 0


def application_name(tag: str) -> str:
    """The ``application_name`` of every connection a fault opens: the tag itself
    when it fits PostgreSQL's 63 bytes of ASCII, else a digest of it followed by
    its tail (which names the fault). Derived from the tag alone, so that
    ``chaoskit rollback`` finds the same name."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", tag)
    if safe == tag and len(tag) <= NAMEDATALEN:
        return tag
    digest = hashlib.sha256(tag.encode()).hexdigest()[:12]
    head = f"chaoskit-{digest}-"
    return head + safe[-(NAMEDATALEN - len(head)) :]


def milliseconds(seconds: float) -> int:
    """A duration as PostgreSQL's integer milliseconds (at least 1: 0 means "no limit")."""
    return max(1, math.ceil(seconds * 1000))


@functools.cache
def libpq_path() -> str:
    """The libpq the holder loads: the very file psycopg uses here (found in
    this process's memory map), else the system's."""
    try:
        for line in Path("/proc/self/maps").read_text().splitlines():
            path = line.split()[-1]
            if "/libpq" in path and ".so" in path:
                return path
    except OSError:
        pass
    found = ctypes.util.find_library("pq")
    if found is None:
        raise InjectorError("cannot find libpq (install psycopg[binary] or libpq5)")
    return found


def holder_conninfo(ctx: FaultContext, **settings: int) -> str:
    """The libpq connection string of the holder's connections: the target's DSN
    tagged with the fault's application_name, its connect_timeout (libpq waits
    at least 2s), and ``settings`` as ``-c name=value`` session settings."""
    target = postgres_target(ctx)
    conninfo = make_conninfo(
        target.dsn,
        application_name=application_name(ctx.tag),
        connect_timeout=max(2, math.ceil(target.connect_timeout)),
    )
    return with_session_settings(conninfo, **settings) if settings else conninfo


def postgres_target(ctx: FaultContext) -> PostgresTarget:
    if not isinstance(ctx.target, PostgresTarget):
        raise InjectorError(
            f"fault {ctx.fault_name!r} needs a {TARGET_KIND} target; "
            f"{ctx.target_name!r} is {ctx.target.kind!r}"
        )
    return ctx.target


async def count_tagged(connection: Connection, name: str) -> int:
    cursor = await connection.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
        "AND pid <> pg_backend_pid()",
        [name],
    )
    row = await cursor.fetchone()
    return int(str(row[0])) if row else 0


async def _connect_for_revert(target: PostgresTarget, label: str) -> Connection:
    """A connection for revert; retried while the server says it has no slot
    (a holder's backends take a moment to exit after it does)."""
    last: BaseException | None = None
    with anyio.move_on_after(target.connect_timeout * 3):
        while True:
            try:
                return await psycopg.AsyncConnection.connect(
                    with_session_settings(
                        target.dsn, statement_timeout=int(ADMIN_STATEMENT_TIMEOUT * 1000)
                    ),
                    connect_timeout=max(2, math.ceil(target.connect_timeout)),
                    autocommit=True,
                )
            except psycopg.OperationalError as exc:
                last = exc
                if not connection_refused_for_slots(exc):
                    break
            await anyio.sleep(0.2)
    raise InjectorError(
        f"cannot connect to PostgreSQL at {label} to end the fault's connections: "
        f"{describe_error(last) if last else 'no answer in time'}"
    ) from last


async def terminate_tagged(target: PostgresTarget, label: str, name: str) -> int:
    """``pg_terminate_backend`` every backend tagged ``name`` and wait until none
    is left (bounded). Returns how many were ended."""
    ended: set[int] = set()
    connection = await _connect_for_revert(target, label)
    try:
        with anyio.move_on_after(TERMINATE_DEADLINE):
            while True:
                cursor = await connection.execute(
                    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s AND pid <> pg_backend_pid()",
                    [name],
                )
                rows = await cursor.fetchall()
                if not rows:
                    return len(ended)
                # false: the backend was already on its way out ("not a PostgreSQL
                # backend process" by the time it was signalled); look again.
                ended.update(int(str(pid)) for pid, done in rows if done)
                await anyio.sleep(0.05)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise InjectorError(
            f"PostgreSQL at {label} refused to end backends tagged {name!r} "
            f"({describe_error(exc)}); give the target's role pg_signal_backend, or end them "
            "as a superuser: SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            f"application_name = '{name}'"
        ) from exc
    except psycopg.Error as exc:
        raise admin_error("ending the fault's backends", label, exc) from exc
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            await connection.close()
    raise InjectorError(
        f"backends tagged {name!r} are still on PostgreSQL at {label} "
        f"{TERMINATE_DEADLINE:g}s after pg_terminate_backend"
    )


class HolderInjector:
    """Lifecycle of a fault held by a holder process.

    Subclasses set ``name`` and ``params`` and implement :meth:`holder_spec`
    and :meth:`check_in_force`; :meth:`check_ready` is an optional hook for
    preflight checks.
    """

    name: ClassVar[str]
    params: ClassVar[type[Params]]
    target_kinds: ClassVar[tuple[str, ...]] = (TARGET_KIND,)
    refusal_means_in_force: ClassVar[bool] = False
    """Whether a refused connection during verify shows the fault (a full pool)."""

    def holder_spec(self, ctx: FaultContext) -> dict[str, JsonValue]:
        """What the holder must hold: its ``mode`` and that mode's fields, with
        complete connection strings (``holder_conninfo``) and composed SQL."""
        raise NotImplementedError

    async def check_ready(self, ctx: FaultContext, connection: Connection) -> None:
        """Preflight checks against the server; raise InjectorError."""

    async def check_in_force(
        self, ctx: FaultContext, connection: Connection, state: HolderRevertState
    ) -> None:
        """Raise FaultNotInForce when the server does not show the fault."""
        raise NotImplementedError

    def _params(self, ctx: FaultContext) -> HolderParams:
        return params_as(ctx.params, HolderParams)

    def footprint(self, ctx: FaultContext) -> Footprint:
        """For ``--dry-run``: the class docstring, and the holder process."""
        name = application_name(ctx.tag)
        server = server_label(postgres_target(ctx).dsn)
        doc = (inspect.getdoc(type(self)) or "").split("\n\n", 1)[0]
        return Footprint(
            changes=(" ".join(doc.replace("``", "").split()),),
            creates=(
                f"a standby holder process, started at preflight (--application-name {name}): "
                "it holds nothing until inject takes it over; unused, it ends at the fault's "
                "revert, with the run, or after its idle limit",
                f"the holder process and its connections to {server}, each tagged "
                f"application_name {name}: revert stops it and ends every backend so tagged; "
                "it also ends when its parent (the run) dies",
            ),
        )

    async def preflight(self, ctx: FaultContext) -> None:
        target = postgres_target(ctx)
        self._params(ctx)
        self.holder_spec(ctx)
        label = server_label(target.dsn)
        name = application_name(ctx.tag)
        try:
            async with open_connection(
                target.dsn,
                connect_timeout=target.connect_timeout,
                statement_timeout=ADMIN_STATEMENT_TIMEOUT,
            ) as connection:
                with anyio.fail_after(ADMIN_STATEMENT_TIMEOUT + 1):
                    await self.check_ready(ctx, connection)
                    leftovers = await count_tagged(connection, name)
        except (psycopg.Error, TimeoutError) as exc:
            raise admin_error("preflight", label, exc) from exc
        if leftovers:
            ctx.log.warning(
                "postgres.tagged_backends_present", application_name=name, count=leftovers
            )
        await start_standby(name, libpq_path())

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        target = postgres_target(ctx)
        self._params(ctx)
        return HolderRevertState(
            server=server_label(target.dsn), application_name=application_name(ctx.tag)
        ).to_json()

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        state = HolderRevertState.parse(revert_state)
        params = self._params(ctx)
        if state.application_name != application_name(ctx.tag):
            raise InjectorError(
                f"refusing to tag connections {application_name(ctx.tag)!r}: the revert "
                f"state names {state.application_name!r}"
            )
        spec: dict[str, JsonValue] = {
            **self.holder_spec(ctx),
            "libpq": libpq_path(),
            "open_timeout": params.open_timeout,
        }
        ready = await start_holder(
            spec, state.application_name, timeout=params.open_timeout + REPORT_MARGIN
        )
        ctx.log.info(
            "postgres.fault_held",
            application_name=state.application_name,
            holder_pid=ready.pid,
            backends=len(ready.backends),
            **ready.facts,
        )
        return state.model_copy(
            update={"holder_pid": ready.pid, "backends": len(ready.backends)}
        ).to_json()

    async def revert(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = HolderRevertState.parse(revert_state)
        target = postgres_target(ctx)
        stopped = await stop_holders(state.application_name, state.holder_pid)
        if stopped:
            ctx.log.info("postgres.holder_stopped", pids=stopped)
        ended = await terminate_tagged(target, state.server, state.application_name)
        if ended:
            ctx.log.info(
                "postgres.tagged_backends_ended",
                application_name=state.application_name,
                count=ended,
            )

    async def verify(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        state = HolderRevertState.parse(revert_state)
        target = postgres_target(ctx)
        if not holder_alive(state.holder_pid, state.application_name):
            raise FaultNotInForce(
                f"the holder process {state.holder_pid} for {state.application_name!r} "
                "is not running"
            )
        try:
            async with open_connection(
                target.dsn,
                connect_timeout=target.connect_timeout,
                statement_timeout=ADMIN_STATEMENT_TIMEOUT,
            ) as connection:
                with anyio.fail_after(ADMIN_STATEMENT_TIMEOUT + 1):
                    await self.check_in_force(ctx, connection, state)
        except psycopg.OperationalError as exc:
            if self.refusal_means_in_force and connection_refused_for_slots(exc):
                ctx.log.info("postgres.new_connection_refused", reason=describe_error(exc))
                return
            raise FaultNotInForce(
                f"cannot check the fault on PostgreSQL at {state.server}: {describe_error(exc)}"
            ) from exc
        except (psycopg.Error, TimeoutError) as exc:
            raise FaultNotInForce(
                f"cannot check the fault on PostgreSQL at {state.server}: {describe_error(exc)}"
            ) from exc
