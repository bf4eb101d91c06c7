"""Load an experiment file: YAML with positions → env substitution → models →
cross-references. Every problem is reported at once as
``file:line:col: path: message``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from chaoskit._errors import ExperimentInvalid, UserError
from chaoskit._model import Experiment, FaultSpec, ProbeSpec, build_experiment_model
from chaoskit._registry import Registry, discover
from chaoskit._secrets import Secrets, substitute_env
from chaoskit._yamlpos import Path, Positions, YamlError, load_with_positions

BUILTIN_PROBES = ("command", "http", "tcp")

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
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{file}: no such experiment file") from None
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
            report.add_pydantic(error, registry)
    if experiment is not None:
        _check_references(experiment, registry, report)
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
        self.problems.append((spot, format_path(walked if not at_key else loc), message))

    def add_pydantic(self, error: Any, registry: Registry) -> None:
        loc: tuple[str | int, ...] = tuple(error["loc"])
        kind = error["type"]
        message = str(error["msg"])
        if message.startswith(("Value error, ", "Assertion failed, ")):
            message = message.split(", ", 1)[1]
        if kind == "extra_forbidden":
            self.add(loc, "unknown field", at_key=True)
            return
        if kind == "missing":
            self.add(loc[:-1], f"missing required field {loc[-1]!r}")
            return
        if kind == "too_short":
            ctx = error.get("ctx", {})
            message = f"expected at least {ctx.get('min_length')} item(s)"
        if kind in ("union_tag_invalid", "literal_error"):
            message = self._unknown_plugin(loc, error, registry) or message
        self.add(loc, message)

    def _unknown_plugin(self, loc: Path, error: Any, registry: Registry) -> str | None:
        """A plugin name that matched no loaded plugin: say what is installed."""
        walked, _ = self.positions.nearest(self.data, loc)
        value: Any = self.data
        for part in walked:
            value = value[part]
        if error["type"] == "union_tag_invalid":
            value = error.get("ctx", {}).get("tag")
            discriminator = str(error.get("ctx", {}).get("discriminator", "")).strip("'")
        else:
            discriminator = str(loc[-1])
        if loc[:1] == ("faults",) and discriminator == "injector":
            return registry.unknown("chaoskit.injectors", str(value))
        if loc[:1] == ("targets",) and discriminator == "kind":
            return registry.unknown("chaoskit.targets", str(value))
        if discriminator == "probe_kind":
            return None
        return None

    def lines(self) -> list[str]:
        ordered = sorted(self.problems, key=lambda p: p[0])
        return [
            f"{self.source}:{line}:{col}: {path}: {message}"
            if path
            else f"{self.source}:{line}:{col}: {message}"
            for (line, col), path, message in ordered
        ]


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
    # the built-in kinds always take part: a probe union needs two members
    probe_kinds += list(BUILTIN_PROBES)
    registry.load("chaoskit.probes", [k for k in probe_kinds if isinstance(k, str)])


def format_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _check_references(experiment: Experiment, registry: Registry, report: _Report) -> None:
    probes: list[tuple[Path, ProbeSpec]] = [
        (("steady_state", "probes", i), p) for i, p in enumerate(experiment.steady_state.probes)
    ]
    probes += [(("recovery", "probes", i), p) for i, p in enumerate(experiment.recovery.probes)]
    _unique(report, [(path, p.name) for path, p in probes], "probe")
    _unique(report, [(("faults", i), f.name) for i, f in enumerate(experiment.faults)], "fault")
    for path, probe in probes:
        ref = getattr(probe.kind_params, "target", None)
        if isinstance(ref, str) and ref not in experiment.targets:
            report.add((*path, probe.probe_kind, "target"), _no_target(ref, experiment))
    for index, fault in enumerate(experiment.faults):
        _check_fault(index, fault, experiment, registry, report)
    steady_names = {p.name for p in experiment.steady_state.probes}
    for index, guard in enumerate(experiment.safeguards):
        if guard.probe not in steady_names:
            report.add(
                ("safeguards", index, "probe"),
                f"no steady-state probe named {guard.probe!r}; defined: "
                + ", ".join(sorted(steady_names)),
            )


def _check_fault(
    index: int, fault: FaultSpec, experiment: Experiment, registry: Registry, report: _Report
) -> None:
    path: Path = ("faults", index)
    if fault.duration <= 0:
        report.add((*path, "duration"), "expected a duration greater than 0")
    target = experiment.targets.get(fault.target)
    if target is None:
        report.add((*path, "target"), _no_target(fault.target, experiment))
        return
    kinds = registry.injector(fault.injector).target_kinds
    if target.kind not in kinds:
        report.add(
            (*path, "target"),
            f"injector {fault.injector} acts on {', '.join(kinds)}; "
            f"target {fault.target!r} is a {target.kind}",
        )


def _no_target(name: str, experiment: Experiment) -> str:
    defined = ", ".join(sorted(experiment.targets)) or "none"
    return f"no target named {name!r}; defined: {defined}"


def _unique(report: _Report, named: list[tuple[Path, str]], noun: str) -> None:
    seen: set[str] = set()
    for path, name in named:
        if name in seen:
            report.add((*path, "name"), f"duplicate {noun} name {name!r}")
        seen.add(name)
