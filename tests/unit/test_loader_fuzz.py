"""Property: whatever the document, the loader returns or raises
ExperimentInvalid — never anything else, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaoskit import ExperimentInvalid
from chaoskit._loader import parse_experiment
from chaoskit._registry import discover
from chaoskit._yamllimits import MAX_DEPTH, MAX_NODES
from chaoskit._yamlpos import YamlError, load_with_positions

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


ALIAS_SCALARS = st.sampled_from(["1", "x", "null", "'s'", "1.5", "true", "2001-02-03", "~"])
ONE_IN_TEN = st.sampled_from([False] * 9 + [True])


@st.composite
def alias_documents(draw: st.DrawFn) -> str:
    """A mapping of anchored values, each either a list of up to 9 aliases to the
    one before (a chain of these is an alias bomb) or a structure of scalars, lists,
    mappings, merge keys and aliases to the anchors defined so far. Now and then an
    alias names its own anchor (a structure containing itself) or one not defined
    yet, or a scalar is not what it seems (``2001-13-45``)."""
    count = draw(st.integers(min_value=1, max_value=12))
    lines = []
    for index in range(count):
        names = [f"*a{j}" for j in range(index)]
        if draw(ONE_IN_TEN):
            names += [f"*a{index}", f"*a{index + 1}"]
        alias = st.sampled_from(names) if names else st.nothing()
        if index and draw(st.sampled_from([True, True, False])):
            fan_out = draw(st.integers(min_value=5, max_value=9) | st.integers(1, 9))
            body = "[" + ", ".join([f"*a{index - 1}"] * fan_out) + "]"
        else:
            body = draw(st.recursive(ALIAS_SCALARS | alias, _collections(names), max_leaves=12))
            if body.startswith("*"):
                body = f"[{body}]"  # an anchor cannot name an alias
        lines.append(f"a{index}: &a{index} {body}")
    if draw(ONE_IN_TEN):
        lines.append("bad: 2001-13-45")
    return "\n".join(lines) + "\n"


def _collections(names: list[str]) -> Callable[[st.SearchStrategy[str]], st.SearchStrategy[str]]:
    alias = st.sampled_from(names) if names else st.nothing()

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        items = st.lists(inner, max_size=9).map(lambda xs: "[" + ", ".join(xs) + "]")
        keys = st.sampled_from(["k", "v", "w", "x"])
        pairs = st.lists(st.tuples(keys, inner), max_size=4)
        # a merge key wants a mapping or a list of them; give it mostly aliases
        merge = st.lists(alias, min_size=1, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
        merges = st.lists(alias | merge, max_size=1) if names else st.just([])
        return items | st.tuples(pairs, merges).map(_flow_mapping)

    return extend


def expansion(node: yaml.Node, memo: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """(nodes, levels) of a node with its aliases expanded, from PyYAML's own graph:
    the figure the loader is meant to count, worked out another way. A node that
    contains itself expands without end."""
    if id(node) not in memo:
        memo[id(node)] = (sys.maxsize, sys.maxsize)  # until it is known: a cycle
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        sizes = [expansion(child, memo) for child in children]
        nodes = min(sys.maxsize, 1 + sum(n for n, _ in sizes))
        memo[id(node)] = (nodes, min(sys.maxsize, 1 + max((d for _, d in sizes), default=0)))
    return memo[id(node)]


def plain_expansion(text: str) -> tuple[int, int] | None:
    """``expansion`` of the document, or None when PyYAML cannot compose it."""
    try:
        return expansion(yaml.compose(text, Loader=yaml.SafeLoader), {})
    except yaml.YAMLError:
        return None


def load_or_refusal(text: str) -> tuple[Any, YamlError | None]:
    try:
        data, _ = load_with_positions(text)
    except YamlError as exc:
        return None, exc
    return data, None


def _flow_mapping(parts: tuple[list[tuple[str, str]], list[str]]) -> str:
    pairs, merges = parts
    return "{" + ", ".join([f"{k}: {v}" for k, v in pairs] + [f"<<: {m}" for m in merges]) + "}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alias_documents())
def test_alias_structures_load_as_pyyaml_does_or_are_refused_located(text: str) -> None:
    data, refusal = load_or_refusal(text)
    if refusal is None:
        assert data == yaml.safe_load(text)
        nodes, levels = plain_expansion(text) or (sys.maxsize, sys.maxsize)
        assert nodes <= MAX_NODES
        assert levels <= MAX_DEPTH
    elif "nodes here" in refusal.message or "levels deep here" in refusal.message:
        # the limit was passed, or the rest of the document (never read) is bad YAML
        plain = plain_expansion(text)
        assert plain is None or plain[0] > MAX_NODES or plain[1] > MAX_DEPTH
    elif "inside the node it names" not in refusal.message:
        # refused for being bad YAML, which plain PyYAML refuses too
        with pytest.raises((yaml.YAMLError, ValueError)):
            yaml.safe_load(text)
    if refusal is not None:
        assert refusal.line >= 1
        assert refusal.column >= 1
    check("version: 1\ntitle: t\nsteady_state: {probes: []}\n" + text)
