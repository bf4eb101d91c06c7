"""Victim processes for the process-family tests, and independent checks on them.

Every victim is a small Python program with a unique marker as its last
argument, so that a test can find it (and its restarted copies) by command line.
Every victim ends itself after a bounded time in case a test's teardown never
runs. The checks read /proc through psutil or plain files, nothing shared with
the code under test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

__all__ = [
    "ALLOCATE",
    "BURN",
    "HTTP",
    "SLEEP",
    "Victim",
    "alive_with",
    "end_everything_with",
    "helpers_of",
    "new_marker",
    "status_of",
    "symlinked_python",
    "wait_for",
]

SLEEP = "import time; time.sleep(120)"
BURN = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end:\n    pass\n"
ALLOCATE = (
    "import sys, time\n"
    "sys.stdin.readline()\n"
    "held = []\n"
    "for _ in range(32):\n"
    "    chunk = bytearray(16 * 1024 * 1024)\n"
    "    chunk[::4096] = b'x' * (len(chunk) // 4096)\n"
    "    held.append(chunk)\n"
    "    print(len(held) * 16, flush=True)\n"
    "time.sleep(60)\n"
)
HTTP = (
    "import http.server, sys, threading\n"
    "class Ok(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200)\n"
    "        self.send_header('Content-Length', '2')\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b'ok')\n"
    "    def log_message(self, *args):\n"
    "        pass\n"
    "server = http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), Ok)\n"
    "threading.Timer(120, server.shutdown).start()\n"
    "server.serve_forever()\n"
)


def new_marker() -> str:
    return f"ck-victim-{uuid.uuid4().hex[:10]}"


@dataclass
class Victim:
    """A victim process started by a test."""

    process: subprocess.Popen[bytes]
    marker: str
    argv: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def start(
        cls,
        code: str = SLEEP,
        *args: str,
        marker: str | None = None,
        executable: str = sys.executable,
        stdin: int | None = subprocess.DEVNULL,
    ) -> Victim:
        marker = marker or new_marker()
        argv = [executable, "-c", code, *args, marker]
        process = subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=subprocess.PIPE if stdin == subprocess.PIPE else subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        victim = cls(process, marker, argv)
        wait_for(lambda: status_of(process.pid) not in (None, psutil.STATUS_ZOMBIE), "victim")
        return victim

    def stop(self) -> None:
        """End it (continue it first: a stopped process does not die of SIGTERM)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
                self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


def status_of(pid: int) -> str | None:
    """psutil's status of ``pid``, None when there is no such process."""
    try:
        return str(psutil.Process(pid).status())
    except psutil.NoSuchProcess:
        return None


def alive_with(text: str) -> list[psutil.Process]:
    """Live (not zombie) processes whose command line contains ``text``, this one
    and its ancestors excluded."""
    me = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if process.pid in me or text not in cmdline:
            continue
        if process.info.get("status") != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def helpers_of(run_id: str) -> list[psutil.Process]:
    """chaoskit-process helpers (burners, hogs, restarters) of a run, alive."""
    return [p for p in alive_with(run_id) if "chaoskit-process-helper" in p.info["cmdline"]]


def end_everything_with(text: str) -> None:
    """SIGKILL every live process whose command line contains ``text`` and wait
    (bounded) until none is left; children of ours are reaped."""
    for process in alive_with(text):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGCONT)
            process.kill()
    for process in alive_with(text):
        with contextlib.suppress(ChildProcessError, psutil.NoSuchProcess, psutil.TimeoutExpired):
            process.wait(timeout=5)
    wait_for(lambda: not alive_with(text), f"processes with {text!r} to end")


def wait_for(condition: object, what: str, timeout: float = 10.0) -> None:
    """Poll ``condition()`` until true (bounded in time); fail naming ``what``."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def symlinked_python(directory: Path, name: str) -> str:
    """This Python under another file name, so that its process name is ``name``."""
    link = directory / name
    link.symlink_to(os.path.realpath(sys.executable))
    return str(link)
