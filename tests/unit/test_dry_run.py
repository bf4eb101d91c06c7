"""``chaoskit run FILE --dry-run`` through the real command: the whole plan (each
fault's validated parameters with their units, its target, its window; load
streams; probe schedules; phases; what is created and removed), as text and as
JSON, and nothing contacted or written."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))


def dry_run(
    path: Path, tmp_path: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaoskit",
            "run",
            str(path),
            "--dry-run",
            "--runs-dir",
            str(tmp_path / "runs"),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, done.stdout, done.stderr


def plan_json(path: Path, tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    code, out, err = dry_run(path, tmp_path, "--json", env=env)
    assert code == 0, err
    plan: dict[str, Any] = json.loads(out)
    return plan


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_every_example_experiment_has_a_whole_plan(path: Path, tmp_path: Path) -> None:
    code, out, err = dry_run(path, tmp_path)

    assert code == 0, err
    assert out.startswith("plan · ")
    plan = plan_json(path, tmp_path)
    for fault in plan["faults"]:
        assert f"    {fault['name']}  {fault['injector']} on {fault['target']}" in out
        assert fault["changes"], fault
        assert fault["creates"] is not None, f"{fault['injector']} says nothing of what it creates"
    for probe in plan["probes"]:
        assert f"    {probe['name']}  {probe['kind']}, scope {probe['scope']}, every " in out
    for stream in plan["load"]:
        assert f"    {stream['name']}  {stream['loop']} loop: " in out
    assert "  phases\n    baseline    " in out
    assert not (tmp_path / "runs").exists(), "a dry run must not create a run directory"


def test_db_pool_plan_shows_parameters_load_and_schedules(tmp_path: Path) -> None:
    code, out, err = dry_run(ROOT / "experiments" / "db_pool.yaml", tmp_path)

    assert code == 0, err
    flat = " ".join(out.split())  # the same words, whatever the line wrapping
    assert (
        "targets db postgres: dsn postgresql://ledger:ledger@127.0.0.1:15433/ledger, "
        "connect_timeout 5s phases" in flat
    )
    assert (
        "exhaust-connections postgres.exhaust_connections on db (postgres) "
        "window +3s → +18s (15s) with open_timeout 20s, keep_free 3, max_open 500 does " in flat
    )
    assert "tagged application_name chaoskit-RUN-exhaust-connections" in flat
    assert "ledger-health http, scope target, every 250ms, timeout 1s" in flat
    assert "catalog-read http, scope outside, every 250ms, timeout 1s" in flat
    assert (
        "transfers open loop: 50/s from the start; timeout 2s per request, at most 512 "
        "in flight http url http://127.0.0.1:18100/transfers, method POST" in flat
    )
    assert (
        "writes every request is an audited write; looked up after recovery with http url "
        "http://127.0.0.1:18100/transfers/{{id}} (batches of 5000, timeout 5s)" in flat
    )
    assert "baseline 3s of steady-state samples before any fault" in flat
    assert "recovery steady for 2s counts as recovered; give up after 1m" in flat
    assert "no-idle-in-transaction sql, scope target, every 250ms, timeout 1s" in flat
    assert "abort (and revert everything) when catalog-read has failed for 10s" in flat
    assert "lab auto runtime, knobs defaults" in flat


def test_http_latency_plan_says_the_proxy_is_created_and_deleted(tmp_path: Path) -> None:
    path = ROOT / "experiments" / "http_latency.yaml"
    code, out, err = dry_run(path, tmp_path)

    assert code == 0, err
    flat = " ".join(out.split())
    assert "with stream downstream, toxicity 100%, latency 400ms, jitter 0s" in flat
    assert (
        "set up before the baseline, removed after every fault is reverted web-proxy creates "
        "proxy 'chaoskit_demo_web' on 127.0.0.1:18081, forwarding to 127.0.0.1:18080" in flat
    )
    assert "deleted at the end of the run, after every revert" in flat
    assert "latency toxic chaoskit-RUN-slow-web-downstream (downstream)" in flat
    plan = plan_json(path, tmp_path)
    [setup] = plan["setups"]
    assert setup["target"] == "web-proxy"
    [fault] = plan["faults"]
    assert fault["window"] == {"at": 1.0, "until": 5.0, "duration": 4.0}
    assert fault["params"]["latency"] == "400ms"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP port that records whether anything connected to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.setblocking(False)
    try:
        yield server
    finally:
        server.close()


def nobody_connected(server: socket.socket) -> bool:
    try:
        connection, _ = server.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


def everything_experiment(port: int) -> str:
    """Every kind of thing a plan shows, all pointed at one port."""
    here = f"127.0.0.1:{port}"
    return f"""
version: 1
title: everything in one plan
lab:
  runtime: process
  knobs: {{LEDGER_POOL_SIZE: 7}}
  keep: true
targets:
  made: {{kind: toxiproxy.proxy, server: "http://{here}", name: made, listen: "127.0.0.1:1",
          upstream: "{here}"}}
  kept: {{kind: toxiproxy.proxy, server: "http://{here}", name: kept, listen: "127.0.0.1:2",
          upstream: "{here}", keep: true}}
  set: {{kind: toxiproxy.proxies, server: "http://{here}", match: "a_to_.*"}}
  db: {{kind: postgres, dsn: "postgresql://app:${{env:DRY_RUN_SECRET}}@{here}/app"}}
  box: {{kind: docker.container, container: box}}
  proc: {{kind: process, name: ledger}}
steady_state:
  every: 500ms
  stable_for: 1.5s
  baseline: 4s
  probes:
    - name: api
      timeout: 2s
      http:
        url: "http://{here}/health"
        headers: {{Authorization: "Bearer ${{env:DRY_RUN_SECRET}}"}}
      expect: {{status: 200, latency: "< 300ms"}}
    - name: neighbour
      scope: outside
      every: 2s
      tcp: {{host: 127.0.0.1, port: {port}}}
load:
  - name: steps
    stages: [{{rate: 10/s, for: 5s}}, {{rate: 120/m, for: 10s}}]
    ramp: {{to: 40/s, over: 20s}}
    spikes: [{{at: 3s, for: 1s, factor: 3}}]
    timeout: 750ms
    tasks:
      - weight: 3
        http: {{url: "http://{here}/a", method: POST}}
      - http: {{url: "http://{here}/b"}}
    writes:
      lookup:
        batch: 100
        http: {{url: "http://{here}/a/{{{{id}}}}"}}
  - name: users
    users: 4
    think: 250ms
    http: {{url: "http://{here}/c"}}
faults:
  - name: slow
    injector: toxiproxy.latency
    target: made
    at: 1.5s
    duration: 2m
    with: {{latency: 300ms, jitter: 25ms, stream: both, toxicity: 0.5}}
  - name: thin
    injector: toxiproxy.bandwidth
    target: kept
    duration: 10s
    with: {{rate: 64}}
  - name: split
    injector: toxiproxy.partition
    target: set
    at: 5s
    duration: 10s
    with: {{mode: blackhole, direction: upstream}}
  - name: locks
    injector: postgres.hold_lock
    target: db
    at: 2s
    duration: 5s
    with: {{table: transfers, mode: exclusive}}
  - name: squeeze
    injector: docker.memory_limit
    target: box
    duration: 5s
    with: {{memory: 64m}}
  - name: term
    injector: process.kill
    target: proc
    at: 10s
    duration: 1s
    with: {{signal: TERM, restart: {{command: [ledger], after: 500ms}}}}
safeguards:
  - {{probe: neighbour, abort_if_failing_for: 3s}}
recovery:
  timeout: 45s
  probes:
    - name: clean
      toxiproxy.proxy_state: {{target: made}}
      expect: {{toxics: 0}}
repeat: 3
expect: {{mttr: "< 20s", data_loss: 0}}
"""


def test_a_plan_of_everything_contacts_nothing(tmp_path: Path, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    path = tmp_path / "everything.yaml"
    path.write_text(everything_experiment(port))
    secret = {"DRY_RUN_SECRET": "hunter2-secret"}

    code, out, err = dry_run(path, tmp_path, env=secret)

    assert code == 0, err
    assert nobody_connected(listener), "the dry run connected to a target"
    assert not (tmp_path / "runs").exists()
    assert "hunter2-secret" not in out
    flat = " ".join(out.split())
    # faults: every parameter, units spelt out; windows; repeat
    assert "with stream both, toxicity 50%, latency 300ms, jitter 25ms" in flat
    assert "window +1.5s → +2m1.5s (2m)" in flat
    assert "rate 64 KB/s" in flat
    assert "with memory 64MiB" in flat
    assert "signal SIGTERM" in flat
    assert "restart {command [ledger], after 500ms}" in flat
    assert "faults 2m1.5s per iteration (until its last revert), 3 iterations" in flat
    assert "at the latest +4s, +2m50.5s, +5m37s from the start" in flat
    # targets, and what they resolve to
    assert "made toxiproxy.proxy: server http://127.0.0.1:" in flat
    assert "dsn postgresql://app:***@127.0.0.1:" in flat
    assert "every proxy on Toxiproxy at http://127.0.0.1:" in flat
    assert "selected by match 'a_to_.*' (resolved when the fault is prepared)" in flat
    # what is created and removed, and when
    assert "made creates proxy 'made' on 127.0.0.1:1" in flat
    assert "kept creates" not in flat, "a kept proxy is no setup of the run"
    assert "created in preflight if the server lacks it and left there after the run" in flat
    assert "timeout toxics (timeout 0) chaoskit-RUN-split-upstream on each of those proxies" in flat
    assert "the holder process and its connections to app@127.0.0.1:" in flat
    assert "a detached helper that runs the restart command 0.5s after the kill" in flat
    # load streams
    assert (
        "steps open loop: stages: 10/s for 5s, then 2/s for 10s, then the last rate on; ramp "
        "to 40/s over 20s from the start; spike x3 at +3s for 1s; timeout 750ms per request"
    ) in flat
    assert "http (weight 3) url http://127.0.0.1:" in flat
    assert "looked up after recovery with http url http://127.0.0.1:" in flat
    assert "(batches of 100, timeout 5s)" in flat
    assert "users closed loop: 4 users; think 250ms after each answer" in flat
    # probes, phases, lab, guards, expectations
    assert "api http, scope target, every 500ms, timeout 2s" in flat
    assert "neighbour tcp, scope outside, every 2s, timeout 2s" in flat
    assert "Authorization: Bearer ***" in flat
    assert "baseline 4s of steady-state samples before any fault" in flat
    assert "recovery steady for 1.5s counts as recovered; give up after 45s" in flat
    assert "lab process runtime, knobs LEDGER_POOL_SIZE=7; brought up when it is not " in flat
    assert "left running (keep)" in flat
    assert "abort (and revert everything) when neighbour has failed for 3s" in flat
    assert "expect mttr < 20s, data_loss == 0" in flat


def test_the_json_plan_carries_the_same(tmp_path: Path, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    path = tmp_path / "everything.yaml"
    path.write_text(everything_experiment(port))

    plan = plan_json(path, tmp_path, env={"DRY_RUN_SECRET": "hunter2-secret"})

    assert nobody_connected(listener)
    assert "hunter2-secret" not in json.dumps(plan)
    faults = {fault["name"]: fault for fault in plan["faults"]}
    assert faults["slow"]["params"] == {
        "stream": "both",
        "toxicity": "50%",
        "latency": "300ms",
        "jitter": "25ms",
    }
    assert faults["slow"]["window"] == {"at": 1.5, "until": 121.5, "duration": 120.0}
    assert [setup["target"] for setup in plan["setups"]] == ["made"]
    assert plan["phases"]["repeat"] == 3
    streams = {stream["name"]: stream for stream in plan["load"]}
    assert streams["steps"]["loop"] == "open"
    assert streams["steps"]["writes"]["batch"] == 100
    assert streams["users"]["loop"] == "closed"
    assert streams["users"]["max_in_flight"] is None
    probes = {probe["name"]: probe for probe in plan["probes"]}
    assert (probes["neighbour"]["every"], probes["neighbour"]["timeout"]) == (2.0, 2.0)
    assert plan["safeguards"] == [{"probe": "neighbour", "failing_for": 3.0}]
    assert plan["lab"] == {"runtime": "process", "knobs": {"LEDGER_POOL_SIZE": "7"}, "keep": True}


def test_an_invalid_experiment_is_refused_before_any_plan(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        everything_experiment(1).replace("latency: 300ms", "latency: 300"), encoding="utf-8"
    )

    code, out, err = dry_run(path, tmp_path)

    assert code == 2
    assert out == ""
    assert "faults[0].with.latency" in err
