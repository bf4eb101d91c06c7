"""Documents that ``chaoskit validate`` used to call ok and that did something
else than they seemed to say: a duration without its unit, an equality on a
duration, a number where text is expected, and a typo deep inside a probe,
a fault's ``with:`` or a load stream that was reported at the wrong place
(docs/decisions/0014-units-are-explicit.md)."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from chaoskit import ExperimentInvalid
from chaoskit._loader import parse_experiment
from chaoskit._registry import discover
from chaoskit._schema import experiment_schema
from chaoskit._units import Duration, DurationThreshold, NumberThreshold, PercentageThreshold

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
      expect: {latency: "< 200ms"}
faults:
  - name: slow
    injector: toxiproxy.latency
    target: web
    with: {latency: 100ms}
    duration: 1s
"""

PROBE = """\
version: 1
title: a command probe
steady_state:
  probes:
    - name: sentinel
      command:
        argv: [redis-cli, -p, "26380", PING]
      expect: {stdout_matches: PONG}
"""

LOAD = """\
load:
  - name: transfers
    rate: 10/s
    http: {url: "http://127.0.0.1:1/t/{{id}}", method: PUT}
    writes:
      lookup:
        http: {url: "http://127.0.0.1:1/t/{{id}}"}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ExperimentInvalid) as caught:
        parse_experiment(textwrap.dedent(text), "x.yaml")
    return caught.value.problems


def only_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_the_documents_here_are_good() -> None:
    for text in (GOOD, PROBE, GOOD + LOAD):
        parse_experiment(text, "x.yaml")


# --- 1. a duration carries its unit ---------------------------------------------------


def test_a_bare_number_of_milliseconds_is_not_taken_for_seconds() -> None:
    text = GOOD.replace("with: {latency: 100ms}", "with: {latency: 300}")
    assert only_problem(text) == (
        "x.yaml:15:21: faults[0].with.latency: a duration needs a unit: write 300ms or 300s"
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("every: 250ms", "every: 1", "x.yaml:6:10: steady_state.every: "),
        ("every: 250ms", "every: 1.5", "x.yaml:6:10: steady_state.every: "),
        ("every: 250ms", 'every: "2"', "x.yaml:6:10: steady_state.every: "),
        ("every: 250ms", "every: 1s\n  stable_for: 5", "x.yaml:7:15: steady_state.stable_for: "),
        ("every: 250ms", "every: 1s\n  baseline: 5", "x.yaml:7:13: steady_state.baseline: "),
        ("    - name: up\n", "    - name: up\n      every: 2\n", "x.yaml:9:14: steady_state."),
        ("    - name: up\n", "    - name: up\n      timeout: 2\n", "x.yaml:9:16: steady_state."),
        ("duration: 1s", "duration: 10", "x.yaml:16:15: faults[0].duration: "),
        ("duration: 1s", "duration: 1s\n    at: 5", "x.yaml:17:9: faults[0].at: "),
        (
            "faults:",
            "recovery: {timeout: 30}\nfaults:",
            "x.yaml:11:21: recovery.timeout: ",
        ),
        (
            "faults:",
            "safeguards: [{probe: up, abort_if_failing_for: 15}]\nfaults:",
            "x.yaml:11:48: safeguards[0].abort_if_failing_for: ",
        ),
    ],
)
def test_every_duration_of_the_document_wants_its_unit(old: str, new: str, expected: str) -> None:
    problem = only_problem(GOOD.replace(old, new))
    assert problem.startswith(expected), problem
    assert "a duration needs a unit: write " in problem


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("rate: 10/s", "rate: 10/s\n    timeout: 2", "x.yaml:20:14: load[0].timeout: "),
        (
            "rate: 10/s",
            "rate: 10/s\n    spikes: [{at: 5, for: 1s, factor: 2}]",
            "x.yaml:20:19: load[0].spikes[0].at: ",
        ),
        (
            "    rate: 10/s\n",
            "    stages: [{rate: 10/s, for: 30}]\n",
            "x.yaml:19:32: load[0].stages[0].for: ",
        ),
        (
            "rate: 10/s",
            "rate: 10/s\n    ramp: {to: 20/s, over: 10}",
            "x.yaml:20:28: load[0].ramp.over: ",
        ),
        ("    rate: 10/s\n", "    users: 2\n    think: 1\n", "x.yaml:20:12: load[0].think: "),
        (
            '        http: {url: "http://127.0.0.1:1/t/{{id}}"}\n',
            '        http: {url: "http://127.0.0.1:1/t/{{id}}"}\n        timeout: 5\n',
            "x.yaml:24:18: load[0].writes.lookup.timeout: ",
        ),
    ],
)
def test_every_duration_of_a_load_stream_wants_its_unit(old: str, new: str, expected: str) -> None:
    problem = only_problem(GOOD + LOAD.replace(old, new))
    assert problem.startswith(expected), problem
    assert "a duration needs a unit: write " in problem


@pytest.mark.parametrize(
    ("written", "shown"), [("300", "300"), ("1.5", "1.5"), ('"300"', "300"), ("2.0", "2")]
)
def test_the_hint_repeats_the_number(written: str, shown: str) -> None:
    problem = only_problem(GOOD.replace("{latency: 100ms}", f"{{latency: {written}}}"))
    assert problem.endswith(f"write {shown}ms or {shown}s"), problem


@pytest.mark.parametrize("zero", ["0", "0.0", '"0"', "0s", "0ms"])
def test_zero_needs_no_unit(zero: str) -> None:
    text = GOOD.replace("{latency: 100ms}", f"{{latency: 100ms, jitter: {zero}}}")
    experiment = parse_experiment(
        text.replace("duration: 1s", f"duration: 1s\n    at: {zero}"), "x"
    )
    [fault] = experiment.experiment.faults
    assert fault.at == 0.0
    assert fault.params.model_dump()["jitter"] == 0.0


def test_a_negative_number_is_still_refused_as_negative() -> None:
    problem = only_problem(GOOD.replace("{latency: 100ms}", "{latency: -5}"))
    assert problem.endswith("expected a duration like 250ms, 30s or 2m (non-negative)"), problem


def test_python_callers_write_the_unit_too() -> None:
    latency = discover().injector("toxiproxy.latency")
    with pytest.raises(ValidationError, match=r"write 0\.3ms or 0\.3s"):
        latency.params.model_validate({"latency": 0.3})
    assert latency.params.model_validate({"latency": "300ms"}).model_dump()["latency"] == 0.3


def _duration_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    """``Model.field`` of every Duration field reachable from ``model``."""
    import typing

    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, type) and issubclass(node, BaseModel):
            if node in seen:
                return
            seen.add(node)
            for name, info in node.model_fields.items():
                written = repr(info.metadata) + repr(info.annotation)
                if "parse_duration" in written and "Threshold" not in written:
                    found.append(f"{node.__name__}.{name}")
                walk(info.annotation)
        for arg in typing.get_args(node):
            walk(arg)

    walk(model)
    return found


def test_every_installed_duration_field_refuses_a_bare_number() -> None:
    """Every Duration of the format and of every installed plugin (``with:``
    params, probe params, targets, load and lookup kinds) is built on one
    type; this finds them all and tries a bare number on each."""
    from chaoskit._model import build_experiment_model

    registry = discover()
    registry.load_all()
    fields = _duration_fields(build_experiment_model(registry), set())
    assert "LatencyParams.latency" in fields
    assert "LatencyParams.jitter" in fields
    assert len(fields) > 30, fields
    bare = TypeAdapter(Duration)
    with pytest.raises(ValidationError, match="write 300ms or 300s"):
        bare.validate_python(300)


def test_the_schema_advertises_no_bare_number_for_a_duration() -> None:
    registry = discover()
    schema = experiment_schema(registry)
    durations: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            options = node.get("anyOf", [])
            if any("(ms|s|m|h)" in str(o.get("pattern", "")) for o in options):
                durations.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert durations
    for node in durations:
        assert {"type": "number", "minimum": 0} not in node["anyOf"], node
        assert {o.get("type") for o in node["anyOf"]} <= {"string", None}, node
        assert not isinstance(node.get("default"), int | float), node
    steady = schema["$defs"]["SteadyState"]["properties"]
    assert steady["every"]["default"] == "1s"


def test_a_duration_written_as_json_reads_back_the_same() -> None:
    durations = TypeAdapter(Duration)
    for seconds in (0.0, 0.25, 1e-05, 0.1 + 0.2, 300.0, 123.456):
        text = durations.dump_python(seconds, mode="json")
        assert isinstance(text, str)
        assert durations.validate_python(text) == seconds
    assert durations.dump_python(0.25) == 0.25


# --- 2. a duration is bounded, never equal ------------------------------------------


EQUALITY = 'equality on a duration is almost never meant; write "< {0}" or "<= {0}"'


@pytest.mark.parametrize("written", ["200ms", '"== 200ms"', '"==200ms"'])
def test_an_equality_on_a_probe_latency_is_refused(written: str) -> None:
    problem = only_problem(GOOD.replace('{latency: "< 200ms"}', f"{{latency: {written}}}"))
    assert problem == (
        "x.yaml:10:25: steady_state.probes[0].expect.latency: " + EQUALITY.format("200ms")
    )


@pytest.mark.parametrize("field", ["mttr", "ttd", "time_to_heal", "p99_during_fault"])
def test_an_equality_on_a_measured_duration_is_refused(field: str) -> None:
    text = GOOD + f"expect: {{{field}: 8s}}\n"
    assert only_problem(text) == f"x.yaml:17:{12 + len(field)}: expect.{field}: " + EQUALITY.format(
        "8s"
    )


def test_a_bare_zero_bound_on_a_duration_is_an_equality_too() -> None:
    problem = only_problem(GOOD + "expect: {mttr: 0}\n")
    assert problem.endswith(EQUALITY.format("0s")), problem


@pytest.mark.parametrize("bound", ['"< 8s"', '"<= 8s"', '"> 1s"', '">= 0s"'])
def test_a_comparison_on_a_duration_is_fine(bound: str) -> None:
    loaded = parse_experiment(GOOD + f"expect: {{mttr: {bound}}}\n", "x.yaml")
    assert loaded.experiment.expect.mttr is not None


def test_counts_and_percentages_keep_their_equality() -> None:
    text = GOOD + LOAD + 'expect: {data_loss: 0, data_loss_rate: "== 0%"}\n'
    expect = parse_experiment(text, "x.yaml").experiment.expect
    assert str(expect.data_loss) == "== 0"
    assert str(expect.data_loss_rate) == "== 0%"
    assert TypeAdapter(NumberThreshold).validate_python("== 3").holds(3)
    assert TypeAdapter(PercentageThreshold).validate_python("0%").holds(0)


def test_an_equality_from_python_is_refused_as_well() -> None:
    with pytest.raises(ValidationError, match="equality on a duration"):
        TypeAdapter(DurationThreshold).validate_python("== 1s")


# --- 3. text where YAML reads a number ----------------------------------------------


def test_a_number_in_argv_says_to_quote_it() -> None:
    text = PROBE.replace('"26380"', "26380")
    assert only_problem(text) == (
        'x.yaml:7:31: steady_state.probes[0].command.argv[2]: expected a string; quote it: "26380"'
    )


@pytest.mark.parametrize(
    ("written", "quoted"),
    [("0777", "0777"), ("yes", "yes"), ("1.10", "1.10"), ("12:30", "12:30"), ("2024-01-01", None)],
)
def test_the_hint_quotes_the_value_as_it_was_written(written: str, quoted: str | None) -> None:
    text = PROBE.replace("PING]", f"PING]\n        env: {{MODE: {written}}}")
    problem = only_problem(text)
    assert problem.startswith("x.yaml:8:21: steady_state.probes[0].command.env.MODE: "), problem
    assert problem.endswith(f'expected a string; quote it: "{quoted or written}"'), problem


def test_a_number_in_a_header_says_to_quote_it() -> None:
    text = GOOD.replace('{url: "http://127.0.0.1:1/"}', '{url: "http://x/", headers: {X-Try: 3}}')
    assert only_problem(text) == (
        'x.yaml:9:49: steady_state.probes[0].http.headers.X-Try: expected a string; quote it: "3"'
    )


def test_a_number_for_a_target_field_says_to_quote_it() -> None:
    text = GOOD.replace("name: web}", "name: 8080}")
    assert only_problem(text) == (
        'x.yaml:4:38: targets.web.name: expected a string; quote it: "8080"'
    )


# --- 4. an unknown field is named where it is, with the known ones -----------------


def test_a_typo_in_a_probe_expect_is_named_where_it_is() -> None:
    text = PROBE.replace("stdout_matches: PONG", "stdout_match: PONG")
    assert only_problem(text) == (
        "x.yaml:8:16: steady_state.probes[0].expect.stdout_match: unknown field; "
        "expected one of exit_code, latency, stdout_matches (did you mean stdout_matches?)"
    )


def test_a_typo_in_a_probe_kind_params_is_named_where_it_is() -> None:
    text = PROBE.replace("argv:", "argvs:")
    found = problems(text)
    assert (
        "x.yaml:7:9: steady_state.probes[0].command.argvs: unknown field; "
        "expected one of argv, cwd, env, shell (did you mean argv?)"
    ) in found


def test_a_typo_in_a_fault_param_is_named_where_it_is() -> None:
    text = GOOD.replace("{latency: 100ms}", "{latency: 100ms, jiter: 5ms}")
    assert only_problem(text) == (
        "x.yaml:15:28: faults[0].with.jiter: unknown field; "
        "expected one of jitter, latency, stream, toxicity (did you mean jitter?)"
    )


def test_a_typo_in_a_load_request_is_named_where_it_is() -> None:
    text = GOOD + LOAD.replace("method: PUT", "metod: PUT")
    assert only_problem(text) == (
        "x.yaml:20:48: load[0].http.metod: unknown field; "
        "expected one of acknowledged, failed, headers, json, method, url (did you mean method?)"
    )


def test_a_typo_in_a_load_task_is_named_where_it_is() -> None:
    load = LOAD.replace(
        '    http: {url: "http://127.0.0.1:1/t/{{id}}", method: PUT}\n',
        '    tasks:\n      - {weight: 2, http: {url: "http://127.0.0.1:1/", verb: PUT}}\n',
    )
    assert only_problem(GOOD + load) == (
        "x.yaml:21:56: load[0].tasks[0].http.verb: unknown field; "
        "expected one of acknowledged, failed, headers, json, method, url"
    )


def test_a_typo_in_a_load_stream_is_named_where_it_is() -> None:
    text = GOOD + LOAD.replace("rate: 10/s", "rate: 10/s\n    max_inflight: 3")
    problem = only_problem(text)
    assert problem.startswith("x.yaml:20:5: load[0].max_inflight: unknown field; expected one of ")
    assert problem.endswith("(did you mean max_in_flight?)"), problem


def test_a_typo_in_a_lookup_is_named_where_it_is() -> None:
    text = GOOD + LOAD.replace('{{id}}"}\n', '{{id}}", present: [200]}\n')
    assert only_problem(text) == (
        "x.yaml:23:52: load[0].writes.lookup.http.present: unknown field; "
        "expected one of absent_if, concurrency, present_if, url (did you mean present_if?)"
    )


def test_a_typo_in_a_target_is_named_where_it_is() -> None:
    text = GOOD.replace("name: web}", "name: web, lisen: 127.0.0.1:1}")
    problem = only_problem(text)
    assert problem.startswith("x.yaml:4:43: targets.web.lisen: unknown field; expected one of ")
    assert problem.endswith("(did you mean listen?)"), problem


def test_a_typo_beside_a_probe_kind_names_the_probe_fields() -> None:
    text = PROBE.replace("      expect:", "      expct:")
    assert only_problem(text) == (
        "x.yaml:8:7: steady_state.probes[0].expct: unknown field; expected one of "
        "command, description, every, expect, name, scope, timeout (did you mean expect?)"
    )
