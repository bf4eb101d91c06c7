"""toxiproxy.partition and the toxiproxy.proxies target against a real
Toxiproxy: the effect on real TCP traffic seen by independent clients, the
revert (twice, after a Toxiproxy restart, per proxy), the checks at preflight,
and kill -9 followed by ``chaoskit rollback``. Validation without a server is in
test_partition_params.py."""

from __future__ import annotations

import functools
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import structlog
import yaml
from chaoskit_cli import run_chaoskit, start_chaoskit, wait_for_event
from chaoskit_toxiproxy import Partition, ProxiesTarget, ProxyStateExpect, ProxyStateProbe
from servers import (
    HOST,
    ProxyHandle,
    ToxiproxyServer,
    create_proxy,
    start_toxiproxy,
    stop_process,
)
from tick_server import TickServer, connect, hear_ticks, listen_for, reaches
from toxiproxy_checks import http_get, proxy_json, refuses_connections, toxics_by_name
from toxiproxy_faults import MakeNamedProxy, target_of

from chaoskit import (
    FaultNotInForce,
    InjectorError,
    ProbeContext,
)
from chaoskit._resources import RunResources
from chaoskit.testing import AppliedFault, FaultTracker, fault_context

pytestmark = [pytest.mark.integration]

QUIET = 1.0
"""Seconds a cut stream is watched for data that must not arrive (at a tick
every 50 ms, a stream that still flowed would show ~20 ticks)."""
SETTLE = 0.3
"""Seconds to drain what was already on its way when the cut landed."""


@dataclass(frozen=True)
class Group:
    """Three proxies "a-to-b-0..2" that a partition cuts, and "a-to-c" that it must not."""

    prefix: str
    members: list[ProxyHandle]
    outsider: ProxyHandle

    @property
    def names(self) -> list[str]:
        return [proxy.name for proxy in self.members]

    @property
    def server_url(self) -> str:
        return self.outsider.server_url


def make_group(make_named_proxy: MakeNamedProxy, upstream: str, size: int = 3) -> Group:
    prefix = f"pt{uuid.uuid4().hex[:8]}"
    members = [make_named_proxy(f"{prefix}-a-to-b-{i}", upstream) for i in range(size)]
    return Group(prefix, members, make_named_proxy(f"{prefix}-a-to-c", upstream))


@pytest.fixture
def http_group(make_named_proxy: MakeNamedProxy, http_upstream: int) -> Group:
    return make_group(make_named_proxy, f"{HOST}:{http_upstream}")


@pytest.fixture
def tick_group(make_named_proxy: MakeNamedProxy, tick_upstream: TickServer) -> Group:
    return make_group(make_named_proxy, tick_upstream.address, size=2)


def by_names(group: Group) -> ProxiesTarget:
    return ProxiesTarget(server=group.server_url, names=group.names)


def by_match(group: Group) -> ProxiesTarget:
    return ProxiesTarget(server=group.server_url, match=f"{group.prefix}-a-to-b-.*")


def by_both(group: Group) -> ProxiesTarget:
    """Overlapping on purpose: a-to-b-0 is named and matched."""
    return ProxiesTarget(
        server=group.server_url, names=group.names[:1], match=f"{group.prefix}-a-to-b-[01]"
    )


async def healthy(proxy: ProxyHandle) -> bool:
    try:
        reply = await anyio.to_thread.run_sync(
            functools.partial(http_get, proxy.listen_port, timeout=2.0)
        )
    except OSError:
        return False
    return (reply.status, reply.body) == (200, b"ok")


async def refused(proxy: ProxyHandle) -> bool:
    return await anyio.to_thread.run_sync(refuses_connections, proxy.listen_port)


def set_enabled(proxy: ProxyHandle, enabled: bool) -> None:
    response = httpx.post(
        f"{proxy.server_url}/proxies/{proxy.name}",
        json={"enabled": enabled},
        timeout=5.0,
        trust_env=False,
    )
    response.raise_for_status()


def enabled(proxy: ProxyHandle) -> bool:
    state = proxy_json(proxy.server_url, proxy.name)
    assert state is not None, f"proxy {proxy.name} is gone"
    return bool(state["enabled"])


def proxies_of(fault: AppliedFault) -> list[dict[str, Any]]:
    assert isinstance(fault.revert_state, dict)
    entries = fault.revert_state["proxies"]
    assert isinstance(entries, list)
    return [entry for entry in entries if isinstance(entry, dict)]


# --- refuse -------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("select", "cut"),
    [(by_names, [0, 1, 2]), (by_match, [0, 1, 2]), (by_both, [0, 1])],
    ids=["names", "match", "names-and-match"],
)
async def test_refuse_cuts_the_selected_proxies_and_revert_restores(
    http_group: Group, faults: FaultTracker, select: Any, cut: list[int]
) -> None:
    inside = [http_group.members[i] for i in cut]
    spared = [proxy for i, proxy in enumerate(http_group.members) if i not in cut]
    for proxy in [*http_group.members, http_group.outsider]:
        assert await healthy(proxy)

    fault = await faults.apply(Partition(), select(http_group), {})

    assert [entry["proxy"] for entry in proxies_of(fault)] == [p.name for p in inside]
    assert all(entry["enabled"] and entry["toxics"] == [] for entry in proxies_of(fault))
    await Partition().verify(fault.ctx, fault.revert_state)
    for proxy in inside:
        assert await refused(proxy), proxy.name
    for proxy in [*spared, http_group.outsider]:
        assert await healthy(proxy), proxy.name

    await fault.revert()

    for proxy in [*http_group.members, http_group.outsider]:
        assert enabled(proxy)
        assert await healthy(proxy), proxy.name
    with pytest.raises(FaultNotInForce) as raised:
        await Partition().verify(fault.ctx, fault.revert_state)
    for proxy in inside:
        assert repr(proxy.name) in str(raised.value)


@pytest.mark.anyio
async def test_refuse_cuts_open_connections(tick_group: Group, faults: FaultTracker) -> None:
    with connect(tick_group.members[0].listen_port) as sock:
        assert await anyio.to_thread.run_sync(hear_ticks, sock)

        await faults.apply(Partition(), by_names(tick_group), {"mode": "refuse"})

        heard = await anyio.to_thread.run_sync(listen_for, sock, 3.0)
        assert heard.closed


@pytest.mark.anyio
async def test_a_single_proxy_target_works_too(proxy: ProxyHandle, faults: FaultTracker) -> None:
    fault = await faults.apply(Partition(), target_of(proxy), {})

    assert [entry["proxy"] for entry in proxies_of(fault)] == [proxy.name]
    assert await refused(proxy)
    await fault.revert()
    assert await healthy(proxy)


# --- blackhole ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_blackhole_both_ways_passes_no_data_but_keeps_connections_open(
    tick_group: Group, tick_upstream: TickServer, faults: FaultTracker
) -> None:
    first, second = tick_group.members
    with connect(first.listen_port) as before:
        assert await anyio.to_thread.run_sync(hear_ticks, before)
        before.sendall(b"hello-before")
        assert await anyio.to_thread.run_sync(reaches, tick_upstream, b"hello-before")

        fault = await faults.apply(Partition(), by_names(tick_group), {"mode": "blackhole"})

        tag = fault.ctx.tag
        for proxy in tick_group.members:
            toxics = toxics_by_name(proxy.server_url, proxy.name)
            assert sorted(toxics) == [f"{tag}-downstream", f"{tag}-upstream"]
            for toxic in toxics.values():
                assert (toxic["type"], toxic["attributes"]) == ("timeout", {"timeout": 0})
            assert enabled(proxy)
        assert toxics_by_name(tick_group.server_url, tick_group.outsider.name) == {}
        await Partition().verify(fault.ctx, fault.revert_state)

        # The open connection: nothing either way, and it stays open.
        await anyio.to_thread.run_sync(listen_for, before, SETTLE)
        before.sendall(b"cut-before")
        heard = await anyio.to_thread.run_sync(listen_for, before, QUIET)
        assert (heard.data, heard.closed) == (b"", False)
        assert b"cut-before" not in tick_upstream.received()

        # A new connection is accepted, but nothing gets through either.
        with connect(second.listen_port) as during:
            during.sendall(b"cut-during")
            heard = await anyio.to_thread.run_sync(listen_for, during, QUIET)
            assert heard.data == b""
            assert b"cut-during" not in tick_upstream.received()

        await fault.revert()

        for proxy in tick_group.members:
            assert toxics_by_name(proxy.server_url, proxy.name) == {}
        # Toxiproxy closes the connections a timeout toxic held when it goes.
        heard = await anyio.to_thread.run_sync(listen_for, before, 3.0)
        assert heard.closed
    with connect(second.listen_port) as after:
        after.sendall(b"new-after-revert")
        assert await anyio.to_thread.run_sync(hear_ticks, after)
        assert await anyio.to_thread.run_sync(reaches, tick_upstream, b"new-after-revert")


@pytest.mark.anyio
@pytest.mark.parametrize("direction", ["upstream", "downstream"])
async def test_blackhole_one_way_cuts_only_that_direction(
    tick_group: Group, tick_upstream: TickServer, faults: FaultTracker, direction: str
) -> None:
    with connect(tick_group.members[0].listen_port) as sock:
        assert await anyio.to_thread.run_sync(hear_ticks, sock)

        fault = await faults.apply(
            Partition(), by_match(tick_group), {"mode": "blackhole", "direction": direction}
        )

        for proxy in tick_group.members:
            assert sorted(toxics_by_name(proxy.server_url, proxy.name)) == [
                f"{fault.ctx.tag}-{direction}"
            ]
        await anyio.to_thread.run_sync(listen_for, sock, SETTLE)
        marker = f"sent-during-{direction}-cut".encode()
        sock.sendall(marker)
        heard = await anyio.to_thread.run_sync(listen_for, sock, QUIET)
        assert not heard.closed
        if direction == "upstream":  # client to server dropped, server to client flows
            assert heard.data.count(b".") >= 2, heard
            assert marker not in tick_upstream.received()
        else:  # server to client dropped, client to server flows
            assert heard.data == b""
            assert await anyio.to_thread.run_sync(reaches, tick_upstream, marker)

        await fault.revert()

    for proxy in tick_group.members:
        assert toxics_by_name(proxy.server_url, proxy.name) == {}
    with connect(tick_group.members[1].listen_port) as after:
        after.sendall(b"after-one-way")
        assert await anyio.to_thread.run_sync(hear_ticks, after)
        assert await anyio.to_thread.run_sync(reaches, tick_upstream, b"after-one-way")


# --- revert -------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
async def test_a_proxy_disabled_before_stays_disabled(
    http_group: Group, faults: FaultTracker, mode: str
) -> None:
    was_off, *others = http_group.members
    set_enabled(was_off, False)

    fault = await faults.apply(Partition(), by_names(http_group), {"mode": mode})
    assert [entry["enabled"] for entry in proxies_of(fault)] == [False, True, True]
    await fault.revert()

    assert not enabled(was_off)
    assert await refused(was_off)
    for proxy in others:
        assert enabled(proxy)
        assert await healthy(proxy)


@pytest.mark.anyio
async def test_blackhole_revert_leaves_the_enabled_flag_alone(
    http_group: Group, faults: FaultTracker
) -> None:
    fault = await faults.apply(Partition(), by_names(http_group), {"mode": "blackhole"})
    switched_off = http_group.members[0]
    set_enabled(switched_off, False)  # someone else's change, during the fault

    await fault.revert()

    assert not enabled(switched_off)
    for proxy in http_group.members:
        assert toxics_by_name(proxy.server_url, proxy.name) == {}
    for proxy in http_group.members[1:]:
        assert await healthy(proxy)


@pytest.mark.anyio
async def test_other_toxics_on_the_proxies_survive(http_group: Group, faults: FaultTracker) -> None:
    theirs = {"name": "someone-elses", "type": "latency", "attributes": {"latency": 1}}
    for proxy in http_group.members:
        response = httpx.post(
            f"{proxy.server_url}/proxies/{proxy.name}/toxics",
            json=theirs,
            timeout=5.0,
            trust_env=False,
        )
        response.raise_for_status()

    fault = await faults.apply(Partition(), by_names(http_group), {"mode": "blackhole"})
    await fault.revert()

    for proxy in http_group.members:
        assert sorted(toxics_by_name(proxy.server_url, proxy.name)) == ["someone-elses"]


@pytest.mark.anyio
async def test_one_proxy_failing_to_revert_does_not_stop_the_others(
    http_group: Group, faults: FaultTracker
) -> None:
    fault = await faults.apply(Partition(), by_names(http_group), {})
    assert isinstance(fault.revert_state, dict)
    lost = {
        "server": http_group.server_url,
        "proxy": f"{http_group.prefix}-lost",  # gone, and nothing says how to re-create it
        "enabled": True,
        "toxics": [],
    }
    state = {**fault.revert_state, "proxies": [lost, *proxies_of(fault)]}

    with pytest.raises(InjectorError) as raised:
        await Partition().revert(fault.ctx, state)

    message = str(raised.value)
    assert f"failed on 1 of 4 proxies ('{http_group.prefix}-lost')" in message
    assert "re-create it by hand" in message
    for proxy in http_group.members:
        assert enabled(proxy)
        assert await healthy(proxy)


@pytest.mark.anyio
async def test_verify_names_the_proxies_where_the_fault_is_not_in_force(
    http_group: Group, faults: FaultTracker
) -> None:
    fault = await faults.apply(Partition(), by_names(http_group), {})
    healed = http_group.members[1]
    set_enabled(healed, True)

    with pytest.raises(FaultNotInForce) as raised:
        await Partition().verify(fault.ctx, fault.revert_state)

    message = str(raised.value)
    assert f"not in force on 1 of 3 proxies ('{healed.name}')" in message
    for proxy in [http_group.members[0], http_group.members[2]]:
        assert proxy.name not in message


@pytest.mark.anyio
async def test_inject_refuses_a_state_gone_stale_since_prepare(http_group: Group) -> None:
    injector = Partition()
    ctx = fault_context(injector, by_names(http_group), {})
    prior_state = await injector.prepare(ctx)
    changed = http_group.members[2]
    set_enabled(changed, False)

    with pytest.raises(InjectorError, match="changed since prepare") as raised:
        await injector.inject(ctx, prior_state)

    assert repr(changed.name) in str(raised.value)
    for proxy in http_group.members[:2]:
        assert await healthy(proxy)  # nothing was cut


@pytest.mark.anyio
async def test_inject_logs_the_spread_of_the_cut(http_group: Group, faults: FaultTracker) -> None:
    with structlog.testing.capture_logs() as logs:
        await faults.apply(Partition(), by_names(http_group), {})

    [applied] = [entry for entry in logs if entry["event"] == "toxiproxy.partition_applied"]
    assert applied["proxies"] == http_group.names
    assert applied["spread_ms"] >= 0


# --- a restarted Toxiproxy ----------------------------------------------------------


def restart(server: ToxiproxyServer, *, attempts: int = 100) -> ToxiproxyServer:
    """Stop the server and start a new one on the same port: an empty Toxiproxy,
    as after a crash or a container restart."""
    stop_process(server.process)
    binary = shutil.which("toxiproxy-server")
    assert binary is not None
    with server.log_path.open("ab") as log:
        process = subprocess.Popen(
            [binary, "-host", HOST, "-port", str(server.port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    restarted = ToxiproxyServer(process=process, port=server.port, log_path=server.log_path)
    for _ in range(attempts):  # x 0.05 s
        try:
            if httpx.get(f"{restarted.url}/version", timeout=0.5, trust_env=False).is_success:
                return restarted
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.05)
    stop_process(process)
    raise AssertionError(f"toxiproxy-server did not restart:\n{restarted.log_tail()}")


@pytest.fixture
def private_toxiproxy(tmp_path: Path) -> Iterator[list[ToxiproxyServer]]:
    """A Toxiproxy of the test's own, to restart: a one-item list, so that the
    test can replace the server and the fixture stops the last one."""
    binary = shutil.which("toxiproxy-server")
    if binary is None:
        pytest.skip("toxiproxy-server is not on PATH: run ./dev setup to install it")
    servers = [start_toxiproxy(binary, tmp_path / "private-toxiproxy.log")]
    try:
        yield servers
    finally:
        stop_process(servers[-1].process)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
async def test_revert_recreates_the_proxies_a_restarted_toxiproxy_lost(
    private_toxiproxy: list[ToxiproxyServer], http_upstream: int, mode: str
) -> None:
    server = private_toxiproxy[0]
    members = [create_proxy(server.url, f"a-to-b-{i}", f"{HOST}:{http_upstream}") for i in range(3)]
    injector = Partition()
    ctx = fault_context(
        injector, ProxiesTarget(server=server.url, match="a-to-b-.*"), {"mode": mode}
    )
    await injector.preflight(ctx)
    state = await injector.inject(ctx, await injector.prepare(ctx))

    private_toxiproxy.append(restart(server))
    assert all(proxy_json(server.url, proxy.name) is None for proxy in members)

    await injector.revert(ctx, state)

    for proxy in members:
        recreated = proxy_json(server.url, proxy.name)
        assert recreated is not None
        assert (recreated["listen"], recreated["upstream"], recreated["enabled"]) == (
            proxy.listen,
            proxy.upstream,
            True,
        )
        assert recreated["toxics"] == []
        assert await healthy(proxy)


# --- selection and validation -------------------------------------------------------


@pytest.mark.anyio
async def test_a_missing_named_proxy_fails_preflight(
    http_group: Group, toxiproxy_server: ToxiproxyServer
) -> None:
    missing = f"{http_group.prefix}-nowhere"
    target = ProxiesTarget(server=toxiproxy_server.url, names=[*http_group.names, missing])
    ctx = fault_context(Partition(), target, {})

    with pytest.raises(InjectorError) as raised:
        await Partition().preflight(ctx)

    assert str(raised.value) == (
        f"proxy {missing!r} does not exist on Toxiproxy at {toxiproxy_server.url}"
    )
    for proxy in http_group.members:
        assert enabled(proxy)


@pytest.mark.anyio
async def test_a_match_that_selects_nothing_fails_preflight(
    toxiproxy_server: ToxiproxyServer,
) -> None:
    target = ProxiesTarget(server=toxiproxy_server.url, match=f"nothing-{uuid.uuid4().hex}")
    ctx = fault_context(Partition(), target, {"mode": "blackhole"})

    with pytest.raises(InjectorError, match=r"no proxy on Toxiproxy at .* is selected by match"):
        await Partition().preflight(ctx)


# --- through the CLI: kill -9, then chaoskit rollback --------------------------------


def write_experiment(tmp_path: Path, group: Group, mode: str) -> Path:
    document = {
        "version": 1,
        "title": "partition rollback",
        "targets": {
            "b-side": {
                "kind": "toxiproxy.proxies",
                "server": group.server_url,
                "match": f"{group.prefix}-a-to-b-.*",
            },
        },
        "steady_state": {
            "every": "100ms",
            "stable_for": "200ms",
            "baseline": "300ms",
            "probes": [
                {"name": "a-to-c", "http": {"url": f"http://{group.outsider.listen}/health"}}
            ],
        },
        "faults": [
            {
                "name": "split",
                "injector": "toxiproxy.partition",
                "target": "b-side",
                "with": {"mode": mode},
                "at": "0s",
                "duration": "60s",
            }
        ],
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_kill_9_then_rollback_heals_the_partition(
    tmp_path: Path, http_group: Group, mode: str
) -> None:
    path = write_experiment(tmp_path, http_group, mode)
    run = start_chaoskit(["run", str(path)], tmp_path)
    try:
        injected = wait_for_event(run, "fault_injected")
    finally:
        run.send(signal.SIGKILL)
        run.finish()
    assert [entry["proxy"] for entry in injected["revert_state"]["proxies"]] == http_group.names
    for proxy in http_group.members:  # left applied by the crash
        state = proxy_json(proxy.server_url, proxy.name)
        assert state is not None
        if mode == "refuse":
            assert state["enabled"] is False
        else:
            assert len(state["toxics"]) == 2
    run_dir = run.run_dir()
    assert run_dir is not None

    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)

    assert code == 0, out + err
    assert "reverted  split" in out
    for proxy in [*http_group.members, http_group.outsider]:
        state = proxy_json(proxy.server_url, proxy.name)
        assert state is not None
        assert (state["enabled"], state["toxics"]) == (True, [])
        reply = http_get(proxy.listen_port, timeout=2.0)
        assert (reply.status, reply.body) == (200, b"ok")
    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert code == 0, out + err
    assert "nothing to do" in out


@pytest.mark.anyio
async def test_proxy_state_probe_reads_the_whole_set(
    http_group: Group, faults: FaultTracker
) -> None:
    """toxiproxy.proxy_state over a toxiproxy.proxies target: one reading per
    selected proxy (the outsider is not read), ok only when every one holds."""
    probe, resources = ProxyStateProbe(), RunResources()

    async def observe(expect: dict[str, Any]) -> Any:
        return await probe.observe(
            ProbeContext(
                probe_name="set-state",
                params=ProxyStateProbe.params.model_validate({"target": "set"}),
                expect=ProxyStateExpect.model_validate(expect),
                timeout=5.0,
                target=by_match(http_group),
                log=structlog.get_logger(),
                resources=resources,
            )
        )

    healthy_set = {"enabled": True, "toxics": "== 0"}
    try:
        before = await observe(healthy_set)
        assert before.ok, before.detail
        assert sorted(before.value) == http_group.names
        fault = await faults.apply(Partition(), by_match(http_group), {"mode": "blackhole"})
        during = await observe(healthy_set)
        assert not during.ok
        for name in http_group.names:
            assert f"{name}: 2 toxics, expected == 0" in during.detail
            assert len(during.value[name]["toxics"]) == 2
        await fault.revert()
        assert (await observe(healthy_set)).ok
    finally:
        await resources.aclose()
