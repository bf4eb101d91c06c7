"""``chaoskit report``: the JUnit XML of a run validates against Jenkins' JUnit
schema and says what failed; the Markdown report's tables hold the findings.
Runs are real runs of the fake plugin, in-process (issue 12)."""

from __future__ import annotations

import importlib.metadata
import signal
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import structlog
import xmlschema
import yaml
from chaoskit_cli import run_chaoskit, start_chaoskit, wait_for_event
from markdown_it import MarkdownIt

from chaoskit._control import Controller, RunControl
from chaoskit._faults import RetryPolicy
from chaoskit._loader import parse_experiment
from chaoskit._results import RunStatus
from chaoskit._runner import RunOptions, run_experiment
from chaoskit.report import collect, junit_xml, markdown_report

SCHEMA = Path(__file__).parents[2] / ".chaoskit" / "vendor" / "jenkins-junit.xsd"

COUNT = {"name": "no-flags", "fake.flag_count": {"target": "flags"}}
NEIGHBOUR = {"name": "neighbour", "scope": "outside", "fake.flag_count": {"target": "flags"}}
CALM = {"name": "calm", "scope": "outside", "command": {"argv": ["true"]}}
FAILING = {"name": "after", "command": {"argv": ["false"]}}


def flag(**params: Any) -> dict[str, Any]:
    fault: dict[str, Any] = {
        "name": params.pop("name", "flag"),
        "injector": "fake.flag",
        "target": "flags",
        "duration": params.pop("duration", "300ms"),
    }
    return fault | ({"with": params} if params else {})


def experiment(tmp_path: Path, **extra: Any) -> str:
    flags = tmp_path / "flags"
    flags.mkdir(exist_ok=True)
    document = {
        "version": 1,
        "title": "reported",
        "targets": {"flags": {"kind": "fake.dir", "path": str(flags)}},
        "steady_state": {
            "every": "50ms",
            "stable_for": "150ms",
            "baseline": "100ms",
            "probes": extra.pop("probes", [COUNT, CALM]),
        },
        "faults": [flag()],
        **extra,
    }
    return yaml.safe_dump(document)


class Noting(Controller):
    """Writes a note as the run starts, as a GameDay facilitator would."""

    def attach(self, control: RunControl) -> None:
        super().attach(control)
        control.note("the room sees the dashboard go red | then green", by="alice")


async def run(tmp_path: Path, text: str, controller: Controller | None = None) -> Path:
    loaded = parse_experiment(text, "inline.yaml")
    options = RunOptions(
        runs_dir=tmp_path / "runs",
        revert_policy=RetryPolicy(attempts=2, first_backoff=0.01),
        handle_signals=False,
        controller=controller,
    )
    _, run_dir = await run_experiment(loaded, options, structlog.get_logger())
    return run_dir


def schema() -> xmlschema.XMLSchema:
    assert SCHEMA.exists(), f"{SCHEMA} is missing: ./dev setup fetches it"
    return xmlschema.XMLSchema(SCHEMA)


def cases_of(xml: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(classname, name) -> (outcome, message) of each testcase."""
    out = {}
    for case in ET.fromstring(xml).iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome, message = tag, found.get("message", found.text or "")
        out[(case.get("classname", ""), case.get("name", ""))] = (outcome, message)
    return out


def tables(markdown: str) -> dict[str, list[list[str]]]:
    """Each table of the document by its first header cell: its rows of cells, each
    cell as written (inline Markdown unrendered)."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    found: dict[str, list[list[str]]] = {}
    rows: list[list[str]] = []
    row: list[str] = []
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            rows = []
        elif token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            row.append(tokens[index + 1].content)
        elif token.type == "tr_close":
            rows.append(row)
        elif token.type == "table_close":
            found[rows[0][0] or rows[1][0]] = rows
    return found


SCENARIOS: dict[str, dict[str, Any]] = {
    "held": {"expect": {"mttr": "< 30s", "contained": True}},
    "an expectation not met": {"expect": {"mttr": "< 1ms"}},
    "a breach": {"probes": [COUNT, NEIGHBOUR], "expect": {"contained": True}},
    "a revert that always fails": {"faults": [flag(revert_failures=-1)]},
    "not steady at baseline": {"probes": [COUNT, {"name": "down", "command": {"argv": ["false"]}}]},
    "a recovery probe": {
        "recovery": {"probes": [{"name": "after", "command": {"argv": ["false"]}}]}
    },
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_the_junit_of_every_kind_of_run_is_valid(tmp_path: Path, name: str) -> None:
    run_dir = await run(tmp_path, experiment(tmp_path, **SCENARIOS[name]))
    xml = junit_xml(collect(run_dir))
    schema().validate(xml)
    root = ET.fromstring(xml)
    cases = cases_of(xml)
    assert int(root.get("tests", "")) == len(cases)
    failing = sum(outcome in ("failure", "error") for outcome, _ in cases.values())
    assert int(root.get("failures", "")) + int(root.get("errors", "")) == failing
    verdict, _ = cases[("chaoskit.run", "verdict")]
    assert (verdict == "passed") is (name == "held")


@pytest.mark.anyio
async def test_the_junit_says_what_failed(tmp_path: Path) -> None:
    text = experiment(
        tmp_path, probes=[COUNT, NEIGHBOUR, CALM], expect={"mttr": "< 1ms", "ttd": "< 30s"}
    )
    data = collect(await run(tmp_path, text))
    xml = junit_xml(data)
    cases = cases_of(xml)
    # the plugins the run used, with their versions (the fake injector's distribution)
    version = importlib.metadata.version("chaoskit-testplugin")
    assert data.started.plugins == {"chaoskit-testplugin": version}
    properties = {p.get("name"): p.get("value") for p in ET.fromstring(xml).iter("property")}
    assert properties["plugin:chaoskit-testplugin"] == version
    assert f"chaoskit-testplugin {version}" in markdown_report(data)
    assert cases[("chaoskit.expectations", "mttr")][0] == "failure"
    assert cases[("chaoskit.expectations", "mttr")][1].endswith("expected < 1ms")
    assert cases[("chaoskit.expectations", "ttd")][0] == "passed"
    outcome, message = cases[("chaoskit.steady-state", "neighbour")]
    assert outcome == "failure"
    assert message.startswith("breached in iteration 1: first failure at t=")
    assert cases[("chaoskit.steady-state", "calm")][0] == "passed"
    assert cases[("chaoskit.steady-state", "no-flags")] == ("passed", "")
    assert cases[("chaoskit.run", "verdict")][0] == "failure"
    assert cases[("chaoskit.run", "revert")][0] == "passed"


@pytest.mark.anyio
async def test_the_markdown_tables_hold_the_findings(tmp_path: Path) -> None:
    text = experiment(tmp_path, repeat=2, probes=[COUNT, CALM], expect={"mttr": "< 30s"})
    run_dir = await run(tmp_path, text, Noting())
    data = collect(run_dir)
    assert data.result.status is RunStatus.PASSED
    found = tables(markdown_report(data))
    iterations = found["iteration"]
    assert [row[0] for row in iterations[1:]] == ["1", "2"]
    assert all(row[3] != "NOT RECOVERED" for row in iterations[1:])
    [_, *stats] = found["figure"]
    assert [row[0] for row in stats] == ["MTTR", "TTD", "time to heal"]
    [_, mttr] = found["expectation"]
    assert mttr[:2] == ["mttr", "< 30s"]
    assert mttr[3] == "yes"
    probes = {row[0]: row for row in found["probe"][1:]}
    assert probes["no-flags"][6].startswith("passed: hurt in 2 of 2")
    assert probes["calm"][1] == "outside"
    faults = found["fault"][1:]
    assert [(row[0], row[1]) for row in faults] == [("flag", "1"), ("flag", "2")]
    [_, note] = found["t"]
    assert note[1:3] == ["alice", "note"]
    assert note[4] == "the room sees the dashboard go red | then green"  # its pipe escaped


def test_a_killed_run_gets_its_reports_and_run_writes_them_too(tmp_path: Path) -> None:
    flags = tmp_path / "flags"
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment(tmp_path, faults=[flag(duration="60s")]))
    run = start_chaoskit(["run", str(path)], tmp_path)
    wait_for_event(run, "fault_injected")
    run.send(signal.SIGKILL)
    run.finish()
    run_dir = run.run_dir()
    assert run_dir is not None
    code, out, err = run_chaoskit(["report", str(run_dir)], tmp_path)
    assert code == 0, out + err
    assert out.split() == [
        str(run_dir / name) for name in ("report.html", "report.md", "junit.xml")
    ]
    xml = (run_dir / "junit.xml").read_text()
    schema().validate(xml)
    assert cases_of(xml)[("chaoskit.run", "revert")][0] == "error"
    assert "was never reverted" in (run_dir / "report.md").read_text()
    page = (run_dir / "report.html").read_text()
    assert "NOT REVERTED" in page
    assert f"chaoskit rollback {run_dir}" in page
    code, out, err = run_chaoskit(["rollback", str(run_dir)], tmp_path)
    assert code == 0, out + err
    assert [p for p in flags.iterdir() if not p.name.endswith("attempts")] == []

    code, out, err = run_chaoskit(["run", str(path), "--report", "junit"], tmp_path)
    assert code == 0, out + err
    [finished] = [d for d in (tmp_path / "runs").iterdir() if d != run_dir]
    assert (finished / "junit.xml").exists()
    assert not (finished / "report.md").exists()


def test_an_unknown_report_format_is_refused_before_the_run(tmp_path: Path) -> None:
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment(tmp_path))
    code, _, err = run_chaoskit(["run", str(path), "--report", "html,pdf"], tmp_path)
    assert code == 2
    assert (
        "--report: expected a comma-separated list of html, markdown, junit; got 'html,pdf'" in err
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.anyio
async def test_several_runs_side_by_side(tmp_path: Path) -> None:
    held = await run(tmp_path / "a", experiment(_dir(tmp_path / "a")))
    failed = await run(tmp_path / "b", experiment(_dir(tmp_path / "b"), expect={"mttr": "< 1ms"}))
    code, out, err = run_chaoskit(["report", str(failed), str(held)], tmp_path)
    assert code == 0, out + err
    [header, *rows] = tables(out)["started"]
    assert header[1:4] == ["run", "verdict", "MTTR"]
    assert [row[1] for row in rows] == [f"`{held.name}`", f"`{failed.name}`"]
    assert [row[2] for row in rows] == ["PASSED", "FAILED"]
    assert all(row[3].endswith("ms") for row in rows)  # each MTTR measured
    assert f"* `{failed.name}`: expectations not met" in out
    for option, name in (("--junit", "x.xml"), ("--html", "x.html")):
        code, _, err = run_chaoskit(["report", str(failed), str(held), option, name], tmp_path)
        assert code == 2
        assert f"{option}: one run per file (give one RUN_DIR)" in err


def _dir(path: Path) -> Path:
    path.mkdir()
    return path
