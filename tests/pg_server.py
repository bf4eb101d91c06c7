"""A private PostgreSQL server for tests, benchmarks and the embedded lab.

``start_postgres()`` runs ``initdb`` and ``pg_ctl start`` from PostgreSQL's own
versioned bin directory (Debian puts them in ``/usr/lib/postgresql/N/bin``, not
on PATH; hand-made symlinks on one machine must not be relied on), in a fresh
temporary directory, listening on 127.0.0.1 and a unix socket in that
directory only, with trust authentication. ``initdb`` refuses to run as root,
so as root every server command runs as the ``postgres`` OS user through
``runuser``; as anyone else it runs directly as the current user.

``stop_postgres()`` stops it with ``pg_ctl stop -m immediate`` (no checkpoint:
the data is thrown away) and removes the directory. Every command has a
timeout; nothing is left running by a failed start.

Self-contained on purpose (standard library only, no test framework): the lab
and the benchmarks import it too.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "HOST",
    "PgServer",
    "PgServerError",
    "pg_bin_dir",
    "running_postgres",
    "start_postgres",
    "stop_postgres",
]

HOST = "127.0.0.1"
PORT_RANGE = (20000, 32000)
"""Below the kernel's ephemeral range (32768-61000), like every test server here."""
OS_USER = "postgres"
"""The OS user that runs the server when we are root (initdb refuses root)."""
COMMAND_TIMEOUT = 60.0

_rng = random.Random()


class PgServerError(RuntimeError):
    """The private server could not be set up, started or stopped."""


@dataclass
class PgServer:
    """A running private PostgreSQL server."""

    bin_dir: Path
    base_dir: Path
    port: int
    max_connections: int
    run_as: str | None
    """the OS user the server runs as (``postgres`` when we are root), None for ourselves"""
    host: str = HOST
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir

    @property
    def log_path(self) -> Path:
        return self.base_dir / "postgres.log"

    def dsn(self, user: str = "postgres", dbname: str = "postgres") -> str:
        """A libpq URI for ``user`` on ``dbname`` over TCP (trust: no password)."""
        return f"postgresql://{user}@{self.host}:{self.port}/{dbname}"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def postmaster_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        return int(first) if first.strip().isdigit() else None


def pg_bin_dir(version: int = 15) -> Path | None:
    """PostgreSQL's server bin directory: ``$CHAOSKIT_PG_BIN`` if set, else the
    Debian/Ubuntu ``/usr/lib/postgresql/<version>/bin``; None when absent."""
    override = os.environ.get("CHAOSKIT_PG_BIN")
    candidate = Path(override) if override else Path(f"/usr/lib/postgresql/{version}/bin")
    return candidate if (candidate / "initdb").is_file() else None


def _free_port(attempts: int = 200) -> int:
    low, high = PORT_RANGE
    for _ in range(attempts):
        port = _rng.randint(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    raise PgServerError(f"no free port in {low}-{high} on {HOST} after {attempts} tries")


def _as_server_user(command: list[str], run_as: str | None) -> list[str]:
    return ["runuser", "-u", run_as, "--", *command] if run_as else command


def _run(command: list[str], run_as: str | None, timeout: float = COMMAND_TIMEOUT) -> str:
    try:
        done = subprocess.run(
            _as_server_user(command, run_as),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise PgServerError(f"{command[0]} did not finish within {timeout:g}s") from exc
    if done.returncode != 0:
        raise PgServerError(
            f"{' '.join(command)} failed with exit {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def _make_base_dir(run_as: str | None) -> Path:
    # Not under pytest's tmp_path: that is root's and mode 0700, so the
    # postgres user could not reach a data directory inside it.
    base = Path(tempfile.mkdtemp(prefix="chaoskit-pg-"))
    if run_as:
        shutil.chown(base, user=run_as, group=None)
    return base


def start_postgres(
    *,
    max_connections: int = 40,
    settings: dict[str, str] | None = None,
    version: int = 15,
    attempts: int = 5,
) -> PgServer:
    """initdb and start a private server; ``settings`` are extra ``-c name=value``.

    Retries on another port when the chosen one is taken meanwhile (bounded by
    ``attempts``). Raises :class:`PgServerError` with the server's log tail.
    """
    bin_dir = pg_bin_dir(version)
    if bin_dir is None:
        raise PgServerError(
            f"PostgreSQL {version} server binaries not found in /usr/lib/postgresql/{version}/bin "
            "(install the postgresql package, or set CHAOSKIT_PG_BIN)"
        )
    run_as = OS_USER if os.geteuid() == 0 else None
    base = _make_base_dir(run_as)
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(base / "data"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-locale",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            run_as,
        )
        last_error: PgServerError | None = None
        for _ in range(attempts):
            server = PgServer(
                bin_dir=bin_dir,
                base_dir=base,
                port=_free_port(),
                max_connections=max_connections,
                run_as=run_as,
                settings=dict(settings or {}),
            )
            try:
                _pg_ctl_start(server)
            except PgServerError as exc:
                last_error = exc
                if "could not bind" not in server.log_tail() and "in use" not in str(exc):
                    raise
                continue
            return server
        raise PgServerError(f"could not start PostgreSQL after {attempts} ports: {last_error}")
    except BaseException:
        _kill_leftover(base)
        shutil.rmtree(base, ignore_errors=True)
        raise


def _pg_ctl_start(server: PgServer) -> None:
    options = [
        f"-p {server.port}",
        f"-k {server.socket_dir}",
        f"-c listen_addresses={server.host}",
        f"-c max_connections={server.max_connections}",
        "-c fsync=off",
        "-c full_page_writes=off",
        "-c synchronous_commit=off",
    ]
    options += [f"-c {name}={value}" for name, value in server.settings.items()]
    try:
        _run(
            [
                str(server.bin_dir / "pg_ctl"),
                "-D",
                str(server.data_dir),
                "-o",
                " ".join(options),
                "-l",
                str(server.log_path),
                "-t",
                "30",
                "-w",
                "start",
            ],
            server.run_as,
        )
    except PgServerError as exc:
        raise PgServerError(f"{exc}\nserver log:\n{server.log_tail()}") from exc


def _kill_leftover(base: Path) -> None:
    """SIGKILL a postmaster still running from ``base`` (a failed start or stop)."""
    try:
        first = (base / "data" / "postmaster.pid").read_text().split("\n", 1)[0]
    except OSError:
        return
    if first.strip().isdigit():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(first), signal.SIGKILL)


def stop_postgres(server: PgServer) -> None:
    """``pg_ctl stop -m immediate``, then remove the directory. Safe to call twice."""
    if not server.base_dir.exists():
        return
    pid = server.postmaster_pid()
    try:
        if pid is not None:
            _run(
                [
                    str(server.bin_dir / "pg_ctl"),
                    "-D",
                    str(server.data_dir),
                    "-m",
                    "immediate",
                    "-t",
                    "30",
                    "-w",
                    "stop",
                ],
                server.run_as,
            )
    except PgServerError:
        _kill_leftover(server.base_dir)
    finally:
        if pid is not None:
            _wait_gone(pid, timeout=10.0)
        shutil.rmtree(server.base_dir, ignore_errors=True)


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        time.sleep(0.05)


@contextlib.contextmanager
def running_postgres(
    *, max_connections: int = 40, settings: dict[str, str] | None = None
) -> Iterator[PgServer]:
    """``with running_postgres() as server:`` — started, and stopped at the end."""
    server = start_postgres(max_connections=max_connections, settings=settings)
    try:
        yield server
    finally:
        stop_postgres(server)
