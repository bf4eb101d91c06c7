"""``chaoskit rollback`` against a real Toxiproxy server: after ``kill -9`` it says,
fault by fault, whether the fault was still in force (the injector's ``verify``
asks the server) and what it did."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from chaoskit_cli import ChaoskitProcess, journal_events, run_chaoskit, start_chaoskit
from servers import ProxyHandle, ToxiproxyServer, create_proxy, start_toxiproxy, stop_process

pytestmark = pytest.mark.integration


def proxy_state(server: ToxiproxyServer, name: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/proxies/{name}", timeout=5.0, trust_env=False)
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


def crashed_run(tmp_path: Path, server: ToxiproxyServer, proxy: ProxyHandle) -> Path:
    """A run with a latency fault (``slow``) and a down fault (``cut``) on one
    proxy, killed with SIGKILL once both are applied."""
    document = {
        "version": 1,
        "title": "rollback report",
        "targets": {"web": {"kind": "toxiproxy.proxy", "server": server.url, "name": proxy.name}},
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
            {"name": "cut", "injector": "toxiproxy.down", "target": "web", "duration": "60s"},
        ],
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    run = start_chaoskit(["run", str(path)], tmp_path)
    wait_for_injected(run, 2)
    run.send(signal.SIGKILL)
    run.finish()
    state = proxy_state(server, proxy.name)
    assert (len(state["toxics"]), state["enabled"]) == (2, False)
    run_dir = run.run_dir()
    assert run_dir is not None
    return run_dir


def wait_for_injected(run: ChaoskitProcess, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_dir = run.run_dir()
        events = journal_events(run_dir) if run_dir else []
        if sum(e["event"] == "fault_injected" for e in events) >= count:
            return
        assert run.process.poll() is None, run.finish()
        time.sleep(0.05)
    raise AssertionError(f"{count} faults were not injected within {timeout}s")


def line_of(out: str, status: str, fault: str) -> str:
    [line] = [ln for ln in out.splitlines() if ln.startswith(f"{status:<9} {fault} ")]
    return line


def test_a_toxic_removed_by_hand_is_reported_no_longer_in_force(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, proxy: ProxyHandle
) -> None:
    run_dir = crashed_run(tmp_path, toxiproxy_server, proxy)
    # someone removed the latency by hand after the crash; the proxy stays disabled
    for toxic in proxy_state(toxiproxy_server, proxy.name)["toxics"]:
        url = f"{toxiproxy_server.url}/proxies/{proxy.name}/toxics/{toxic['name']}"
        httpx.delete(url, timeout=5.0, trust_env=False).raise_for_status()

    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)

    assert code == 0, out + err
    slow = line_of(out, "reverted", "slow")
    assert slow.startswith("reverted  slow  toxiproxy.latency on web: was no longer in force (")
    assert f"are not on proxy {proxy.name!r}" in slow
    assert slow.endswith("); cleaned up anyway")
    cut = line_of(out, "reverted", "cut")
    assert cut == "reverted  cut   toxiproxy.down on web: was in force; reverted"
    state = proxy_state(toxiproxy_server, proxy.name)
    assert (state["toxics"], state["enabled"]) == ([], True)
    answer = httpx.get(f"http://{proxy.listen}/health", timeout=5.0, trust_env=False)
    assert answer.status_code == 200
    report = {e["fault"]: e for e in journal_events(run_dir) if e["event"] == "rollback_fault"}
    assert report["slow"]["before"] == "not-in-force"
    assert report["cut"]["before"] == "in-force"
    assert {e["outcome"] for e in report.values()} == {"reverted"}


def test_an_unreachable_toxiproxy_leaves_the_state_unknown_and_says_what_to_undo(
    tmp_path: Path, http_upstream: int
) -> None:
    binary = shutil.which("toxiproxy-server")
    assert binary is not None
    server = start_toxiproxy(binary, tmp_path / "private-toxiproxy.log")
    try:
        own = create_proxy(server.url, "private", f"127.0.0.1:{http_upstream}")
        run_dir = crashed_run(tmp_path, server, own)
    finally:
        stop_process(server.process)

    code, out, err = run_chaoskit(["rollback", str(run_dir), "--revert-attempts", "1"], tmp_path)

    assert code == 4, out + err
    assert "Traceback" not in err
    for fault, injector in (("slow", "toxiproxy.latency"), ("cut", "toxiproxy.down")):
        line = line_of(out, "FAILED", fault)
        assert f"{injector} on web: state unknown (verify failed: " in line
        assert "revert FAILED after 1 attempt: " in line
        assert f"undo by hand: injector {injector}, target web " in line
        assert f'"server": "{server.url}"' in line
    assert "2 of 2 faults may still be applied" in out
