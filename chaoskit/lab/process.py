"""The process runtime: the lab's services as local processes on 127.0.0.1.

PostgreSQL runs from Debian's binaries (``/usr/lib/postgresql/15/bin``, never PATH) in a
temporary data directory, as the ``postgres`` user when we are root (``initdb`` refuses root);
Toxiproxy is the ``toxiproxy-server`` on PATH with its proxies from a generated config file;
ledger and catalog run under this Python. Each service is started detached (its own session,
not our child: it outlives ``chaoskit lab up``) and recorded with its pid and kernel start time
in the state file; its output goes to ``.chaoskit/lab/logs/NAME.log``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from chaoskit.lab.config import HOST, LabConfig
from chaoskit.lab.core import LabStatus, ServiceStatus, UpResult, wait_healthy
from chaoskit.lab.errors import LabError
from chaoskit.lab.health import SERVICES, Health, check_service, port_answers, postgres_ready
from chaoskit.lab.interrupt import held
from chaoskit.lab.knobs import knobs_for
from chaoskit.lab.state import LabState, ServiceRecord, Starter, load_state, save_state

__all__ = ["PG_BIN", "ProcessRuntime", "process_alive", "start_ticks"]

PG_BIN = Path(os.environ.get("CHAOSKIT_LAB_PG_BIN", "/usr/lib/postgresql/15/bin"))
DATABASE = "ledger"
SERVICE_DEPENDENCIES = ("aiohttp", "psycopg", "psycopg_pool")
STOP_GRACE = 10.0
# All start at once, then are waited for in order: ledger keeps trying its database at start
# (LEDGER_DB_WAIT), so its Python start-up overlaps initdb instead of following it.
START_PHASES = (SERVICES,)
KILL_WAIT = 5.0

# Runs under our Python: fork, and in the child start a new session, point stdio at the log,
# drop to the given uid/gid (-1: keep) and exec. The parent prints the child's pid and exits,
# so the service is never our child (no zombie, no ResourceWarning) and outlives us.
_LAUNCHER = r"""
import os, sys
log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
uid, gid, argv = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
pid = os.fork()
if pid == 0:
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        if gid >= 0:
            os.setgroups([])
            os.setgid(gid)
        if uid >= 0:
            os.setuid(uid)
        os.execv(argv[0], argv)
    except BaseException as exc:
        os.write(2, ("launch failed: %r\n" % (exc,)).encode())
    os._exit(127)
sys.stdout.write(str(pid))
"""


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks after boot): with the pid, it names one
    process for good, even after the pid is recycled."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None


def process_alive(pid: int, ticks: int | None) -> bool:
    """Whether the process ``pid`` that started at ``ticks`` still runs (zombies do not)."""
    fields = _proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return ticks is None or int(fields[19]) == ticks


def _in_order(names: list[str]) -> tuple[str, ...]:
    return tuple(name for name in SERVICES if name in names)


def _tail(path: str | None, lines: int = 15) -> str:
    if path is None:
        return ""
    try:
        text = Path(path).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n".join(text)


class ProcessRuntime:
    name = "process"

    def __init__(self, config: LabConfig) -> None:
        self.config = config
        self.ports = config.ports

    # --- up -------------------------------------------------------------------------------

    def up(self, settings: Mapping[str, str], timeout: float) -> UpResult:
        began = time.monotonic()
        deadline = began + timeout
        self._preflight()
        state = load_state(self.config.state_dir) or LabState(runtime=self.name)
        state.runtime = self.name
        started: list[str] = []
        restarted: list[str] = []
        already: list[str] = []
        try:
            for phase in START_PHASES:
                launched = []
                for name in phase:
                    wanted = knobs_for(name, settings)
                    record = state.services.get(name)
                    previous_data = None
                    if record is not None and self._alive(record):
                        if record.knobs == wanted:
                            already.append(name)
                            continue
                        self._stop(record)
                        restarted.append(name)
                    elif record is not None:
                        previous_data = record.data_dir  # it died: restart on the same data
                        del state.services[name]
                    else:
                        self._check_ports_free(name)
                    if name not in restarted:
                        started.append(name)
                    with held():  # a signal waits until the process is on record
                        state.services[name] = self._start(name, wanted, previous_data, deadline)
                    save_state(self.config.state_dir, state)
                    launched.append(name)
                for name in launched:
                    self._wait(name, state.services[name], deadline)
        except BaseException:
            # Leave nothing half-up: stop what this call started or restarted, then raise.
            for name in reversed(started + restarted):
                record = state.services.pop(name, None)
                if record is not None:
                    with contextlib.suppress(LabError):
                        self._stop(record, remove_data=True)
            save_state(self.config.state_dir, state)
            raise
        return UpResult(
            runtime=self.name,
            started=_in_order(started),
            already_running=_in_order(already),
            restarted=_in_order(restarted),
            ports=self.ports,
            seconds=time.monotonic() - began,
        )

    def _preflight(self) -> None:
        missing = [p.name for p in (PG_BIN / "initdb", PG_BIN / "postgres") if not p.exists()]
        if missing:
            raise LabError(
                f"PostgreSQL 15 binaries missing in {PG_BIN} ({', '.join(missing)}): "
                "apt-get install postgresql-15 (./dev setup does)"
            )
        if shutil.which("toxiproxy-server") is None:
            raise LabError("toxiproxy-server is not on PATH: run ./dev setup")
        if "CHAOSKIT_LAB_PYTHON" not in os.environ:
            absent = [m for m in SERVICE_DEPENDENCIES if importlib.util.find_spec(m) is None]
            if absent:
                raise LabError(
                    f"the lab's services need {', '.join(absent)} in {sys.executable} "
                    "(compose/services/requirements.txt): uv sync"
                )

    def _check_ports_free(self, name: str) -> None:
        ports = self.ports
        owned = {
            "postgres": [ports.postgres],
            "toxiproxy": [ports.toxiproxy, ports.ledger_postgres_proxy, ports.catalog_ledger_proxy],
            "ledger": [ports.ledger],
            "catalog": [ports.catalog],
        }[name]
        busy = [port for port in owned if port_answers(port)]
        if busy:
            raise LabError(
                f"{name}: port {', '.join(map(str, busy))} on {HOST} is in use by something "
                "`chaoskit lab up` did not start (another lab? `chaoskit lab status`)"
            )

    def _start(
        self, name: str, knobs: dict[str, str], data_dir: str | None, deadline: float
    ) -> ServiceRecord:
        self.config.logs_dir.mkdir(parents=True, exist_ok=True)
        log = self.config.logs_dir / f"{name}.log"
        record = ServiceRecord(name=name, started_by=Starter.current(), knobs=knobs, log=str(log))
        if name == "postgres":
            record.data_dir = data_dir or self._new_data_dir()
            argv, env, user = self._postgres(record.data_dir, log, deadline)
        elif name == "toxiproxy":
            argv, env, user = self._toxiproxy(), self._base_env(), None
        else:
            argv, env, user = self._python_service(name, knobs)
        record.pid = self._spawn(argv, env, log, user)
        record.start_ticks = start_ticks(record.pid)
        return record

    def _spawn(
        self, argv: list[str], env: dict[str, str], log: Path, user: pwd.struct_passwd | None
    ) -> int:
        uid, gid = (user.pw_uid, user.pw_gid) if user else (-1, -1)
        with log.open("a") as handle:
            handle.write(f"--- chaoskit lab: starting {' '.join(argv)}\n")
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(log), str(uid), str(gid), *argv],
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0 or not done.stdout.strip().isdigit():
            raise LabError(f"cannot start {argv[0]}: {done.stderr.strip() or done.stdout}")
        return int(done.stdout)

    def _base_env(self) -> dict[str, str]:
        """Our environment without any service knob: only --set decides those."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("LEDGER_", "CATALOG_"))
        }
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # --- per service ----------------------------------------------------------------------

    def _postgres_user(self) -> pwd.struct_passwd | None:
        """The ``postgres`` user when we are root (PostgreSQL refuses to run as root)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise LabError("running as root needs a `postgres` user (Debian's package)") from None

    def _new_data_dir(self) -> str:
        root = tempfile.mkdtemp(prefix="chaoskit-lab-postgres-")
        user = self._postgres_user()
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        return root

    def _postgres(
        self, root: str, log: Path, deadline: float
    ) -> tuple[list[str], dict[str, str], pwd.struct_passwd | None]:
        user = self._postgres_user()
        data = Path(root) / "data"
        if not (data / "PG_VERSION").exists():
            argv = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "ledger", "-A", "trust"]
            argv += ["-E", "UTF8", "--locale=C", "--no-sync"]
            try:
                done = subprocess.run(
                    argv,
                    capture_output=True,
                    text=True,
                    cwd="/",
                    timeout=max(5.0, deadline - time.monotonic()),
                    check=False,
                    user=user.pw_uid if user else None,
                    group=user.pw_gid if user else None,
                    extra_groups=[] if user else None,
                )
            except subprocess.TimeoutExpired as exc:
                raise LabError(f"initdb did not finish in time: {exc}") from exc
            with log.open("a") as handle:
                handle.write(done.stdout + done.stderr)
            if done.returncode != 0:
                raise LabError(f"initdb failed ({done.returncode}): {done.stderr.strip()}")
        argv = [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(self.ports.postgres)]
        argv += ["-k", root, "-c", f"listen_addresses={HOST}"]
        return argv, self._base_env(), user

    def _toxiproxy(self) -> list[str]:
        ports = self.ports
        proxies = [
            {
                "name": "ledger_postgres",
                "listen": f"{HOST}:{ports.ledger_postgres_proxy}",
                "upstream": f"{HOST}:{ports.postgres}",
                "enabled": True,
            },
            {
                "name": "catalog_ledger",
                "listen": f"{HOST}:{ports.catalog_ledger_proxy}",
                "upstream": f"{HOST}:{ports.ledger}",
                "enabled": True,
            },
        ]
        config = self.config.state_dir / "toxiproxy.json"
        config.write_text(json.dumps(proxies, indent=2) + "\n", encoding="utf-8")
        binary = shutil.which("toxiproxy-server") or "toxiproxy-server"
        return [binary, "-host", HOST, "-port", str(ports.toxiproxy), "-config", str(config)]

    def _python_service(
        self, name: str, knobs: dict[str, str]
    ) -> tuple[list[str], dict[str, str], None]:
        ports = self.ports
        env = self._base_env()
        if name == "ledger":
            env["LEDGER_HOST"] = HOST
            env["LEDGER_PORT"] = str(ports.ledger)
            env["LEDGER_DSN"] = (
                f"postgresql://ledger:ledger@{HOST}:{ports.ledger_postgres_proxy}/{DATABASE}"
            )
        else:
            env["CATALOG_HOST"] = HOST
            env["CATALOG_PORT"] = str(ports.catalog)
            env["CATALOG_LEDGER_URL"] = f"http://{HOST}:{ports.catalog_ledger_proxy}"
        env.update(knobs)
        python = os.environ.get("CHAOSKIT_LAB_PYTHON", sys.executable)
        return [python, str(self.config.services_dir / f"{name}.py")], env, None

    # --- waiting --------------------------------------------------------------------------

    def _gone(self, record: ServiceRecord) -> Callable[[str], str | None]:
        def gone(name: str) -> str | None:
            if self._alive(record):
                return None
            return f"pid {record.pid} exited; last lines of {record.log}:\n{_tail(record.log)}"

        return gone

    def _wait(self, name: str, record: ServiceRecord, deadline: float) -> None:
        gone = self._gone(record)
        if name == "postgres":
            self._wait_until(lambda: postgres_ready(self.ports.postgres, "postgres"), deadline)
            self._create_database(deadline)
        wait_healthy([name], self.ports, deadline, gone)

    def _wait_until(self, check: Callable[[], Health], deadline: float) -> None:
        while True:
            health = check()
            if health.ok:
                return
            if time.monotonic() >= deadline:
                raise LabError(f"postgres did not accept connections in time: {health.detail}")
            time.sleep(0.1)

    def _create_database(self, deadline: float) -> None:
        if postgres_ready(self.ports.postgres, DATABASE).ok:
            return
        argv = [str(PG_BIN / "createdb"), "-h", HOST, "-p", str(self.ports.postgres)]
        argv += ["-U", "ledger", DATABASE]
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=max(5.0, deadline - time.monotonic()),
            check=False,
        )
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise LabError(f"createdb {DATABASE} failed: {done.stderr.strip()}")

    # --- down -----------------------------------------------------------------------------

    def _alive(self, record: ServiceRecord) -> bool:
        return record.pid is not None and process_alive(record.pid, record.start_ticks)

    def _stop(self, record: ServiceRecord, *, remove_data: bool = False) -> None:
        """Stop one recorded process: SIGTERM (postgres: SIGINT, its fast shutdown), then
        SIGKILL to its whole session after STOP_GRACE seconds."""
        pid = record.pid
        if pid is not None and self._alive(record):
            polite = signal.SIGINT if record.name == "postgres" else signal.SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, polite)
            if not self._ended(record, STOP_GRACE):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)  # its own session: pgid == pid
                if not self._ended(record, KILL_WAIT):
                    raise LabError(f"{record.name} (pid {pid}) survived SIGKILL")
        if remove_data and record.data_dir:
            shutil.rmtree(record.data_dir, ignore_errors=True)

    def _ended(self, record: ServiceRecord, within: float) -> bool:
        deadline = time.monotonic() + within
        while self._alive(record):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def down(self, services: Sequence[str] | None, force: bool) -> tuple[str, ...]:
        # force changes nothing here: a process we did not record is not ours to find.
        state = load_state(self.config.state_dir)
        if state is None:
            return ()
        wanted = set(state.services) if services is None else set(services)
        stopped: list[str] = []
        for name in reversed(SERVICES):
            record = state.services.get(name)
            if record is None or name not in wanted:
                continue
            self._stop(record, remove_data=True)
            del state.services[name]
            save_state(self.config.state_dir, state)
            stopped.append(name)
        if "toxiproxy" in stopped:
            (self.config.state_dir / "toxiproxy.json").unlink(missing_ok=True)
        return tuple(stopped)

    # --- status ---------------------------------------------------------------------------

    def status(self) -> LabStatus:
        state = load_state(self.config.state_dir)
        recorded = state.services if state and state.runtime == self.name else {}
        rows = []
        for name in SERVICES:
            record = recorded.get(name)
            health = check_service(name, self.ports)
            if record is not None:
                running = self._alive(record)
                where = f"pid {record.pid}" if running else f"pid {record.pid} (gone)"
            else:
                running = health.ok
                where = "not started by chaoskit lab" if running else "-"
            rows.append(
                ServiceStatus(
                    name=name,
                    running=running,
                    healthy=health.ok,
                    detail=health.detail,
                    where=where,
                    owned=record is not None,
                )
            )
        return LabStatus(runtime=self.name, services=tuple(rows))
