"""Load an experiment file: YAML with positions → env substitution → models →
cross-references. Every problem is reported at once as
``file:line:col: path: message``."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from chaoskit._errorpath import field_names, follow
from chaoskit._errors import ExperimentInvalid, UserError
from chaoskit._model import Experiment, build_experiment_model
from chaoskit._registry import Registry, discover
from chaoskit._secrets import Secrets, substitute_env
from chaoskit._yamllimits import MAX_DOCUMENT_BYTES
from chaoskit._yamlpos import (
    Path,
    Positions,
    YamlError,
    check_document_size,
    load_with_positions,
)

__all__ = ["LoadedExperiment", "format_path", "load_experiment", "parse_experiment"]


@dataclass(frozen=True)
class LoadedExperiment:
    source: str
    experiment: Experiment
    raw: Any
    """The document as written, before ``${env:...}`` substitution: safe to journal."""
    secrets: Secrets
    registry: Registry


def load_experiment(
    path: str | FsPath,
    registry: Registry | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedExperiment:
    file = FsPath(path)
    try:
        # one byte past the limit is enough to refuse: a huge file (or /dev/zero)
        # never comes into memory whole
        with file.open("rb") as stream:
            encoded = stream.read(MAX_DOCUMENT_BYTES + 1)
        check_document_size(encoded)
        text = encoded.decode("utf-8")
    except FileNotFoundError:
        raise UserError(f"{file}: no such experiment file") from None
    except YamlError as exc:
        raise ExperimentInvalid([f"{file}:{exc.line}:{exc.column}: {exc.message}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{file}: cannot read: {exc}") from exc
    return parse_experiment(text, str(file), registry, environ)


def parse_experiment(
    text: str,
    source: str,
    registry: Registry | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedExperiment:
    registry = discover() if registry is None else registry
    try:
        raw, positions = load_with_positions(text)
    except YamlError as exc:
        raise ExperimentInvalid([f"{source}:{exc.line}:{exc.column}: {exc.message}"]) from None
    if not isinstance(raw, dict):
        raise ExperimentInvalid([f"{source}:1:1: expected a mapping (an experiment document)"])
    report = _Report(source, raw, positions)
    data, secrets, env_problems = substitute_env(raw, environ)
    for path, message in env_problems:
        report.add(path, message)
    _load_named_plugins(data, registry)
    model = build_experiment_model(registry)
    experiment: Experiment | None = None
    try:
        experiment = model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            report.add_pydantic(error, model)
    _check_references(data, registry, report)
    if report.problems:
        raise ExperimentInvalid(report.lines())
    assert experiment is not None
    return LoadedExperiment(source, experiment, raw, secrets, registry)


class _Report:
    def __init__(self, source: str, data: Any, positions: Positions) -> None:
        self.source = source
        self.data = data
        self.positions = positions
        self.problems: list[tuple[tuple[int, int], str, str]] = []

    def add(self, loc: Sequence[str | int], message: str, at_key: bool = False) -> None:
        walked, spot = self.positions.nearest(self.data, loc)
        if at_key and walked and (*walked, "__key__") in self.positions.spots:
            spot = self.positions.spots[(*walked, "__key__")]
        self.problems.append((spot, format_path(walked), message))

    def add_pydantic(self, error: Any, model: type[BaseModel]) -> None:
        """One pydantic error of validating the document against ``model``."""
        raw_loc: tuple[str | int, ...] = tuple(error["loc"])
        kind = error["type"]
        message = str(error["msg"])
        if message.startswith(("Value error, ", "Assertion failed, ")):
            message = message.split(", ", 1)[1]
        if kind == "extra_forbidden" and raw_loc:
            parent = follow(model, raw_loc[:-1])
            self.add(
                (*parent.path, raw_loc[-1]),
                _unknown_field(raw_loc[-1], parent.model),
                at_key=True,
            )
            return
        loc = follow(model, raw_loc).path
        if kind == "missing" and loc:
            self.add(loc[:-1], f"missing required field {loc[-1]!r}")
            return
        if kind == "too_short":
            ctx = error.get("ctx", {})
            message = f"expected at least {ctx.get('min_length')} item(s)"
        if kind == "string_type" and not isinstance(error.get("input"), str | None | dict | list):
            message = self._quote_hint(loc, error["input"])
        self.add(loc, message)

    def _quote_hint(self, loc: Sequence[str | int], value: Any) -> str:
        """A number, boolean or date where a string is expected: YAML read a bare
        ``26380`` or ``yes`` as one. Quoted, it stays the text it was written as."""
        if loc and loc[-1] == "[key]":  # a mapping's key (pydantic's name for it)
            return f'expected a string; quote the key: "{value}"'
        walked, _ = self.positions.nearest(self.data, loc)
        written = self.positions.written.get(walked, str(value))
        if len(written) > 60:  # a 5000-digit number need not be shown whole
            written = written[:59] + "…"
        return f'expected a string; quote it: "{written}"'

    def lines(self) -> list[str]:
        ordered = sorted(self.problems, key=lambda p: p[0])
        return [
            f"{self.source}:{line}:{col}: {path}: {message}"
            if path
            else f"{self.source}:{line}:{col}: {message}"
            for (line, col), path, message in ordered
        ]


def _unknown_field(key: str | int, model: type[BaseModel] | None) -> str:
    if model is None:
        return "unknown field"
    known = field_names(model)
    message = "unknown field; expected one of " + ", ".join(known)
    close = difflib.get_close_matches(str(key), known, n=1)
    return f"{message} (did you mean {close[0]}?)" if close else message


def _load_named_plugins(data: Any, registry: Registry) -> None:
    """Import just the plugins the document names (a cheap, forgiving scan:
    validation reports whatever is wrong with the names)."""
    targets = data.get("targets")
    if isinstance(targets, dict):
        kinds = [t.get("kind") for t in targets.values() if isinstance(t, dict)]
        registry.load("chaoskit.targets", [k for k in kinds if isinstance(k, str)])
    faults = data.get("faults")
    if isinstance(faults, list):
        names = [f.get("injector") for f in faults if isinstance(f, dict)]
        registry.load("chaoskit.injectors", [n for n in names if isinstance(n, str)])
    probe_kinds: list[str] = []
    for section in ("steady_state", "recovery"):
        block = data.get(section)
        probes = block.get("probes") if isinstance(block, dict) else None
        if isinstance(probes, list):
            probe_kinds += [k for p in probes if isinstance(p, dict) for k in p]
    registry.load("chaoskit.probes", [k for k in probe_kinds if isinstance(k, str)])
    load_kinds: list[str] = []
    streams = data.get("load")
    for stream in streams if isinstance(streams, list) else []:
        if isinstance(stream, dict):
            load_kinds += [k for k in stream if isinstance(k, str)]
            tasks = stream.get("tasks")
            for task in tasks if isinstance(tasks, list) else []:
                load_kinds += (
                    [k for k in task if isinstance(k, str)] if isinstance(task, dict) else []
                )
    registry.load("chaoskit.load", load_kinds)
    lookup_kinds: list[str] = []
    for stream in streams if isinstance(streams, list) else []:
        writes = stream.get("writes") if isinstance(stream, dict) else None
        lookup = writes.get("lookup") if isinstance(writes, dict) else None
        if isinstance(lookup, dict):
            lookup_kinds += [k for k in lookup if isinstance(k, str)]
    registry.load("chaoskit.lookups", lookup_kinds)


def format_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _entries(value: Any) -> list[tuple[int, dict[str, Any]]]:
    items = value if isinstance(value, list) else []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def _check_references(data: dict[str, Any], registry: Registry, report: _Report) -> None:
    """Names that must refer to something defined elsewhere in the document.
    Works on the raw data, so these problems are reported beside the others."""
    targets = _mapping(data.get("targets"))
    steady = _entries(_mapping(data.get("steady_state")).get("probes"))
    recovery = _entries(_mapping(data.get("recovery")).get("probes"))
    probes: list[tuple[Path, dict[str, Any]]] = [
        (("steady_state", "probes", i), p) for i, p in steady
    ] + [(("recovery", "probes", i), p) for i, p in recovery]
    _unique(report, [(path, p.get("name")) for path, p in probes], "probe")
    faults = _entries(data.get("faults"))
    _unique(report, [(("faults", i), f.get("name")) for i, f in faults], "fault")
    probe_kinds = set(registry.names("chaoskit.probes"))
    for path, probe in probes:
        for kind in probe_kinds.intersection(probe):
            ref = _mapping(probe[kind]).get("target")
            if isinstance(ref, str) and ref not in targets:
                report.add((*path, kind, "target"), _no_target(ref, targets))
    streams = {stream.get("name") for _, stream in _entries(data.get("load"))}
    for path, probe in probes:
        ref = _mapping(probe.get("load")).get("stream")
        if "load" in probe and isinstance(ref, str) and ref not in streams:
            defined = ", ".join(sorted(str(n) for n in streams)) or "none"
            report.add(
                (*path, "load", "stream"),
                f"no load stream named {ref!r}; defined under load: {defined}",
            )
    for index, fault in faults:
        _check_fault(index, fault, targets, registry, report)
    for index, stream in _entries(data.get("load")):
        _check_stream_targets(index, stream, targets, registry, report)
    _check_lab_knobs(_mapping(_mapping(data.get("lab")).get("knobs")), report)
    fault_measures = {"mttr", "ttd", "time_to_heal", "contained"}
    expect = _mapping(data.get("expect"))
    if fault_measures.intersection(expect) and not faults:
        report.add(
            ("expect",),
            "mttr, ttd, time_to_heal and contained measure faults, but there are no faults",
        )
    steady_names = {p.get("name") for _, p in steady}
    for index, guard in _entries(data.get("safeguards")):
        name = guard.get("probe")
        if isinstance(name, str) and name not in steady_names:
            defined = ", ".join(sorted(str(n) for n in steady_names))
            report.add(
                ("safeguards", index, "probe"),
                f"no steady-state probe named {name!r}; defined: {defined}",
            )


def _check_stream_targets(
    index: int, stream: dict[str, Any], targets: dict[str, Any], registry: Registry, report: _Report
) -> None:
    """``target:`` inside a stream's request kinds and its lookup must be defined."""
    load_kinds = set(registry.names("chaoskit.load"))
    lookup_kinds = set(registry.names("chaoskit.lookups"))
    places: list[tuple[Path, Any]] = [
        ((index, kind), stream[kind]) for kind in load_kinds.intersection(stream)
    ]
    for task_index, task in _entries(stream.get("tasks")):
        places += [
            ((index, "tasks", task_index, k), task[k]) for k in load_kinds.intersection(task)
        ]
    lookup = _mapping(_mapping(stream.get("writes")).get("lookup"))
    places += [
        ((index, "writes", "lookup", k), lookup[k]) for k in lookup_kinds.intersection(lookup)
    ]
    for path, params in places:
        ref = _mapping(params).get("target")
        if isinstance(ref, str) and ref not in targets:
            report.add(("load", *path, "target"), _no_target(ref, targets))


def _check_lab_knobs(knobs: dict[str, Any], report: _Report) -> None:
    if not knobs:
        return
    from chaoskit.lab.errors import LabUsageError
    from chaoskit.lab.knobs import check_settings

    for name, value in knobs.items():
        try:
            check_settings({str(name): str(value)})
        except LabUsageError as exc:
            report.add(("lab", "knobs", name), str(exc), at_key=True)


def _check_fault(
    index: int,
    fault: dict[str, Any],
    targets: dict[str, Any],
    registry: Registry,
    report: _Report,
) -> None:
    path: Path = ("faults", index)
    name = fault.get("target")
    if not isinstance(name, str):
        return
    target = targets.get(name)
    if target is None:
        report.add((*path, "target"), _no_target(name, targets))
        return
    injector = registry.injectors.get(str(fault.get("injector")))
    kind = _mapping(target).get("kind")
    if injector is not None and isinstance(kind, str):
        kinds = injector.obj.target_kinds
        if kind not in kinds:
            report.add(
                (*path, "target"),
                f"injector {injector.name} acts on {', '.join(kinds)}; target {name!r} is a {kind}",
            )


def _no_target(name: str, targets: dict[str, Any]) -> str:
    defined = ", ".join(sorted(targets)) or "none"
    return f"no target named {name!r}; defined: {defined}"


def _unique(report: _Report, named: list[tuple[Path, Any]], noun: str) -> None:
    seen: set[str] = set()
    for path, name in named:
        if not isinstance(name, str):
            continue
        if name in seen:
            report.add((*path, "name"), f"duplicate {noun} name {name!r}")
        seen.add(name)
