"""The lab's files agree with each other: knobs, ports, proxies, the Compose file."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from chaoskit.lab import KNOBS, PROXIES, LabUsageError, load_config, parse_settings
from chaoskit.lab.config import EPHEMERAL, read_env_file

pytestmark = pytest.mark.integration

COMPOSE = Path(__file__).resolve().parents[3] / "compose"


def _service(name: str) -> ModuleType:
    """compose/services/NAME.py as a module (it must be in sys.modules while it runs:
    its dataclasses look themselves up there)."""
    path = COMPOSE / "services" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"lab_service_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_the_knob_table_mirrors_the_services() -> None:
    from_services = {}
    for name in ("ledger", "catalog"):
        for knob, (default, meaning) in _service(name).KNOBS.items():
            from_services[knob] = (name, default, meaning)
    mirrored = {k.name: (k.service, k.default, k.meaning) for k in KNOBS.values()}
    assert mirrored == from_services


def test_service_defaults_match_the_ports_file() -> None:
    ports = load_config({}).ports
    defaults = {name: knob.default for name, knob in KNOBS.items()}
    assert defaults["LEDGER_PORT"] == str(ports.ledger)
    assert defaults["CATALOG_PORT"] == str(ports.catalog)
    assert defaults["LEDGER_DSN"].endswith(f":{ports.ledger_postgres_proxy}/ledger")
    assert defaults["CATALOG_LEDGER_URL"].endswith(f":{ports.catalog_ledger_proxy}")
    assert not [port for port in ports.all().values() if port in EPHEMERAL]


def test_the_compose_file_passes_every_settable_knob() -> None:
    text = (COMPOSE / "lab.yml").read_text()
    for name, knob in KNOBS.items():
        if not knob.wired:
            assert f"- {name}\n" in text, name
    for variable in read_env_file(COMPOSE / "ports.env"):
        assert f"${{{variable}:?" in text, variable


def test_the_docker_proxies_are_the_labs() -> None:
    proxies = json.loads((COMPOSE / "toxiproxy.docker.json").read_text())
    assert [p["name"] for p in proxies] == list(PROXIES)


@pytest.mark.parametrize("compose", [["docker-compose"], ["docker", "compose"]], ids=["v1", "v2"])
def test_the_compose_file_is_valid(compose: list[str]) -> None:
    if shutil.which(compose[0]) is None:
        pytest.skip(f"{compose[0]} is not installed")
    if compose[0] == "docker":
        probe = subprocess.run([*compose, "version"], capture_output=True, timeout=30)
        if probe.returncode != 0:
            pytest.skip("Compose v2 (`docker compose`) is not installed")
    ports, lab = str(COMPOSE / "ports.env"), str(COMPOSE / "lab.yml")
    done = subprocess.run(
        [*compose, "-p", "chaoskit-lab", "--env-file", ports, "-f", lab, "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("NOPE=1", "unknown knob"),
        ("LEDGER_PORT=1", "set by the lab runtime"),
        ("LEDGER_ACK_MODE=sometimes", "expected one of"),
        ("LEDGER_POOL_SIZE=many", "expected an integer"),
        ("LEDGER_POOL_SIZE", "expected NAME=VALUE"),
    ],
)
def test_bad_settings_are_refused(setting: str, problem: str) -> None:
    with pytest.raises(LabUsageError, match=problem):
        parse_settings([setting])


def test_good_settings_pass() -> None:
    assert parse_settings(["LEDGER_DROP_EVERY_N=5", "CATALOG_COUPLED=1"]) == {
        "LEDGER_DROP_EVERY_N": "5",
        "CATALOG_COUPLED": "1",
    }
