"""toxiproxy.partition and the toxiproxy.proxies target without a server:
selection by names and expression, parameter and target validation, the
load-time errors at file:line:col, registration, and the documented example."""

from __future__ import annotations

import textwrap
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from chaoskit_cli import run_chaoskit
from chaoskit_toxiproxy import Partition, ProxiesTarget, ProxyTarget
from pydantic import ValidationError

from chaoskit import ExperimentInvalid, Injector, TargetSpec, Verifiable
from chaoskit._loader import parse_experiment


def test_match_must_match_the_whole_name() -> None:
    target = ProxiesTarget(match="a-to-b")

    assert target.select(["a-to-b", "a-to-b-0", "x-a-to-b"]) == ["a-to-b"]
    assert ProxiesTarget(names=["z", "a", "z"], match="a|b").select(["a", "b", "c", "z"]) == [
        "a",
        "b",
        "z",
    ]


@pytest.mark.parametrize(
    ("target", "where"),
    [
        ({"kind": "toxiproxy.proxies"}, "give names"),
        ({"kind": "toxiproxy.proxies", "names": []}, "give names"),
        ({"kind": "toxiproxy.proxies", "names": [""]}, "names.0"),
        ({"kind": "toxiproxy.proxies", "match": "("}, "not a valid regular expression"),
        ({"kind": "toxiproxy.proxies", "match": ""}, "match"),
        ({"kind": "toxiproxy.proxies", "names": ["a"], "server": "127.0.0.1:8474"}, "server"),
        ({"kind": "toxiproxy.proxies", "names": ["a"], "name": "a"}, "name"),
    ],
)
def test_bad_targets_are_refused(target: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        ProxiesTarget.model_validate(target)
    assert where in str(raised.value)


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"mode": "refuse", "direction": "upstream"}, "use mode: blackhole"),
        ({"direction": "downstream"}, "use mode: blackhole"),
        ({"mode": "drop"}, "mode"),
        ({"mode": "blackhole", "direction": "sideways"}, "direction"),
        ({"mode": "blackhole", "toxicity": 0.5}, "toxicity"),
    ],
)
def test_bad_params_are_refused(params: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Partition.params.model_validate(params)
    assert where in str(raised.value)


EXPERIMENT = """\
version: 1
title: partition
targets:
  b-side: {kind: toxiproxy.proxies, names: [a_to_b_db, a_to_b_cache]}
  c-side: {kind: toxiproxy.proxies, match: "a_to_c_.*"}
steady_state:
  every: 250ms
  probes:
    - name: up
      http: {url: "http://127.0.0.1:1/"}
faults:
  - name: split
    injector: toxiproxy.partition
    target: b-side
    with: {mode: blackhole, direction: upstream}
    duration: 1s
"""


def load_problems(text: str) -> list[str]:
    with pytest.raises(ExperimentInvalid) as caught:
        parse_experiment(text, "x.yaml")
    return caught.value.problems


def test_a_good_experiment_loads() -> None:
    [fault] = parse_experiment(EXPERIMENT, "x.yaml").experiment.faults
    assert fault.params.model_dump() == {"mode": "blackhole", "direction": "upstream"}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "with: {mode: blackhole, direction: upstream}",
            "with: {mode: refuse, direction: upstream}",
            "x.yaml:15:11: faults[0].with: mode: refuse disables the proxies, which cuts both "
            "directions; for a one-way partition (direction: upstream) use mode: blackhole",
        ),
        (
            "with: {mode: blackhole, direction: upstream}",
            "with: {direction: downstream}",
            "x.yaml:15:11: faults[0].with: mode: refuse disables the proxies",
        ),
        (
            "{kind: toxiproxy.proxies, names: [a_to_b_db, a_to_b_cache]}",
            "{kind: toxiproxy.proxies}",
            "x.yaml:4:11: targets.b-side: give names (a list of proxy names), match (a regular "
            "expression on proxy names) or both",
        ),
        (
            'match: "a_to_c_.*"',
            'match: "a_to_c_(.*"',
            "x.yaml:5:44: targets.c-side.match: not a valid regular expression: "
            "missing ), unterminated subpattern",
        ),
    ],
    ids=["refuse-one-way", "default-mode-one-way", "no-selector", "bad-regex"],
)
def test_load_time_errors_point_at_the_line(old: str, new: str, expected: str) -> None:
    assert old in EXPERIMENT
    problems = load_problems(EXPERIMENT.replace(old, new))
    assert any(problem.startswith(expected) for problem in problems), problems


def test_registered_through_entry_points(tmp_path: Path) -> None:
    injectors = {ep.name: ep for ep in entry_points(group="chaoskit.injectors")}
    targets = {ep.name: ep for ep in entry_points(group="chaoskit.targets")}
    assert injectors["toxiproxy.partition"].load() is Partition
    assert targets["toxiproxy.proxies"].load() is ProxiesTarget
    assert issubclass(ProxiesTarget, TargetSpec)
    injector = Partition()
    assert isinstance(injector, Injector)
    assert isinstance(injector, Verifiable)
    assert injector.target_kinds == ("toxiproxy.proxies", "toxiproxy.proxy")
    code, out, err = run_chaoskit(["plugins"], tmp_path)
    assert code == 0, out + err
    assert "toxiproxy.partition" in out
    assert "toxiproxy.proxies" in out


def test_the_documented_example_loads() -> None:
    """The example in docs/injectors/toxiproxy.md loads, and means what its text says:
    a blackhole of a proxy set, then a one-way blackhole of a single proxy."""
    docs = Path(__file__).resolve().parents[3] / "docs" / "injectors" / "toxiproxy.md"
    text = docs.read_text()
    start = text.index("```yaml\nversion: 1")
    block = text[start + len("```yaml\n") : text.index("```", start + 8)]
    experiment = parse_experiment(textwrap.dedent(block), str(docs)).experiment

    split, answers_lost = experiment.faults
    assert (split.injector, split.target) == ("toxiproxy.partition", "orders-to-ledger")
    assert split.params.model_dump() == {"mode": "blackhole", "direction": "both"}
    assert (split.at, split.duration) == (5.0, 20.0)
    assert (answers_lost.injector, answers_lost.target) == ("toxiproxy.partition", "ledger-db")
    assert answers_lost.params.model_dump() == {"mode": "blackhole", "direction": "downstream"}
    proxies = experiment.targets["orders-to-ledger"]
    assert isinstance(proxies, ProxiesTarget)
    assert (proxies.match, proxies.names) == ("orders_to_.*", [])
    assert proxies.select(["orders_to_ledger", "orders_to_cache", "ledger_postgres"]) == [
        "orders_to_cache",
        "orders_to_ledger",
    ]
    assert isinstance(experiment.targets["ledger-db"], ProxyTarget)
