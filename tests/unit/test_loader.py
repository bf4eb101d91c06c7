"""The loader: the examples load; bad documents give every problem at once,
each with its file:line:col, path and a message a person can act on."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from chaoskit import ExperimentInvalid
from chaoskit._loader import parse_experiment
from chaoskit._registry import discover

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [*sorted((ROOT / "experiments").glob("*.yaml")), ROOT / "bench" / "trivial.yaml"]

GOOD = """\
version: 1
title: good
targets:
  web: {kind: toxiproxy.proxy, name: web}
steady_state:
  every: 250ms
  probes:
    - name: up
      http: {url: "http://127.0.0.1:1/"}
faults:
  - name: slow
    injector: toxiproxy.latency
    target: web
    with: {latency: 100ms}
    duration: 1s
"""


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_load(path: Path) -> None:
    loaded = parse_experiment(path.read_text(), str(path))
    assert loaded.experiment.title


def test_good_document_values() -> None:
    experiment = parse_experiment(GOOD, "good.yaml").experiment
    assert experiment.steady_state.every == 0.25
    [fault] = experiment.faults
    assert fault.duration == 1.0
    assert fault.params.model_dump()["latency"] == 0.1
    [probe] = experiment.steady_state.probes
    assert probe.probe_kind == "http"


def problems(text: str) -> list[str]:
    with pytest.raises(ExperimentInvalid) as caught:
        parse_experiment(textwrap.dedent(text), "x.yaml")
    return caught.value.problems


BAD = [
    pytest.param(
        GOOD.replace("latency: 100ms", "latency: fast"),
        "x.yaml:14:21: faults[0].with.latency: expected a duration like 250ms, 30s or 2m",
        id="bad-duration-in-injector-params",
    ),
    pytest.param(
        GOOD.replace("toxiproxy.latency", "toxiproxy.lateny"),
        "x.yaml:12:15: faults[0].injector: unknown injector 'toxiproxy.lateny'; installed: ",
        id="unknown-injector-lists-installed",
    ),
    pytest.param(
        GOOD.replace("target: web", "target: db"),
        "x.yaml:13:13: faults[0].target: no target named 'db'; defined: web",
        id="dangling-target",
    ),
    pytest.param(
        GOOD.replace("      http:", "      htp:"),
        "x.yaml:8:7: steady_state.probes[0]: expected exactly one probe kind key, one of: ",
        id="unknown-probe-kind",
    ),
    pytest.param(
        GOOD.replace("title: good", "title: good\ncolour: red"),
        "x.yaml:3:1: colour: unknown field",
        id="unknown-top-level-field",
    ),
    pytest.param(
        GOOD.replace("    duration: 1s\n", ""),
        "x.yaml:11:5: faults[0]: missing required field 'duration'",
        id="missing-field",
    ),
    pytest.param(
        GOOD.replace("kind: toxiproxy.proxy", "kind: toxiproxy.prox"),
        "x.yaml:4:15: targets.web.kind: unknown target kind 'toxiproxy.prox'; installed: ",
        id="unknown-target-kind",
    ),
    pytest.param(
        GOOD.replace("version: 1", "version: 2"),
        "x.yaml:1:10: version: Input should be 1",
        id="wrong-version",
    ),
    pytest.param(
        GOOD.replace("every: 250ms", "every: 250ms\n  stable_for: -1s"),
        "x.yaml:7:15: steady_state.stable_for: expected a duration like 250ms",
        id="negative-duration",
    ),
    pytest.param(
        GOOD.replace("name: slow", "name: up"),
        None,
        id="names-must-be-unique-per-kind-only",
    ),
    pytest.param(
        "version: 1\ntitle: [unclosed\n",
        "x.yaml:3:1: while parsing a flow sequence",
        id="yaml-syntax-error",
    ),
    pytest.param("- a\n- b\n", "x.yaml:1:1: expected a mapping", id="not-a-mapping"),
    pytest.param(
        GOOD
        + "load:\n  - name: w\n    rate: 10/s\n"
        + '    sql: {target: nodb, query: "select 1"}\n',
        "x.yaml:19:19: load[0].sql.target: no target named 'nodb'; defined: web",
        id="dangling-target-in-a-load-stream",
    ),
    pytest.param(
        GOOD.replace("title: good", "title: good\nlab: {knobs: {LEDGER_POOL_SIZ: 3}}"),
        "x.yaml:3:15: lab.knobs.LEDGER_POOL_SIZ: unknown knob 'LEDGER_POOL_SIZ'; the knobs are: ",
        id="unknown-lab-knob",
    ),
    pytest.param(
        GOOD.replace("latency: 100ms}", "latency: 100ms, retries: 3}"),
        "x.yaml:14:28: faults[0].with.retries: unknown field",
        id="unknown-field-inside-a-union-member",
    ),
    pytest.param(
        GOOD.replace("faults:", "expect: {contained: true}\nfaults: []\nx_faults:").replace(
            "x_faults:\n  - name: slow\n    injector: toxiproxy.latency\n    target: web\n"
            "    with: {latency: 100ms}\n    duration: 1s\n",
            "",
        ),
        "x.yaml:10:9: expect: mttr, ttd, time_to_heal and contained measure faults",
        id="expectations-without-faults",
    ),
    pytest.param(
        GOOD.replace('url: "http://127.0.0.1:1/"', 'url: "${env:CHAOSKIT_TEST_UNSET_VAR}"'),
        "x.yaml:9:19: steady_state.probes[0].http.url: environment variable "
        "CHAOSKIT_TEST_UNSET_VAR is not set",
        id="unset-env-var",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_document_is_located(text: str, expected: str | None) -> None:
    if expected is None:
        parse_experiment(text, "x.yaml")
        return
    found = problems(text)
    assert any(line.startswith(expected) for line in found), found


def test_every_problem_is_reported_at_once() -> None:
    text = GOOD.replace("latency: 100ms", "latency: fast").replace("target: web", "target: db")
    text = text.replace("title: good", "title: good\ncolour: red")
    found = problems(text)
    assert len(found) == 3, found
    lines = [int(p.split(":")[1]) for p in found]
    assert lines == sorted(lines)


def test_target_kind_must_suit_the_injector(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  web: {kind: toxiproxy.proxy, name: web}",
        f'  web: {{kind: fake.dir, path: "{tmp_path}"}}',
    )
    [problem] = problems(text)
    assert "injector toxiproxy.latency acts on toxiproxy.proxy; target 'web' is a fake.dir" in (
        problem
    )


def test_env_values_are_secrets() -> None:
    text = GOOD.replace('url: "http://127.0.0.1:1/"', 'url: "http://${env:CK_HOST}:1/"')
    loaded = parse_experiment(text, "x.yaml", environ={"CK_HOST": "s3cr3t.example"})
    [probe] = loaded.experiment.steady_state.probes
    assert probe.kind_params.model_dump()["url"] == "http://s3cr3t.example:1/"
    assert "s3cr3t" not in str(loaded.raw)
    assert loaded.secrets.redact({"a": ["x s3cr3t.example y"]}) == {"a": ["x *** y"]}


def test_registry_is_loaded_lazily() -> None:
    registry = discover()
    parse_experiment(
        "version: 1\ntitle: t\nsteady_state:\n  probes:\n"
        '    - {name: p, command: {argv: ["true"]}}\n',
        "x.yaml",
        registry,
    )
    assert "toxiproxy.latency" not in registry.injectors
    assert "toxiproxy.latency" in registry.names("chaoskit.injectors")


def test_a_load_probe_names_a_stream_of_the_experiment() -> None:
    text = """\
        version: 1
        title: t
        steady_state:
          probes:
            - name: traffic
              load: {stream: writes, window: 2s}
              expect: {error_rate: "< 5%"}
        load:
          - name: reads
            http: {url: "http://127.0.0.1:9/x"}
            rate: 10/s
        """
    assert problems(text) == [
        "x.yaml:6:22: steady_state.probes[0].load.stream: no load stream named 'writes'; "
        "defined under load: reads"
    ]
    assert parse_experiment(textwrap.dedent(text).replace("writes", "reads"), "x.yaml")
