"""The holder: a small child process that keeps a PostgreSQL fault alive.

Injector instances are stateless and ``inject`` returns, but exhausted
connection slots, a held lock or a storm of sleeping queries need something
that stays alive for the fault's duration. That is this process::

    python -I -S .../chaoskit_postgres/_holder.py --application-name NAME --parent PID

It reads one JSON line on stdin (the spec: what to hold, complete libpq
connection strings — on stdin so that a password never shows in ``ps`` — and
the SQL to run, all composed by the injector), opens its connections, and
answers one JSON line on stdout::

    {"event": "ready", "pid": 4711, "backends": [5120, ...], ...}   or
    {"event": "failed", "error": "..."}

Then it holds until it is told to stop (SIGTERM, SIGINT or SIGHUP) or its
parent dies (``PR_SET_PDEATHSIG`` on Linux, and a poll of the parent pid as
a fallback), releases what it holds (cancelling running queries, closing the
connections, which ends their backends) and exits. It runs in its own session,
so that a Ctrl-C meant for the runner does not end the fault behind its back.

It starts fast: it runs as a script with ``-I -S`` (no site-packages to scan)
and imports a few standard modules only. It talks to PostgreSQL through libpq
directly (ctypes, the very library file psycopg uses, named in the spec):
importing psycopg alone costs a few hundred milliseconds, which was most of the
inject latency. Faster still, the injector starts one ahead, at preflight, with
``--libpq PATH``: that standby loads libpq and waits for its spec (at most
``STANDBY_IDLE``), so inject pays neither the process start nor the load.
Each connection is used by one thread at a time, as libpq requires.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import threading
import time

TYPE_CHECKING = False  # not from typing: importing it is a cost at every start
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["main"]

PARENT_POLL_INTERVAL = 0.5
STANDBY_IDLE = 900.0
"""A standby holder (started ahead, at preflight) that gets no spec in this long exits."""
OPEN_GRACE = 1.0
"""Beyond open_timeout, so that the server's own lock_timeout and
statement_timeout (set to open_timeout) fire first, with their precise error."""
RELEASE_TIMEOUT = 4.0
PR_SET_PDEATHSIG = 1
CONCURRENT_CONNECTS = 8
TOO_MANY_CONNECTIONS = ("too many clients already", "remaining connection slots are reserved")
CONNECTION_OK = 0
PGRES_COMMAND_OK = 1
PGRES_TUPLES_OK = 2
PG_DIAG_SQLSTATE = ord("C")
LOCK_NOT_AVAILABLE = "55P03"


class HolderFailure(Exception):
    """What the holder reports as ``{"event": "failed"}``: it could not set up the fault."""


class LibPq:
    """The few libpq calls the holder needs, typed for ctypes."""

    def __init__(self, path: str) -> None:
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            raise HolderFailure(f"cannot load libpq from {path}: {exc}") from exc
        p, i, s = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
        signatures: dict[str, tuple[Any, list[Any]]] = {
            "PQconnectdb": (p, [s]),
            "PQstatus": (i, [p]),
            "PQerrorMessage": (s, [p]),
            "PQbackendPID": (i, [p]),
            "PQfinish": (None, [p]),
            "PQexec": (p, [p, s]),
            "PQresultStatus": (i, [p]),
            "PQresultErrorMessage": (s, [p]),
            "PQresultErrorField": (s, [p, i]),
            "PQntuples": (i, [p]),
            "PQnfields": (i, [p]),
            "PQgetvalue": (s, [p, i, i]),
            "PQclear": (None, [p]),
            "PQgetCancel": (p, [p]),
            "PQcancel": (i, [p, s, i]),
            "PQfreeCancel": (None, [p]),
        }
        for name, (restype, argtypes) in signatures.items():
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, argtypes
        self.lib = lib

    def connect(self, conninfo: str) -> int:
        """A connection handle; raises HolderFailure with libpq's message."""
        conn = self.lib.PQconnectdb(conninfo.encode())
        if not conn:
            raise HolderFailure("libpq could not allocate a connection")
        if self.lib.PQstatus(conn) != CONNECTION_OK:
            message = _text(self.lib.PQerrorMessage(conn))
            self.lib.PQfinish(conn)
            raise HolderFailure(message)
        return int(conn)

    def execute(self, conn: int, statement: str) -> list[list[str | None]]:
        """Run ``statement``; its rows, every column as text. Raises QueryFailed."""
        result = self.lib.PQexec(conn, statement.encode())
        if not result:
            raise QueryFailed(None, _text(self.lib.PQerrorMessage(conn)))
        try:
            if self.lib.PQresultStatus(result) not in (PGRES_COMMAND_OK, PGRES_TUPLES_OK):
                sqlstate = self.lib.PQresultErrorField(result, PG_DIAG_SQLSTATE)
                raise QueryFailed(
                    sqlstate.decode() if sqlstate else None,
                    _text(self.lib.PQresultErrorMessage(result)),
                )
            columns = self.lib.PQnfields(result)
            return [
                [_value(self.lib.PQgetvalue(result, row, column)) for column in range(columns)]
                for row in range(self.lib.PQntuples(result))
            ]
        finally:
            self.lib.PQclear(result)

    def backend_pid(self, conn: int) -> int:
        return int(self.lib.PQbackendPID(conn))

    def cancel(self, conn: int) -> None:
        """Ask the server to cancel what ``conn`` runs (safe from another thread)."""
        handle = self.lib.PQgetCancel(conn)
        if handle:
            errbuf = ctypes.create_string_buffer(256)
            self.lib.PQcancel(handle, errbuf, 256)
            self.lib.PQfreeCancel(handle)

    def finish(self, conn: int) -> None:
        self.lib.PQfinish(conn)


class QueryFailed(Exception):
    def __init__(self, sqlstate: str | None, message: str) -> None:
        super().__init__(f"[{sqlstate}] {message}" if sqlstate else message)
        self.sqlstate = sqlstate


def _text(raw: bytes | None) -> str:
    return " ".join((raw or b"").decode(errors="replace").split()) or "no message from libpq"


def _value(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode(errors="replace")


def _refused_for_slots(exc: BaseException) -> bool:
    return any(marker in str(exc) for marker in TOO_MANY_CONNECTIONS)


class Held:
    """What the holder holds; released once, on the way out."""

    def __init__(self, libpq: LibPq) -> None:
        self.libpq = libpq
        self.connections: list[int] = []
        self.workers: dict[int, threading.Thread] = {}
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def add(self, conn: int) -> None:
        with self.lock:
            self.connections.append(conn)

    def release(self) -> None:
        self.stopping.set()
        with self.lock:
            connections = list(self.connections)
        for conn, worker in self.workers.items():
            if worker.is_alive():
                self.libpq.cancel(conn)
        deadline = time.monotonic() + RELEASE_TIMEOUT
        for worker in self.workers.values():
            worker.join(max(0.0, deadline - time.monotonic()))
        for conn in connections:
            busy = self.workers.get(conn)
            if busy is None or not busy.is_alive():  # never finish a connection in use
                self.libpq.finish(conn)


def _open_many(held: Held, conninfo: str, count: int) -> list[BaseException]:
    """Open ``count`` connections, CONCURRENT_CONNECTS at a time; the failures."""
    errors: list[BaseException] = []
    gate = threading.Semaphore(CONCURRENT_CONNECTS)

    def one() -> None:
        with gate:
            try:
                held.add(held.libpq.connect(conninfo))
            except HolderFailure as exc:
                errors.append(exc)

    openers = [threading.Thread(target=one, daemon=True) for _ in range(count)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join()  # bounded by libpq's connect_timeout; the caller has a deadline too
    return errors


def _hold_connections(spec: dict[str, Any], held: Held) -> dict[str, Any]:
    """Open connections until max_connections - reserved - keep_free are in use."""
    first = held.libpq.connect(spec["first"])
    held.add(first)
    [row] = held.libpq.execute(first, spec["slots_query"])
    max_connections, superuser_reserved, reserved, in_use = (int(value or 0) for value in row)
    limit = max_connections - superuser_reserved - reserved - int(spec["keep_free"])
    others = in_use - 1  # ``in_use`` counts our first connection
    wanted = limit - others
    facts = {"max_connections": max_connections, "limit": limit, "in_use_before": others}
    if wanted <= 0:
        held.libpq.finish(first)
        held.connections.clear()
        return {**facts, "backends": []}
    if wanted > int(spec["max_open"]):
        raise HolderFailure(
            f"exhausting the pool needs {wanted} connections ({others} of {limit} usable slots "
            f"in use), more than max_open={spec['max_open']}; raise max_open or keep_free"
        )
    errors = _open_many(held, spec["conninfo"], wanted - 1)
    fatal = [exc for exc in errors if not _refused_for_slots(exc)]
    if fatal:
        raise HolderFailure(
            f"opened {len(held.connections)} of {wanted} connections, then: {fatal[0]}"
        )
    # Refusals for slots mean others took the rest meanwhile: the pool is full anyway.
    return {
        **facts,
        "short_by": len(errors),
        "backends": [held.libpq.backend_pid(conn) for conn in held.connections],
    }


def _hold_lock(spec: dict[str, Any], held: Held) -> dict[str, Any]:
    """One transaction holding a row or table lock, left idle in transaction."""
    conn = held.libpq.connect(spec["conninfo"])
    held.add(conn)
    try:
        held.libpq.execute(conn, "BEGIN")
        rows = held.libpq.execute(conn, spec["statement"])
    except QueryFailed as exc:
        if exc.sqlstate == LOCK_NOT_AVAILABLE:
            raise HolderFailure(
                f"could not get the lock within {spec['open_timeout']:g}s: another "
                f"transaction holds a conflicting one ({exc})"
            ) from exc
        raise HolderFailure(str(exc)) from exc
    if spec["row_lock"] and not rows:
        raise HolderFailure(f"no row of {spec['table']} matches {spec['where']!r}: nothing to lock")
    return {
        "backends": [held.libpq.backend_pid(conn)],
        "rows": len(rows) if spec["row_lock"] else None,
    }


def _sleep_loop(held: Held, conn: int, statement: str) -> None:
    # A failed query (cancelled at release, backend terminated, server
    # restarted) ends the loop; verify then sees fewer sleepers than asked.
    with contextlib.suppress(QueryFailed):
        while not held.stopping.is_set():
            held.libpq.execute(conn, statement)


def _hold_sleepers(spec: dict[str, Any], held: Held) -> dict[str, Any]:
    """``backends`` connections, each running ``pg_sleep`` back to back."""
    backends = int(spec["backends"])
    errors = _open_many(held, spec["conninfo"], backends)
    if errors:
        raise HolderFailure(
            f"opened {len(held.connections)} of {backends} connections, then: {errors[0]}"
        )
    for conn in held.connections:
        worker = threading.Thread(
            target=_sleep_loop, args=(held, conn, spec["statement"]), daemon=True
        )
        held.workers[conn] = worker
        worker.start()
    return {"backends": [held.libpq.backend_pid(conn) for conn in held.connections]}


MODES: dict[str, Callable[[dict[str, Any], Held], dict[str, Any]]] = {
    "connections": _hold_connections,
    "lock": _hold_lock,
    "sleep": _hold_sleepers,
}


def _report(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _silence_output() -> None:
    """After the report nobody reads our pipes: point stdout and stderr at /dev/null,
    so that a late message can neither block on a full pipe nor fail on a closed one."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the parent (its forking thread) goes."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _set_up(spec: dict[str, Any], held: Held, stop: threading.Event) -> dict[str, Any]:
    """Run the mode's set-up in a thread, bounded by open_timeout and by a stop."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["facts"] = MODES[spec["mode"]](spec, held)
        except (HolderFailure, QueryFailed) as exc:
            outcome["error"] = str(exc)
        except Exception as exc:  # noqa: BLE001  - reported, never swallowed
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    deadline = time.monotonic() + float(spec["open_timeout"]) + OPEN_GRACE
    while worker.is_alive() and not stop.is_set() and time.monotonic() < deadline:
        worker.join(0.05)
    if worker.is_alive():
        why = "told to stop" if stop.is_set() else f"not done within {spec['open_timeout']:g}s"
        raise HolderFailure(f"setting up the fault: {why}")
    if "error" in outcome:
        raise HolderFailure(outcome["error"])
    facts: dict[str, Any] = outcome["facts"]
    return facts


def _hold(spec: dict[str, Any], parent: int, loaded: dict[str, LibPq]) -> int:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    try:
        path = str(spec["libpq"])
        held = Held(loaded[path] if path in loaded else LibPq(path))
        facts = _set_up(spec, held, stop)
    except HolderFailure as exc:
        # A set-up thread may still be blocked in libpq: exit without waiting;
        # the kernel closes every socket, which ends the backends.
        _report({"event": "failed", "error": str(exc)})
        return 1
    _report({"event": "ready", "pid": os.getpid(), **facts})
    _silence_output()
    while not stop.is_set() and os.getppid() == parent:
        stop.wait(PARENT_POLL_INTERVAL)
    held.release()
    return 0


def _arguments(argv: list[str]) -> tuple[str, int, str | None]:
    """(application name, parent pid, libpq to load ahead or None) from
    ``--application-name NAME --parent PID [--libpq PATH]``."""
    try:
        options = dict(zip(argv[::2], argv[1::2], strict=True))
        return options["--application-name"], int(options["--parent"]), options.get("--libpq")
    except (KeyError, ValueError) as exc:
        raise SystemExit(
            f"usage: _holder.py --application-name NAME --parent PID [--libpq PATH] ({exc})"
        ) from exc


def _spec_arrives() -> bool:
    """Wait for the spec on stdin; False if none came within STANDBY_IDLE."""
    import select

    readable, _, _ = select.select([sys.stdin.buffer], [], [], STANDBY_IDLE)
    return bool(readable)


def main(argv: list[str] | None = None) -> int:
    _, parent, libpq = _arguments(sys.argv[1:] if argv is None else argv)
    _die_with_parent()
    if os.getppid() != parent:
        return 0  # the parent died before we could ask to be told
    loaded: dict[str, LibPq] = {}
    if libpq is not None:  # a standby: get ready for the spec before it comes
        with contextlib.suppress(HolderFailure):  # reported when the spec names it
            loaded[libpq] = LibPq(libpq)
        if not _spec_arrives():
            return 0
    line = sys.stdin.buffer.readline(1 << 20)
    if not line:
        return 0  # stdin closed without a spec: a standby that was not needed
    try:
        spec = json.loads(line)
        if not isinstance(spec, dict) or spec.get("mode") not in MODES:
            raise ValueError("expected an object with a known mode")
    except ValueError as exc:
        _report({"event": "failed", "error": f"malformed holder spec: {exc}"})
        return 1
    return _hold(spec, parent, loaded)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # never wait for a set-up thread stuck in libpq
