"""Selecting local processes: every selector against real victims, pick, the
guard that never selects chaoskit itself, and clear preflight failures."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from chaoskit_process import MemoryLimit, Stop
from chaoskit_process._select import SelectionError, find, pick
from process_faults import target
from process_victims import HTTP, SLEEP, Victim, symlinked_python, wait_for
from servers import free_port

from chaoskit import InjectorError
from chaoskit.testing import fault_context

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

ROOT = Path(__file__).resolve().parents[3]


def pids(**selector: object) -> list[int]:
    return [found.pid for found in find(target(**selector))]


def test_pid(spawn: Callable[..., Victim]) -> None:
    victim = spawn()

    assert pids(pid=victim.pid) == [victim.pid]


def test_pid_of_a_gone_process_matches_nothing(spawn: Callable[..., Victim]) -> None:
    victim = spawn()
    victim.stop()

    assert pids(pid=victim.pid) == []


def test_pid_file(spawn: Callable[..., Victim], tmp_path: Path) -> None:
    victim = spawn()
    pid_file = tmp_path / "app.pid"
    pid_file.write_text(f"{victim.pid}\n")

    assert pids(pid_file=str(pid_file)) == [victim.pid]
    assert pids(pid_file=str(tmp_path / "missing.pid")) == []
    pid_file.write_text("not a pid")
    with pytest.raises(SelectionError, match="does not hold a process id"):
        pids(pid_file=str(pid_file))


def test_name(spawn: Callable[..., Victim], tmp_path: Path) -> None:
    name = f"ckv{os.urandom(4).hex()}"
    victim = spawn(executable=symlinked_python(tmp_path, name))

    assert psutil.Process(victim.pid).name() == name
    assert pids(name=name) == [victim.pid]
    assert pids(name=name[:-1]) == []  # exact, not a prefix


def test_cmdline(spawn: Callable[..., Victim]) -> None:
    one, two = spawn(), spawn()

    assert pids(cmdline=one.marker) == [one.pid]
    assert pids(cmdline=f"{one.marker}|{two.marker}") == sorted([one.pid, two.pid])


def test_port(spawn: Callable[..., Victim]) -> None:
    port = free_port()
    victim = spawn(HTTP, str(port))
    wait_for(lambda: victim.pid in pids(port=port), f"the HTTP victim to listen on {port}")

    assert pids(port=port) == [victim.pid]
    assert pids(port=free_port()) == []


def test_pick(spawn: Callable[..., Victim]) -> None:
    one, two = spawn(), spawn()
    both = target(cmdline=f"{one.marker}|{two.marker}")
    matches = find(both)

    assert [m.pid for m in pick(matches, "all", None, described="x")] == sorted([one.pid, two.pid])
    with pytest.raises(SelectionError, match=r"2 processes match x .* but pick is one"):
        pick(matches, "one", None, described="x")
    chosen = pick(matches, "random", None, described="x")
    assert len(chosen) == 1
    assert chosen[0].pid in (one.pid, two.pid)
    assert len(pick(matches, "random", 5, described="x")) == 2


def test_never_selects_itself_or_its_ancestors() -> None:
    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    everything = set(pids(cmdline="."))  # a regex that matches every command line

    assert everything  # other processes are found ...
    assert not everything & mine  # ... but never this one or what started it
    own_cmdline = " ".join(psutil.Process().cmdline())
    assert os.getpid() not in pids(cmdline=own_cmdline.split()[0])
    assert pids(pid=os.getpid()) == []
    assert pids(pid=os.getppid()) == []


def test_zombies_are_not_selected(spawn: Callable[..., Victim]) -> None:
    victim = spawn()
    victim.process.kill()
    wait_for(lambda: psutil.Process(victim.pid).status() == psutil.STATUS_ZOMBIE, "a zombie")

    assert pids(pid=victim.pid) == []
    victim.process.wait()


async def test_preflight_fails_clearly_when_nothing_matches(run_id: str) -> None:
    injector = Stop()
    ctx = fault_context(
        injector, target(cmdline="no-such-process-anywhere-1234"), {}, run_id=run_id
    )

    with pytest.raises(InjectorError, match="no process matches cmdline='no-such-process"):
        await injector.preflight(ctx)


async def test_preflight_fails_clearly_when_several_match_pick_one(
    spawn: Callable[..., Victim], run_id: str
) -> None:
    one, two = spawn(), spawn()
    both = target(cmdline=f"{one.marker}|{two.marker}", pick="one")
    ctx = fault_context(Stop(), both, {}, run_id=run_id)

    with pytest.raises(InjectorError, match="2 processes match"):
        await Stop().preflight(ctx)


def test_preflight_fails_clearly_without_permission(spawn: Callable[..., Victim]) -> None:
    """Run as the unprivileged user nobody against a victim of ours: no signal,
    no cgroup. Uses the system Python with this environment's packages on its path."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to the user nobody")
    victim = spawn(SLEEP)
    site = next(p for p in sys.path if p.endswith("site-packages"))
    code = f"""
import anyio, structlog
from chaoskit import FaultContext, InjectorError
from chaoskit_process import MemoryLimit, ProcessTarget, Stop
def context(injector, pid, params):
    return FaultContext(run_id="r", fault_name="f", target_name="t",
        target=ProcessTarget(pid=pid), params=injector.params.model_validate(params),
        log=structlog.get_logger())
import subprocess
mine = subprocess.Popen(["sleep", "30"])
cases = [(Stop(), {victim.pid}, {{}}), (MemoryLimit(), mine.pid, {{"mib": 64}})]
for injector, pid, params in cases:
    try:
        anyio.run(injector.preflight, context(injector, pid, params))
        print("PASSED")
    except InjectorError as exc:
        print("REFUSED", exc)
mine.kill()
mine.wait()
"""
    path = os.pathsep.join([site, str(ROOT), str(ROOT / "injectors" / "process")])
    done = subprocess.run(
        [
            "runuser",
            "-u",
            "nobody",
            "--",
            "env",
            f"PYTHONPATH={path}",
            "/usr/bin/python3",
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    if "No module named" in done.stderr or done.returncode == 126:
        pytest.skip(f"the system Python cannot load this environment: {done.stderr[-300:]}")
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout + done.stderr
    assert lines[0].startswith("REFUSED no permission to signal process"), lines[0]
    assert "run chaoskit as that user or as root" in lines[0]
    assert lines[1].startswith("REFUSED cannot create a cgroup in"), lines[1]
    assert "not writable" in lines[1]
    assert MemoryLimit.name == "process.memory_limit"
