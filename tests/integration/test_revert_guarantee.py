"""The revert guarantee against a real Toxiproxy server: whatever ends the run
— SIGINT, SIGTERM, an exception in an injector, ``kill -9`` followed by
``chaoskit rollback`` — no toxic is left behind and the proxy is enabled."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from chaoskit_cli import run_chaoskit, start_chaoskit, wait_for_event
from servers import (
    ProxyHandle,
    ToxiproxyServer,
    create_proxy,
    start_toxiproxy,
    stop_process,
)

pytestmark = pytest.mark.integration


def proxy_state(server: ToxiproxyServer, name: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/proxies/{name}", timeout=5.0, trust_env=False)
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


def write_experiment(
    tmp_path: Path,
    server: ToxiproxyServer,
    proxy: ProxyHandle,
    extra_faults: list[dict[str, Any]] | None = None,
) -> Path:
    flags = tmp_path / "flags"
    flags.mkdir()
    document = {
        "version": 1,
        "title": "revert guarantee",
        "targets": {
            "web": {"kind": "toxiproxy.proxy", "server": server.url, "name": proxy.name},
            "flags": {"kind": "fake.dir", "path": str(flags)},
        },
        "steady_state": {
            "every": "100ms",
            "stable_for": "200ms",
            "baseline": "300ms",
            "probes": [{"name": "web", "http": {"url": f"http://{proxy.listen}/health"}}],
        },
        "faults": [
            {
                "name": "slow",
                "injector": "toxiproxy.latency",
                "target": "web",
                "with": {"latency": "50ms", "stream": "both"},
                "at": "0s",
                "duration": "60s",
            },
            {
                "name": "cut",
                "injector": "toxiproxy.down",
                "target": "web",
                "at": "0s",
                "duration": "60s",
            },
            *(extra_faults or []),
        ],
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def assert_clean(server: ToxiproxyServer, proxy: ProxyHandle) -> None:
    state = proxy_state(server, proxy.name)
    assert state["toxics"] == []
    assert state["enabled"] is True
    answer = httpx.get(f"http://{proxy.listen}/health", timeout=5.0, trust_env=False)
    assert answer.status_code == 200


def wait_until_both_applied(run: Any) -> None:
    wait_for_event(run, "fault_injected")
    deadline_events = 0
    while deadline_events < 200:  # both faults start at 0s; wait for the second
        run_dir = run.run_dir()
        text = (run_dir / "journal.jsonl").read_text() if run_dir else ""
        if text.count('"event":"fault_injected"') >= 2:
            return
        deadline_events += 1
        time.sleep(0.05)
    raise AssertionError("the second fault was not applied within 10s")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_fault_leaves_no_toxic(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, proxy: ProxyHandle, signum: signal.Signals
) -> None:
    path = write_experiment(tmp_path, toxiproxy_server, proxy)
    run = start_chaoskit(["run", str(path)], tmp_path)
    wait_until_both_applied(run)
    state = proxy_state(toxiproxy_server, proxy.name)
    assert state["enabled"] is False
    assert len(state["toxics"]) == 2  # upstream and downstream latency
    run.send(signum)
    code, out, err = run.finish()
    assert code == 3, out + err
    assert_clean(toxiproxy_server, proxy)


def test_injector_exception_mid_fault_leaves_no_toxic(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, proxy: ProxyHandle
) -> None:
    failing = {
        "name": "explodes",
        "injector": "fake.flag",
        "target": "flags",
        "with": {"fail_inject": True},
        "at": "500ms",
        "duration": "60s",
    }
    path = write_experiment(tmp_path, toxiproxy_server, proxy, [failing])
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 3, out + err
    assert "fail_inject" in out
    assert_clean(toxiproxy_server, proxy)
    assert list((tmp_path / "flags").glob("chaoskit-*explodes")) == []


def test_kill_9_then_rollback_leaves_no_toxic(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, proxy: ProxyHandle
) -> None:
    path = write_experiment(tmp_path, toxiproxy_server, proxy)
    run = start_chaoskit(["run", str(path)], tmp_path)
    wait_until_both_applied(run)
    run.send(signal.SIGKILL)
    run.finish()
    state = proxy_state(toxiproxy_server, proxy.name)
    assert len(state["toxics"]) == 2
    assert state["enabled"] is False
    run_dir = run.run_dir()
    assert run_dir is not None
    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert code == 0, out + err
    assert "reverted  slow" in out
    assert "reverted  cut" in out
    assert_clean(toxiproxy_server, proxy)
    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert code == 0, out + err
    assert "nothing to do" in out
    assert_clean(toxiproxy_server, proxy)


def test_toxiproxy_down_at_revert_makes_the_run_dirty(
    tmp_path: Path, http_upstream: int, make_proxy: Any
) -> None:
    """A private Toxiproxy server is killed mid-fault: the reverts cannot reach
    it, so the run ends DIRTY (exit 4), names what is left and how to undo it,
    and the journal keeps the faults outstanding for ``chaoskit rollback``."""
    binary = shutil.which("toxiproxy-server")
    assert binary is not None
    server = start_toxiproxy(binary, tmp_path / "private-toxiproxy.log")
    try:
        own = create_proxy(server.url, "private", f"127.0.0.1:{http_upstream}")
        path = write_experiment(tmp_path, server, own)
        run = start_chaoskit(["run", str(path), "--revert-attempts", "2"], tmp_path)
        wait_until_both_applied(run)
        stop_process(server.process)
        run.send(signal.SIGINT)
        code, out, err = run.finish()
    finally:
        stop_process(server.process)
    assert code == 4, out + err
    assert "DIRTY" in out
    assert "chaoskit rollback" in out
    run_dir = run.run_dir()
    assert run_dir is not None
    code, out, err = run_chaoskit(["rollback", str(run_dir), "--revert-attempts", "1"], tmp_path)
    assert code == 4, out + err
    assert "FAILED" in out
