"""Property: whatever the document, the loader returns or raises
ExperimentInvalid — never anything else, never a traceback."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaoskit import ExperimentInvalid
from chaoskit._loader import parse_experiment
from chaoskit._registry import discover

REGISTRY = discover()
REGISTRY.load_all()

KEYS = st.sampled_from(
    [
        "version",
        "title",
        "steady_state",
        "probes",
        "faults",
        "name",
        "injector",
        "target",
        "with",
        "duration",
        "at",
        "every",
        "http",
        "tcp",
        "command",
        "expect",
        "latency",
        "kind",
        "targets",
        "recovery",
        "timeout",
        "safeguards",
        "probe",
        "scope",
        "argv",
        "toxiproxy.latency",
        "toxiproxy.proxy",
        "url",
        "status",
        "repeat",
        "stable_for",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["250ms", "1s", "-1s", "toxiproxy.latency", "${env:NOPE}", "< 2s", "1"]),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(KEYS, st.text(max_size=6)), inner, max_size=6),
    ),
    max_leaves=30,
)


def check(text: str) -> None:
    problems: list[str] = []
    try:
        parse_experiment(text, "fuzz.yaml", REGISTRY)
    except ExperimentInvalid as exc:
        problems = exc.problems or ["(empty)"]
    assert all(line.startswith("fuzz.yaml:") for line in problems), problems


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_random_structures_never_crash(document: Any) -> None:
    check(yaml.safe_dump(document))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_crashes(text: str) -> None:
    check(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, DOCUMENTS, max_size=8))
def test_near_experiments_never_crash(fields: dict[str, Any]) -> None:
    document = {"version": 1, "title": "t", "steady_state": {"probes": []}, **fields}
    check(yaml.safe_dump(document))
