"""The lab under each runtime: health, a round trip, the knobs' ground truth, restarts, and
nothing left behind."""

from __future__ import annotations

import glob
import socket
import subprocess
import uuid

import httpx
import pytest
from labtools import LabDriver, assert_nothing_left, wait_until

from chaoskit.lab import PROXIES, SERVICES, LabError, down, load_config, status
from chaoskit.lab.process import process_alive
from chaoskit.lab.state import load_state

pytestmark = pytest.mark.integration


def _ids(prefix: str, count: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"{prefix}-{run}-{i}" for i in range(count)]


def test_up_waits_for_health_and_is_idempotent(lab: LabDriver) -> None:
    first = lab.up()
    assert set(first.started + first.already_running + first.restarted) == set(SERVICES)
    lab_status = status(lab.runtime)
    assert lab_status.healthy, lab_status
    assert all(s.running and s.owned for s in lab_status.services), lab_status

    again = lab.up()
    assert (again.started, again.restarted, again.already_running) == ((), (), SERVICES)
    # Undoing exactly the second `up` stops nothing: it started nothing.
    assert down(lab.runtime, services=again.started) == ()
    assert status(lab.runtime).healthy


def test_transfer_round_trips(lab: LabDriver) -> None:
    lab.up()
    (transfer_id,) = _ids("round-trip", 1)
    url = lab.ports.ledger_url
    with lab.http() as client:
        created = client.post(f"{url}/transfers", json={"id": transfer_id, "amount": 42})
        assert (created.status_code, created.json()) == (201, {"id": transfer_id})
        read = client.get(f"{url}/transfers/{transfer_id}")
        assert (read.status_code, read.json()) == (200, {"id": transfer_id, "amount": 42})
        again = client.post(f"{url}/transfers", json={"id": transfer_id, "amount": 42})
        assert (again.status_code, again.json()["duplicate"]) == (200, True)
        assert client.get(f"{url}/transfers/absent-{transfer_id}").status_code == 404
        assert client.post(f"{url}/transfers", json={"id": "x"}).status_code == 400
    assert lab.stored([transfer_id]) == {transfer_id}


def test_drop_every_n_acknowledges_but_loses_exactly_every_nth_write(lab: LabDriver) -> None:
    every = 3
    lab.up(LEDGER_DROP_EVERY_N=every)
    accepted_before = int(str(lab.ledger_stats()["accepted"]))
    ids = _ids("drop", 30)

    assert lab.post_transfers(ids) == [201] * 30  # every write acknowledged

    lost = set(ids) - lab.stored(ids)
    assert len(lost) == 30 // every
    expected = {ids[i] for i in range(30) if (accepted_before + i + 1) % every == 0}
    assert lost == expected


def test_before_commit_loses_buffered_writes_when_killed(lab: LabDriver) -> None:
    lab.up(LEDGER_ACK_MODE="before_commit", LEDGER_FLUSH_INTERVAL=600)
    ids = _ids("buffered", 20)
    assert lab.post_transfers(ids) == [201] * 20
    assert lab.ledger_stats()["buffered"] == 20

    pid = lab.kill_ledger()
    assert wait_until(lambda: not process_alive(pid, None), 10)

    assert lab.stored(ids) == set()  # acknowledged, and gone with the process


def test_before_commit_flushes_while_alive(lab: LabDriver) -> None:
    lab.up(LEDGER_ACK_MODE="before_commit", LEDGER_FLUSH_INTERVAL=0.2)
    ids = _ids("flushed", 20)
    assert lab.post_transfers(ids) == [201] * 20
    assert wait_until(lambda: lab.stored(ids) == set(ids), 15, interval=0.2)


def _items_statuses(lab: LabDriver, count: int = 5) -> list[int]:
    with lab.http(timeout=15) as client:
        return [client.get(f"{lab.ports.catalog_url}/items/7").status_code for _ in range(count)]


@pytest.mark.parametrize("proxy", PROXIES)
def test_coupled_catalog_fails_while_ledger_is_cut_off(lab: LabDriver, proxy: str) -> None:
    lab.up(CATALOG_COUPLED=1)
    assert _items_statuses(lab) == [200] * 5

    lab.set_proxy(proxy, enabled=False)
    assert _items_statuses(lab) == [502] * 5  # the breach: catalog fails with ledger

    lab.set_proxy(proxy, enabled=True)
    # Pooled connections the cut closed are discarded as they are used: bounded recovery.
    assert wait_until(lambda: _items_statuses(lab, 1) == [200], 30, interval=0.2)


@pytest.mark.parametrize("proxy", PROXIES)
def test_decoupled_catalog_is_unaffected(lab: LabDriver, proxy: str) -> None:
    lab.up(CATALOG_COUPLED=0)
    lab.set_proxy(proxy, enabled=False)
    # The fault is in force ...
    if proxy == "ledger_postgres":
        with lab.http() as client:
            assert client.get(f"{lab.ports.ledger_url}/health").status_code == 503
    else:
        with lab.http(timeout=5) as client, pytest.raises(httpx.HTTPError):
            client.get(f"http://127.0.0.1:{lab.ports.catalog_ledger_proxy}/health")
    # ... and catalog does not notice.
    assert _items_statuses(lab) == [200] * 5


def test_ledger_comes_back_after_a_kill_by_its_restart_policy(lab: LabDriver) -> None:
    if lab.runtime != "docker":
        pytest.skip("restart policies are the docker runtime's")
    lab.up()
    restarts = lab.container_restarts("ledger")
    lab.kill_ledger()
    assert wait_until(lambda: lab.container_restarts("ledger") > restarts, 30)
    assert wait_until(lambda: status(lab.runtime).healthy, 60, interval=0.5)


def test_a_port_held_by_a_stranger_fails_up_and_leaves_nothing(lab: LabDriver) -> None:
    down(lab.runtime)
    data_dirs = set(glob.glob("/tmp/chaoskit-lab-postgres-*"))
    with socket.socket() as stranger:
        stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        stranger.bind(("127.0.0.1", lab.ports.ledger))
        stranger.listen()
        with pytest.raises(LabError, match=str(lab.ports.ledger)):
            lab.up()
    assert_nothing_left(lab.runtime)
    assert set(glob.glob("/tmp/chaoskit-lab-postgres-*")) == data_dirs


def test_down_leaves_nothing_running(lab: LabDriver) -> None:
    lab.up()
    state = load_state(load_config().state_dir)
    assert state is not None
    records = list(state.services.values())

    assert set(down(lab.runtime)) == set(SERVICES)

    assert_nothing_left(lab.runtime)
    for record in records:
        if record.pid is not None:
            assert not process_alive(record.pid, record.start_ticks), record
        if record.data_dir is not None:
            assert not glob.glob(record.data_dir)


@pytest.mark.parametrize(
    "compose", ["docker-compose", "docker compose"], ids=["compose-v1", "compose-v2"]
)
def test_both_compose_versions_run_the_lab(
    lab: LabDriver, compose: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`docker compose` (v2) is preferred when it answers; Debian's docker-compose (v1)
    is the fallback: the lab must come up, serve and go down under either."""
    if lab.runtime != "docker":
        pytest.skip("Compose is the docker runtime's")
    argv = compose.split()
    probe = subprocess.run([*argv, "version"], capture_output=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip(f"{compose} is not installed (./dev setup installs both)")
    down(lab.runtime)
    monkeypatch.setenv("CHAOSKIT_LAB_COMPOSE", compose)
    try:
        lab.up()
        assert status(lab.runtime).healthy
        (transfer_id,) = _ids(f"compose-{argv[-1]}", 1)
        with lab.http() as client:
            created = client.post(
                f"{lab.ports.ledger_url}/transfers", json={"id": transfer_id, "amount": 1}
            )
        assert created.status_code == 201
        assert lab.stored([transfer_id]) == {transfer_id}
    finally:
        assert set(down(lab.runtime)) == set(SERVICES)
    assert_nothing_left(lab.runtime)
