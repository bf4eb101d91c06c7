"""Running the real ``chaoskit`` command in a subprocess, for engine and
integration tests, and reading what it left in its run directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ChaoskitProcess", "journal_events", "run_chaoskit", "start_chaoskit", "wait_for_event"]


@dataclass
class ChaoskitProcess:
    process: subprocess.Popen[str]
    runs_dir: Path

    def run_dir(self) -> Path | None:
        dirs = sorted(p for p in self.runs_dir.glob("*") if p.is_dir())
        return dirs[-1] if dirs else None

    def send(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def finish(self, timeout: float = 60.0) -> tuple[int, str, str]:
        stdout, stderr = self.process.communicate(timeout=timeout)
        return self.process.returncode, stdout, stderr


def _command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "chaoskit", "--log-format", "json", *args]


def start_chaoskit(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> ChaoskitProcess:
    runs_dir = cwd / "runs"
    full = [*args, "--runs-dir", str(runs_dir)] if args and args[0] == "run" else args
    process = subprocess.Popen(
        _command(full),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return ChaoskitProcess(process, runs_dir)


def run_chaoskit(
    args: list[str], cwd: Path, timeout: float = 120.0, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    return start_chaoskit(args, cwd, env).finish(timeout)


def journal_events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "journal.jsonl"
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return events


def wait_for_event(run: ChaoskitProcess, event: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll the run's journal until ``event`` appears (bounded in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_dir = run.run_dir()
        if run_dir is not None:
            for record in journal_events(run_dir):
                if record["event"] == event:
                    return record
        if run.process.poll() is not None:
            _, out, err = run.finish()
            raise AssertionError(f"chaoskit exited before {event!r}:\n{out}\n{err}")
        time.sleep(0.05)
    raise AssertionError(f"no {event!r} in the journal within {timeout}s")
