"""The ``load`` probe reads a running stream's figures over a sliding window:
load failing at baseline makes the baseline unsteady, a safeguard on it aborts
a run whose traffic fails, and it measures recovery like any probe. Real
traffic to a real HTTP server, through a real Toxiproxy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from chaoskit_cli import run_chaoskit
from servers import HOST, ProxyHandle, ToxiproxyServer

pytestmark = pytest.mark.integration


def write(tmp_path: Path, url: str, **extra: Any) -> Path:
    document: dict[str, Any] = {
        "version": 1,
        "title": "load probe",
        "steady_state": {
            "every": "100ms",
            "stable_for": "500ms",
            "baseline": "1s",
            "probes": [
                {
                    "name": "traffic",
                    "load": {"stream": "reads", "window": "500ms"},
                    "expect": {"error_rate": "< 5%", "min_requests": 5},
                }
            ],
        },
        "load": [{"name": "reads", "http": {"url": url}, "rate": "100/s", "timeout": "300ms"}],
        **extra,
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def results(tmp_path: Path) -> dict[str, Any]:
    [run_dir] = list((tmp_path / "runs").iterdir())
    data: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    return data


def down(toxiproxy_server: ToxiproxyServer, proxy: ProxyHandle, duration: str) -> dict[str, Any]:
    return {
        "targets": {
            "web": {"kind": "toxiproxy.proxy", "server": toxiproxy_server.url, "name": proxy.name}
        },
        "faults": [
            {"name": "cut", "injector": "toxiproxy.down", "target": "web",
             "at": "300ms", "duration": duration}
        ],
    }  # fmt: skip


def test_load_failing_at_baseline_makes_it_unsteady(tmp_path: Path, http_upstream: int) -> None:
    path = write(tmp_path, f"http://{HOST}:{http_upstream}/no-such-page")
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 1, out + err
    result = results(tmp_path)
    assert result["status"] == "unsteady-baseline"
    [probe] = result["probes"]
    assert probe["failures"] > 0
    assert "error rate 100.0%, expected < 5%" in probe["last_detail"]
    assert result["load"][0]["phases"]["baseline"]["error_rate"] == 1.0


def test_a_safeguard_on_the_load_aborts_and_reverts(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, proxy: ProxyHandle
) -> None:
    guard = [{"probe": "traffic", "abort_if_failing_for": "1s"}]
    extra = down(toxiproxy_server, proxy, "60s")
    path = write(tmp_path, f"http://{proxy.listen}/health", safeguards=guard, **extra)
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 3, out + err
    result = results(tmp_path)
    assert "safeguard: probe 'traffic' failing for" in result["reason"]
    state = httpx.get(f"{toxiproxy_server.url}/proxies/{proxy.name}", trust_env=False).json()
    assert state["enabled"] is True


def test_the_load_probe_measures_recovery(
    tmp_path: Path, toxiproxy_server: ToxiproxyServer, proxy: ProxyHandle
) -> None:
    extra = down(toxiproxy_server, proxy, "1s")
    path = write(tmp_path, f"http://{proxy.listen}/health", **extra)
    code, out, err = run_chaoskit(["run", str(path)], tmp_path)
    assert code == 0, out + err
    [it] = results(tmp_path)["measurements"]["iterations"]
    # errors stay in the 500ms window after the revert: healed after it, not before
    assert it["t_impact"] is not None
    assert it["time_to_heal"] > 0, it
    assert it["mttr"] >= 1.0, it
