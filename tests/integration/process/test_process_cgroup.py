"""process.memory_limit and process.cpu_limit on this machine's cgroups, read back
through /proc/PID/cgroup and the cgroup files themselves; plus the cgroup
helpers on fake inputs for the v2 layout this machine does not have."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import anyio
import psutil
import pytest
from chaoskit_process import CpuLimit, MemoryLimit, _limits
from chaoskit_process import _cgroup as cg
from process_faults import target
from process_victims import ALLOCATE, BURN, SLEEP, Victim

from chaoskit import InjectorError
from chaoskit.testing import FaultTracker, fault_context

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

MIB = 1024 * 1024


def membership(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cgroup").read_text().splitlines()


def cgroup_dir(pid: int, controller: str) -> Path:
    """The cgroup directory of ``pid`` for a v1 controller, read independently."""
    for line in membership(pid):
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path("/sys/fs/cgroup", controller) / path.lstrip("/")
    raise AssertionError(f"no {controller} cgroup for {pid}")


def needs_v1(controller: str) -> None:
    hierarchy = cg.find_hierarchy(controller)
    if (
        hierarchy is None
        or hierarchy.version != 1
        or hierarchy.mount != f"/sys/fs/cgroup/{controller}"
    ):
        pytest.skip(f"these checks read a cgroup v1 {controller} hierarchy at /sys/fs/cgroup")
    if not os.access(hierarchy.mount, os.W_OK):
        pytest.skip("cgroups are not writable here")


async def test_memory_limit_oom_kills_a_process_that_needs_more(
    spawn: Callable[..., Victim], faults: FaultTracker, run_id: str
) -> None:
    needs_v1("memory")
    victim = spawn(ALLOCATE, stdin=subprocess.PIPE)
    original = membership(victim.pid)

    fault = await faults.apply(MemoryLimit(), target(pid=victim.pid), {"mib": 64})

    await MemoryLimit().verify(fault.ctx, fault.revert_state)
    limited = cgroup_dir(victim.pid, "memory")
    assert limited.name == f"chaoskit-{run_id}-f"
    assert (limited / "memory.limit_in_bytes").read_text().strip() == str(64 * MIB)
    assert membership(victim.pid) != original
    assert victim.process.stdin is not None
    victim.process.stdin.write(b"allocate 512 MiB\n")
    victim.process.stdin.flush()
    code = await anyio.to_thread.run_sync(lambda: victim.process.wait(timeout=30))
    assert code in (-9, 1), code  # OOM-killed (SIGKILL) or a MemoryError, before 512 MiB
    assert victim.process.stdout is not None
    held = [int(line) for line in victim.process.stdout.read().split()]
    assert max(held, default=0) < 64

    await fault.revert()

    assert not limited.exists()


async def test_memory_limit_revert_restores_membership_exactly(
    spawn: Callable[..., Victim], faults: FaultTracker
) -> None:
    needs_v1("memory")
    victim = spawn()
    original = membership(victim.pid)

    fault = await faults.apply(MemoryLimit(), target(cmdline=victim.marker), {"mib": 64})
    limited = cgroup_dir(victim.pid, "memory")
    assert membership(victim.pid) != original
    state = fault.revert_state
    assert isinstance(state, dict)
    [process] = state["processes"]
    assert process["cgroup"] == str(cgroup_dir_path(original, "memory"))
    assert process["moved_to"] == f"{process['cgroup'].rstrip('/')}/{limited.name}"

    # From the journal's JSON, by a fresh instance, as chaoskit rollback would.
    await MemoryLimit().revert(fault.ctx, json.loads(json.dumps(state)))

    assert membership(victim.pid) == original
    assert not limited.exists()
    await fault.revert()  # twice: harmless
    assert membership(victim.pid) == original


def cgroup_dir_path(lines: list[str], controller: str) -> str:
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    raise AssertionError(controller)


async def test_cpu_limit_caps_a_spinning_process(
    spawn: Callable[..., Victim], faults: FaultTracker
) -> None:
    needs_v1("cpu")
    burner = spawn(BURN)
    original = membership(burner.pid)
    process = psutil.Process(burner.pid)
    process.cpu_percent(None)
    await anyio.sleep(0.4)
    before = process.cpu_percent(None)

    fault = await faults.apply(CpuLimit(), target(pid=burner.pid), {"cpus": 0.2})

    await CpuLimit().verify(fault.ctx, fault.revert_state)
    limited = cgroup_dir(burner.pid, "cpu")
    assert (limited / "cpu.cfs_quota_us").read_text().strip() == "20000"
    assert (limited / "cpu.cfs_period_us").read_text().strip() == "100000"
    process.cpu_percent(None)
    await anyio.sleep(1.0)
    after = process.cpu_percent(None)
    throttled = int(
        dict(line.split() for line in (limited / "cpu.stat").read_text().splitlines())[
            "nr_throttled"
        ]
    )
    assert after <= 30, (before, after)
    assert throttled > 0  # the kernel held it back: the quota, not a busy machine

    await fault.revert()

    assert membership(burner.pid) == original
    assert not limited.exists()


async def test_revert_moves_back_processes_that_joined_meanwhile(
    spawn: Callable[..., Victim], faults: FaultTracker
) -> None:
    """A child forked inside the new cgroup would keep it from being removed:
    revert moves it to where the target came from."""
    needs_v1("memory")
    victim, child = spawn(), spawn()
    original = membership(child.pid)
    fault = await faults.apply(MemoryLimit(), target(pid=victim.pid), {"mib": 64})
    limited = cgroup_dir(victim.pid, "memory")
    (limited / "cgroup.procs").write_text(str(child.pid))  # as if victim had forked it
    assert cgroup_dir(child.pid, "memory") == limited

    await fault.revert()

    assert membership(child.pid) == original
    assert not limited.exists()


async def test_inject_refuses_a_process_moved_since_prepare(
    spawn: Callable[..., Victim], run_id: str
) -> None:
    needs_v1("cpu")
    victim = spawn(SLEEP)
    ctx = fault_context(CpuLimit(), target(pid=victim.pid), {"cpus": 0.5}, run_id=run_id)
    state = await CpuLimit().prepare(ctx)
    assert isinstance(state, dict)
    state["processes"][0]["cgroup"] = "/somewhere-else"

    with pytest.raises(InjectorError, match="since prepare; not touching it"):
        await CpuLimit().inject(ctx, state)
    await CpuLimit().revert(ctx, state)  # removes the cgroup inject had created


async def test_preflight_names_a_missing_controller(
    spawn: Callable[..., Victim], run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = spawn(SLEEP)
    monkeypatch.setattr(cg, "find_hierarchy", lambda controller, mountinfo=None: None)
    ctx = fault_context(MemoryLimit(), target(pid=victim.pid), {"mib": 64}, run_id=run_id)

    with pytest.raises(InjectorError, match="no mounted cgroup hierarchy offers the memory"):
        await MemoryLimit().preflight(ctx)


# --- pure helpers on fake inputs (the v2 layout is not on this machine) ---------

MOUNTINFO = """\
22 1 0:21 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
30 22 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
31 22 0:27 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
32 22 0:28 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_mountinfo_finds_v1_hierarchies() -> None:
    memory = cg.find_hierarchy("memory", MOUNTINFO)
    cpu = cg.find_hierarchy("cpu", MOUNTINFO)

    assert memory == cg.Hierarchy(1, "/sys/fs/cgroup/memory", "/docker/abc", "memory")
    assert cpu == cg.Hierarchy(1, "/sys/fs/cgroup/cpu,cpuacct", "/", "cpu")
    assert cg.fs_path(memory, "/docker/abc/app") == "/sys/fs/cgroup/memory/app"
    assert cg.fs_path(cpu, "/app/x") == "/sys/fs/cgroup/cpu,cpuacct/app/x"


def test_mountinfo_finds_a_v2_hierarchy_that_offers_the_controller(tmp_path: Path) -> None:
    """A fake cgroup2 mount: a directory with a cgroup.controllers file."""
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    mountinfo = f"40 1 0:30 / {tmp_path} rw - cgroup2 cgroup2 rw\n"

    assert cg.find_hierarchy("memory", mountinfo) == cg.Hierarchy(2, str(tmp_path), "/", "memory")
    assert cg.find_hierarchy("hugetlb", mountinfo) is None


@pytest.mark.parametrize(
    ("version", "original", "planned"),
    [
        (1, "/app", "/app/t"),
        (1, "/", "/t"),
        (2, "/system.slice/app.service", "/system.slice/t"),
        (2, "/app", "/t"),
        (2, "/", "/t"),
    ],
)
def test_where_the_new_cgroup_goes(version: cg.Version, original: str, planned: str) -> None:
    assert cg.plan_cgroup(version, original, "t") == planned


def test_v2_preflight_says_how_to_delegate_the_controller(tmp_path: Path) -> None:
    """A fake v2 tree whose parent does not delegate memory to its children."""
    (tmp_path / "system.slice").mkdir()
    (tmp_path / "system.slice" / "cgroup.subtree_control").write_text("cpu\n")
    hierarchy = cg.Hierarchy(2, str(tmp_path), "/", "memory")
    group = _limits.CgroupGroup(cgroup="/system.slice/t", home="/system.slice/app.service")

    problem = _limits._writable_problem(hierarchy, group, "memory.max")

    assert problem is not None
    assert f"echo +memory > {tmp_path}/system.slice/cgroup.subtree_control" in problem
    (tmp_path / "system.slice" / "cgroup.subtree_control").write_text("cpu memory\n")
    assert _limits._writable_problem(hierarchy, group, "memory.max") is None


def test_v2_settings() -> None:
    memory = MemoryLimit().settings(MemoryLimit.params.model_validate({"mib": 64}), 2)
    cpu = CpuLimit().settings(CpuLimit.params.model_validate({"cpus": 0.2}), 2)

    assert [(s.file, s.value, s.optional) for s in memory] == [
        ("memory.max", str(64 * MIB), False),
        ("memory.swap.max", "0", True),
    ]
    assert [(s.file, s.value) for s in cpu] == [("cpu.max", "20000 100000")]


def test_cgroup_of_reads_proc(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "cgroup").write_text("4:memory:/a/b\n2:cpu,cpuacct:/c\n0::/d\n")

    assert cg.cgroup_of(42, cg.Hierarchy(1, "/m", "/", "memory"), proc=str(tmp_path)) == "/a/b"
    assert cg.cgroup_of(42, cg.Hierarchy(1, "/m", "/", "cpu"), proc=str(tmp_path)) == "/c"
    assert cg.cgroup_of(42, cg.Hierarchy(2, "/m", "/", "cpu"), proc=str(tmp_path)) == "/d"
    with pytest.raises(ProcessLookupError):
        cg.cgroup_of(43, cg.Hierarchy(2, "/m", "/", "cpu"), proc=str(tmp_path))
