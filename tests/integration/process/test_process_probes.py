"""process.alive, process.rss and process.cpu against real processes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chaoskit_process import AliveProbe, CpuProbe, RssProbe
from process_faults import probe_context, target
from process_victims import ALLOCATE, BURN, Victim, wait_for

from chaoskit import Observation, PluginError, Probe, TargetSpec

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def observe(
    probe: Probe,
    params: dict[str, Any],
    expect: dict[str, Any] | None = None,
    *,
    target_spec: TargetSpec | None = None,
    timeout: float = 2.0,
) -> Observation:
    ctx = probe_context(
        probe.params.model_validate(params),
        probe.expect.model_validate(expect or {}),
        target=target_spec,
        timeout=timeout,
    )
    return await probe.observe(ctx)


async def test_alive_counts_matches(spawn: Callable[..., Victim]) -> None:
    one, two = spawn(), spawn()
    both = f"{one.marker}|{two.marker}"

    assert await observe(AliveProbe(), {"cmdline": both}) == Observation(ok=True, value=2)
    one.stop()
    assert await observe(AliveProbe(), {"cmdline": both}, {"count": "== 2"}) == Observation(
        ok=False, value=1, detail="1 processes, expected == 2"
    )
    two.stop()
    gone = await observe(AliveProbe(), {"cmdline": both})
    assert (gone.ok, gone.value) == (False, 0)
    assert (await observe(AliveProbe(), {"cmdline": both}, {"count": "== 0"})).ok


async def test_alive_through_a_target(spawn: Callable[..., Victim]) -> None:
    victim = spawn()

    seen = await observe(AliveProbe(), {"target": "app"}, target_spec=target(pid=victim.pid))

    assert seen == Observation(ok=True, value=1)


async def test_a_target_of_another_kind_is_a_plugin_error() -> None:
    class Other(TargetSpec):
        kind: str = "other"

    with pytest.raises(PluginError, match="needs a process target"):
        await observe(AliveProbe(), {"target": "app"}, target_spec=Other())


async def test_an_unreadable_selector_is_a_failed_sample(tmp_path: Path) -> None:
    pid_file = tmp_path / "app.pid"
    pid_file.write_text("garbage")

    seen = await observe(AliveProbe(), {"pid_file": str(pid_file)})

    assert not seen.ok
    assert "does not hold a process id" in seen.detail


async def test_rss_reads_resident_memory(spawn: Callable[..., Victim]) -> None:
    victim = spawn(ALLOCATE, stdin=subprocess.PIPE)
    small = await observe(RssProbe(), {"pid": victim.pid}, {"mib": "< 64"})
    assert small.ok, small
    assert victim.process.stdin is not None
    assert victim.process.stdout is not None
    victim.process.stdin.write(b"go\n")
    victim.process.stdin.flush()
    wait_for(lambda: victim.process.stdout.readline().strip() == b"128", "128 MiB held")  # type: ignore[union-attr]

    big = await observe(RssProbe(), {"pid": victim.pid}, {"mib": "< 64"})

    assert not big.ok
    assert isinstance(big.value, float)
    assert big.value >= 128
    assert "expected < 64" in big.detail
    victim.stop()
    assert await observe(RssProbe(), {"pid": victim.pid}) == Observation(
        ok=False, detail="no process matches"
    )


async def test_cpu_tells_a_spinning_process_from_a_sleeping_one(
    spawn: Callable[..., Victim],
) -> None:
    burner, sleeper = spawn(BURN), spawn()

    busy = await observe(CpuProbe(), {"pid": burner.pid, "interval": "500ms"}, {"percent": "> 5"})
    burner.stop()
    idle = await observe(CpuProbe(), {"pid": sleeper.pid, "interval": "300ms"}, {"percent": "< 5"})

    # Other work on a shared machine may take most of the CPU: compare, widely.
    assert busy.ok, busy
    assert idle.ok, idle
    assert isinstance(busy.value, float)
    assert isinstance(idle.value, float)
    assert busy.value > 5 * (idle.value + 1)


async def test_cpu_samples_within_the_probe_timeout(spawn: Callable[..., Victim]) -> None:
    sleeper = spawn()

    seen = await observe(CpuProbe(), {"pid": sleeper.pid, "interval": "10s"}, timeout=0.5)

    assert seen.ok  # the 10s interval was cut to fit the 0.5s budget
