"""chaoskit removes the Toxiproxy proxy it created, against the real server and
through the real command: at the end of a run (after every revert), on abort,
and through ``chaoskit rollback`` after ``kill -9``. A proxy that existed before
the run is left as found; ``keep: true`` keeps the one chaoskit created. The
``nothing_leaked`` check of conftest.py fails any test that leaves a proxy."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from chaoskit_cli import ChaoskitProcess, journal_events, run_chaoskit, start_chaoskit
from chaoskit_toxiproxy import ProxySetup, ProxyTarget
from pydantic import ValidationError
from servers import HOST, ToxiproxyServer, create_proxy, delete_proxy, free_port
from toxiproxy_checks import refuses_connections

from chaoskit import Injector, TargetSpec
from chaoskit.testing import AppliedFault, InjectorContract

pytestmark = pytest.mark.integration


def proxy_json(server: ToxiproxyServer, name: str) -> dict[str, Any] | None:
    response = httpx.get(f"{server.url}/proxies/{name}", timeout=5.0, trust_env=False)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


@pytest.fixture
def name(toxiproxy_server: ToxiproxyServer) -> Iterator[str]:
    """A proxy name nobody uses; deleted afterwards whatever the test left."""
    proxy = f"cleanup-{uuid.uuid4().hex[:8]}"
    yield proxy
    delete_proxy(toxiproxy_server.url, proxy)


def experiment(
    tmp_path: Path,
    server: ToxiproxyServer,
    name: str,
    listen: str,
    upstream: int,
    *,
    keep: bool = False,
    hold: str = "300ms",
) -> Path:
    """Two faults (latency, then down) on one proxy target that says how to
    create the proxy; the steady-state probe goes through the proxy, so the run
    holds only if the proxy exists from the baseline on."""
    target: dict[str, Any] = {
        "kind": "toxiproxy.proxy",
        "server": server.url,
        "name": name,
        "listen": listen,
        "upstream": f"{HOST}:{upstream}",
    }
    if keep:
        target["keep"] = True
    document = {
        "version": 1,
        "title": "proxy cleanup",
        "targets": {"web": target},
        "steady_state": {
            "every": "100ms",
            "stable_for": "200ms",
            "baseline": "300ms",
            "probes": [{"name": "through", "http": {"url": f"http://{listen}/health"}}],
        },
        "faults": [
            {
                "name": "slow",
                "injector": "toxiproxy.latency",
                "target": "web",
                "with": {"latency": "10ms"},
                "duration": hold,
            },
            {"name": "cut", "injector": "toxiproxy.down", "target": "web", "duration": hold},
        ],
        "recovery": {"timeout": "10s"},
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def wait_for_injected(run: ChaoskitProcess, faults: set[str], timeout: float = 30.0) -> None:
    """Poll the journal until every one of ``faults`` is injected (bounded in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_dir = run.run_dir()
        events = journal_events(run_dir) if run_dir is not None else []
        if faults <= {e["fault"] for e in events if e["event"] == "fault_injected"}:
            return
        assert run.process.poll() is None, run.finish()
        time.sleep(0.05)
    raise AssertionError(f"faults {sorted(faults)} were not injected within {timeout}s")


def setup_records(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if str(e.get("fault", "")).startswith("setup:")]


def test_a_run_deletes_the_proxy_it_created_after_every_revert(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, http_upstream: int, name: str
) -> None:
    listen = f"{HOST}:{free_port()}"
    path = experiment(tmp_path, toxiproxy_server, name, listen, http_upstream)

    code, out, err = run_chaoskit(["run", str(path)], tmp_path)

    assert code == 0, out + err  # the probe through the proxy held: it existed from the baseline
    assert proxy_json(toxiproxy_server, name) is None
    [run_dir] = (tmp_path / "runs").iterdir()
    events = journal_events(run_dir)
    setup = setup_records(events)
    assert [(e["event"], e["fault"]) for e in setup] == [
        ("fault_intent", "setup:web"),
        ("fault_injected", "setup:web"),
        ("fault_verified", "setup:web"),
        ("fault_reverted", "setup:web"),
    ]
    assert setup[0]["setup"] is True
    assert setup[0]["iteration"] == 0
    assert setup[1]["revert_state"]["created"] is True
    order = [(e["event"], e.get("fault")) for e in events]
    deleted = order.index(("fault_reverted", "setup:web"))
    assert order.index(("fault_reverted", "slow")) < deleted
    assert order.index(("fault_reverted", "cut")) < deleted
    baseline = next(e for e in events if e["event"] == "phase" and e["phase"] == "baseline")
    assert setup[1]["seq"] < baseline["seq"], "the proxy must exist before the baseline"
    audit = next(e for e in events if e["event"] == "phase" and e["phase"] == "audit")
    assert audit["seq"] < setup[3]["seq"], "the proxy must stay until the run's end"


def test_a_proxy_that_existed_is_left_as_found(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, http_upstream: int, name: str
) -> None:
    existing = create_proxy(toxiproxy_server.url, name, f"{HOST}:{http_upstream}")
    path = experiment(tmp_path, toxiproxy_server, name, existing.listen, http_upstream)

    code, out, err = run_chaoskit(["run", str(path)], tmp_path)

    assert code == 0, out + err
    state = proxy_json(toxiproxy_server, name)
    assert state is not None
    assert (state["listen"], state["enabled"], state["toxics"]) == (existing.listen, True, [])
    [run_dir] = (tmp_path / "runs").iterdir()
    assert setup_records(journal_events(run_dir)) == [], "nothing to create: nothing journaled"


def test_keep_leaves_the_created_proxy_on_the_server(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, http_upstream: int, name: str
) -> None:
    listen = f"{HOST}:{free_port()}"
    path = experiment(tmp_path, toxiproxy_server, name, listen, http_upstream, keep=True)

    code, out, err = run_chaoskit(["run", str(path)], tmp_path)

    assert code == 0, out + err
    state = proxy_json(toxiproxy_server, name)
    assert state is not None
    assert (state["listen"], state["enabled"], state["toxics"]) == (listen, True, [])
    [run_dir] = (tmp_path / "runs").iterdir()
    assert setup_records(journal_events(run_dir)) == []


def test_an_aborted_run_deletes_the_proxy_it_created(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, http_upstream: int, name: str
) -> None:
    listen = f"{HOST}:{free_port()}"
    path = experiment(tmp_path, toxiproxy_server, name, listen, http_upstream, hold="60s")
    run = start_chaoskit(["run", str(path)], tmp_path)
    wait_for_injected(run, {"slow", "cut"})

    run.send(signal.SIGTERM)
    code, out, err = run.finish()

    assert code == 3, out + err
    assert proxy_json(toxiproxy_server, name) is None


def test_rollback_after_a_crash_deletes_the_proxy_last(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, http_upstream: int, name: str
) -> None:
    listen = f"{HOST}:{free_port()}"
    path = experiment(tmp_path, toxiproxy_server, name, listen, http_upstream, hold="60s")
    run = start_chaoskit(["run", str(path)], tmp_path)
    wait_for_injected(run, {"slow", "cut"})
    run.send(signal.SIGKILL)
    run.finish()
    state = proxy_json(toxiproxy_server, name)
    assert state is not None, "the crash left the proxy (and its faults)"
    assert (len(state["toxics"]), state["enabled"]) == (1, False)
    run_dir = run.run_dir()
    assert run_dir is not None

    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)

    assert code == 0, out + err
    assert proxy_json(toxiproxy_server, name) is None
    lines = out.splitlines()
    assert lines[-1].startswith("reverted  setup:web  toxiproxy.latency on web: was in force")
    reports = [e for e in journal_events(run_dir) if e["event"] == "rollback_fault"]
    assert [r["fault"] for r in reports][-1] == "setup:web"
    assert {r["outcome"] for r in reports} == {"reverted"}

    again, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert again == 0, out + err
    assert "nothing left applied" in out


def test_keep_needs_a_proxy_chaoskit_would_create() -> None:
    with pytest.raises(ValidationError, match="keep applies to a proxy chaoskit creates"):
        ProxyTarget(name="p", keep=True)


class TestProxySetupContract(InjectorContract):
    """The setup step keeps the injector contract: what it creates, its revert
    removes, also from the JSON alone in a fresh process. In force: the proxy's
    listen port accepts connections."""

    @pytest.fixture
    def injector(self) -> Injector:
        return ProxySetup()

    @pytest.fixture
    def target(
        self, toxiproxy_server: ToxiproxyServer, http_upstream: int, name: str
    ) -> TargetSpec:
        self.port = free_port()
        return ProxyTarget(
            server=toxiproxy_server.url,
            name=name,
            listen=f"{HOST}:{self.port}",
            upstream=f"{HOST}:{http_upstream}",
        )

    def snapshot(self, target: TargetSpec) -> object:
        assert isinstance(target, ProxyTarget)
        response = httpx.get(f"{target.server}/proxies", timeout=5.0, trust_env=False)
        response.raise_for_status()
        return sorted(response.json())

    def in_force(self, fault: AppliedFault) -> bool:
        return not refuses_connections(self.port)
