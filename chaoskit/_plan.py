"""The plan of a run, for ``chaoskit run --dry-run``.

Built from the validated experiment (never the raw document), so that what is
shown is what the run would use: defaults filled in, durations spelt out in
their units (``latency 400ms``, not 0.4). What each fault changes and creates
comes from its injector (``Describable.footprint``) and what a target needs
created for the run from ``Provisioning.setup``; both answer from the
experiment alone. Nothing is contacted, injected or written.

:func:`build_plan` gives a :class:`Plan`; :func:`render_plan` its text, and
``Plan.model_dump_json`` the JSON of ``--dry-run --json``.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Iterable
from typing import Annotated, Any, get_args, get_origin

import structlog
from pydantic import BaseModel, ConfigDict
from pydantic.fields import FieldInfo

from chaoskit._errors import ChaoskitError
from chaoskit._load_model import LoadSpec
from chaoskit._loader import LoadedExperiment
from chaoskit._model import FaultSpec, LabRequirement, ProbeSpec
from chaoskit._plugin_api import Describable, FaultContext, Footprint, Provisioning
from chaoskit._probing import MIN_TIMEOUT
from chaoskit._units import Threshold, parse_duration, parse_percentage, parse_rate

__all__ = [
    "DRY_RUN_ID",
    "FaultPlan",
    "LoadPlan",
    "Plan",
    "ProbePlan",
    "SetupPlan",
    "build_plan",
    "render_plan",
    "show_duration",
]

DRY_RUN_ID = "RUN"
"""The run id the injectors are told about: a real run's id is made when it starts."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetPlan(_Model):
    name: str
    kind: str
    settings: dict[str, str]
    """Every field but kind and description, as validated, units spelt out."""
    description: str = ""


class ProbePlan(_Model):
    name: str
    kind: str
    scope: str
    every: float
    timeout: float
    reads: dict[str, str]
    """The probe kind's parameters that differ from its defaults."""
    expect: dict[str, str]


class Window(_Model):
    at: float
    """Seconds from the start of each iteration's fault phase."""
    until: float
    duration: float


class FaultPlan(_Model):
    name: str
    injector: str
    target: str
    target_kind: str
    window: Window
    params: dict[str, str]
    """Every parameter, defaults included, units spelt out."""
    changes: list[str]
    creates: list[str] | None
    """What it creates and when that is removed; None: the injector does not say."""
    description: str = ""


class SetupPlan(_Model):
    """What the run creates for a target before the baseline, and removes after
    every revert."""

    target: str
    injector: str
    creates: list[str]


class TaskPlan(_Model):
    kind: str
    weight: int
    params: dict[str, str]


class LookupPlan(_Model):
    kind: str
    params: dict[str, str]
    timeout: float
    batch: int


class LoadPlan(_Model):
    name: str
    loop: str
    """``open`` (requests at intended times) or ``closed`` (users)."""
    profile: list[str]
    timeout: float
    max_in_flight: int | None
    max_requests: int
    tasks: list[TaskPlan]
    writes: LookupPlan | None


class LabPlan(_Model):
    runtime: str
    knobs: dict[str, str]
    keep: bool


class SafeguardPlan(_Model):
    probe: str
    failing_for: float
    """How long the probe may fail before the run is aborted."""


class Phases(_Model):
    baseline: float
    fault_phase: float
    """How long one iteration's fault phase lasts: until its last fault is reverted."""
    repeat: int
    stable_for: float
    recovery_timeout: float
    longest_run: float


class Plan(_Model):
    title: str
    source: str
    runs_dir: str
    lab: LabPlan | None
    targets: list[TargetPlan]
    phases: Phases
    probes: list[ProbePlan]
    load: list[LoadPlan]
    setups: list[SetupPlan]
    faults: list[FaultPlan]
    recovery_probes: list[ProbePlan]
    safeguards: list[SafeguardPlan]
    expect: dict[str, str]


# -- building -----------------------------------------------------------------


def build_plan(loaded: LoadedExperiment, runs_dir: str = ".chaoskit/runs") -> Plan:
    """The plan of ``loaded``, from its validated models and its injectors' own words."""
    e = loaded.experiment
    steady = e.steady_state
    span = max((f.at + f.duration for f in e.faults), default=0.0)
    return Plan(
        title=e.title,
        source=loaded.source,
        runs_dir=runs_dir,
        lab=_lab(e.lab),
        targets=[
            TargetPlan(
                name=name,
                kind=target.kind,
                settings=shown_fields(target, skip=("kind", "description"), skip_empty=True),
                description=target.description,
            )
            for name, target in e.targets.items()
        ],
        phases=Phases(
            baseline=steady.baseline_window,
            fault_phase=span,
            repeat=e.repeat if e.faults else 0,
            stable_for=steady.stable_for,
            recovery_timeout=e.recovery.timeout,
            longest_run=steady.baseline_window
            + (e.repeat if e.faults else 0) * (span + e.recovery.timeout),
        ),
        probes=[_probe(p, steady.every) for p in steady.probes],
        load=[_load(stream) for stream in e.load],
        setups=_setups(loaded),
        faults=[_fault(loaded, f) for f in sorted(e.faults, key=lambda f: f.at)],
        recovery_probes=[_probe(p, steady.every) for p in e.recovery.probes],
        safeguards=[
            SafeguardPlan(probe=g.probe, failing_for=g.abort_if_failing_for) for g in e.safeguards
        ],
        expect=shown_fields(e.expect, only_set=True),
    )


def _lab(lab: LabRequirement | None) -> LabPlan | None:
    if lab is None:
        return None
    return LabPlan(
        runtime=lab.runtime, knobs={k: str(v) for k, v in lab.knobs.items()}, keep=lab.keep
    )


def _probe(spec: ProbeSpec, default_every: float) -> ProbePlan:
    every = spec.every if spec.every is not None else default_every
    return ProbePlan(
        name=spec.name,
        kind=spec.probe_kind,
        scope=spec.scope,
        every=every,
        timeout=spec.timeout if spec.timeout is not None else max(every, MIN_TIMEOUT),
        reads=shown_fields(spec.kind_params, only_set=True),
        expect=shown_fields(spec.expect, only_set=True),
    )


def _load(spec: LoadSpec) -> LoadPlan:
    writes = spec.writes
    return LoadPlan(
        name=spec.name,
        loop="closed" if spec.users is not None else "open",
        profile=_profile(spec),
        timeout=spec.timeout,
        max_in_flight=None if spec.users is not None else spec.max_in_flight,
        max_requests=spec.max_requests,
        tasks=[
            TaskPlan(
                kind=task.load_kind,
                weight=task.weight,
                params=shown_fields(task.kind_params, only_set=True),
            )
            for task in spec.tasks
        ],
        writes=None
        if writes is None
        else LookupPlan(
            kind=writes.lookup.lookup_kind,
            params=shown_fields(writes.lookup.kind_params, only_set=True),
            timeout=writes.lookup.timeout,
            batch=writes.lookup.batch,
        ),
    )


def _profile(spec: LoadSpec) -> list[str]:
    if spec.users is not None:
        return [f"{spec.users} users", f"think {show_duration(spec.think)} after each answer"]
    profile = []
    if spec.rate is not None:
        profile.append(f"{_rate(spec.rate)} from the start")
    if spec.stages:
        steps = ", then ".join(
            f"{_rate(stage.rate)} for {show_duration(stage.for_)}" for stage in spec.stages
        )
        profile.append(f"stages: {steps}, then the last rate on")
    if spec.ramp is not None:
        profile.append(
            f"ramp to {_rate(spec.ramp.to)} over {show_duration(spec.ramp.over)} from the start"
        )
    profile += [
        f"spike x{spike.factor:g} at +{show_duration(spike.at)} for {show_duration(spike.for_)}"
        for spike in spec.spikes
    ]
    return profile


def _context(loaded: LoadedExperiment, fault: FaultSpec, name: str | None = None) -> FaultContext:
    return FaultContext(
        run_id=DRY_RUN_ID,
        fault_name=name or fault.name,
        target_name=fault.target,
        target=loaded.experiment.targets[fault.target],
        params=fault.params,
        log=structlog.get_logger(),
        duration=fault.duration,
    )


def _fault(loaded: LoadedExperiment, fault: FaultSpec) -> FaultPlan:
    injector = loaded.registry.injector(fault.injector)
    footprint = _footprint(injector, _context(loaded, fault))
    params = shown_fields(fault.params)
    if footprint is not None:
        params.update(footprint.params)
    else:
        footprint = Footprint(changes=(_first_paragraph(type(injector)),))
    return FaultPlan(
        name=fault.name,
        injector=fault.injector,
        target=fault.target,
        target_kind=loaded.experiment.targets[fault.target].kind,
        window=Window(at=fault.at, until=fault.at + fault.duration, duration=fault.duration),
        params=params,
        changes=[line for line in footprint.changes if line],
        creates=list(footprint.creates) if isinstance(injector, Describable) else None,
        description=fault.description,
    )


def _setups(loaded: LoadedExperiment) -> list[SetupPlan]:
    """Once per target, the setup step the runner would apply (see FaultManager)."""
    setups: list[SetupPlan] = []
    seen: set[str] = set()
    for fault in loaded.experiment.faults:
        injector = loaded.registry.injector(fault.injector)
        if fault.target in seen or not isinstance(injector, Provisioning):
            continue
        ctx = _context(loaded, fault, f"setup:{fault.target}")
        step = injector.setup(ctx)
        if step is None:
            continue
        seen.add(fault.target)
        footprint = _footprint(step, ctx)
        creates = list(footprint.creates) if footprint is not None else []
        setups.append(
            SetupPlan(
                target=fault.target,
                injector=fault.injector,
                creates=creates or [_first_paragraph(type(step))],
            )
        )
    return setups


def _footprint(injector: object, ctx: FaultContext) -> Footprint | None:
    if not isinstance(injector, Describable):
        return None
    try:
        return injector.footprint(ctx)
    except ChaoskitError as exc:  # shown in the plan, not hidden
        return Footprint(changes=(f"(the injector cannot say: {exc})",))


def _first_paragraph(cls: type) -> str:
    text = (inspect.getdoc(cls) or "").split("\n\n", 1)[0]
    return " ".join(text.replace("``", "").split())


# -- values, with their units --------------------------------------------------


def shown_fields(
    model: BaseModel,
    *,
    skip: Iterable[str] = (),
    only_set: bool = False,
    skip_empty: bool = False,
) -> dict[str, str]:
    """The fields of ``model`` as text, by the name written in experiments
    (the alias), durations, rates and percentages in their units. With
    ``only_set``: only fields that differ from their defaults; with
    ``skip_empty``: none that are null, false or empty."""
    shown: dict[str, str] = {}
    skipped = set(skip)
    for name, info in type(model).model_fields.items():
        if name in skipped:
            continue
        value = getattr(model, name)
        if only_set and not info.is_required() and _is_default(value, info):
            continue
        if skip_empty and (value is None or value is False or value in ("", [], {}, ())):
            continue
        shown[info.alias or name] = _show(value, _unit_of(info))
    return shown


def _is_default(value: Any, info: FieldInfo) -> bool:
    try:
        return bool(value == info.get_default(call_default_factory=True))
    except Exception:  # noqa: BLE001 - a factory that needs arguments: not a plain default
        return False


def show_duration(seconds: float) -> str:
    """Seconds as written in experiments: ``0s``, ``250ms``, ``1.5s``, ``2m``, ``1h30m``."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000, 3):g}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    hours, rest = divmod(round(seconds, 3), 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{int(hours)}h" if hours else ""
    text += f"{int(minutes)}m" if minutes else ""
    return text + (f"{secs:g}s" if secs else "")


def _rate(per_second: float) -> str:
    return f"{round(per_second, 3):g}/s" if per_second >= 1 else f"{round(per_second * 60, 3):g}/m"


def _percent(fraction: float) -> str:
    return f"{round(fraction * 100, 4):g}%"


_UNITS: dict[Callable[[object], float], Callable[[float], str]] = {
    parse_duration: show_duration,
    parse_rate: _rate,
    parse_percentage: _percent,
}


def _unit_of(info: FieldInfo) -> Callable[[float], str] | None:
    """How to show a field's number, from the validators of its type
    (``Duration``, ``Rate``, ``Percentage``; also inside ``X | None`` and lists)."""
    metadata = list(info.metadata)
    pending: list[Any] = [info.annotation]
    for _ in range(100):  # bounded: type trees are small
        if not pending:
            break
        annotation = pending.pop()
        if get_origin(annotation) is Annotated:
            metadata += annotation.__metadata__
        pending += [arg for arg in get_args(annotation) if not isinstance(arg, str | int)]
    for item in metadata:
        shown = _UNITS.get(getattr(item, "func", None))  # type: ignore[arg-type]
        if shown is not None:
            return shown
    return None


def _show(value: Any, unit: Callable[[float], str] | None = None) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if unit is not None and isinstance(value, int | float):
        return unit(value)
    if isinstance(value, Threshold):
        return str(value)
    if isinstance(value, BaseModel):
        inner = shown_fields(value, only_set=True)
        return "{" + ", ".join(f"{k} {v}" for k, v in inner.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(item, unit) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v, unit)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and (not value or value != value.strip()):
        return repr(value)
    return str(value)


# -- text -----------------------------------------------------------------------

_WIDTH = 100


def render_plan(plan: Plan) -> str:
    """The plan for people: what the run would do, phase by phase."""
    d = show_duration
    p = plan.phases
    lines = [f"plan · {plan.title}  (dry run: nothing is touched)", f"  file        {plan.source}"]
    if plan.lab is not None:
        lab = plan.lab
        knobs = ", ".join(f"{k}={v}" for k, v in lab.knobs.items()) or "defaults"
        after = (
            "left running (keep)" if lab.keep else "taken down afterwards if this run started it"
        )
        lines += _wrapped(
            "  lab         ",
            f"{lab.runtime} runtime, knobs {knobs}; brought up when it is not running, {after}",
        )
    lines.append("  targets")
    for target in plan.targets:
        settings = ", ".join(f"{k} {v}" for k, v in target.settings.items())
        lines += _wrapped(f"    {target.name}  ", f"{target.kind}: {settings}", indent=6)
    if not plan.targets:
        lines.append("    (none)")
    lines.append("  phases")
    lines.append(f"    baseline    {d(p.baseline)} of steady-state samples before any fault")
    if p.repeat:
        iterations = "1 iteration" if p.repeat == 1 else f"{p.repeat} iterations"
        lines.append(
            f"    faults      {d(p.fault_phase)} per iteration (until its last revert), "
            f"{iterations}"
        )
        if p.repeat > 1:
            starts = ", ".join(
                f"+{d(p.baseline + i * (p.fault_phase + p.recovery_timeout))}"
                for i in range(min(p.repeat, 5))
            )
            more = ", ..." if p.repeat > 5 else ""
            lines += _wrapped(
                " " * 16,
                "each iteration starts once the previous one has recovered; at the latest "
                f"{starts}{more} from the start",
                indent=16,
            )
        lines.append(
            f"    recovery    steady for {d(p.stable_for)} counts as recovered; give up after "
            f"{d(p.recovery_timeout)}"
        )
    else:
        lines.append("    faults      none")
    if any(stream.writes for stream in plan.load):
        lines.append("    audit       after the last recovery, every write is looked up")
    lines.append(f"    longest     about {d(p.longest_run)} in all")
    lines.append("  probes      steady state, sampled from the baseline to the end of recovery")
    lines += _probe_lines(plan.probes)
    if plan.load:
        lines.append("  load        driven from the baseline until the audit")
        for stream in plan.load:
            lines += _load_lines(stream)
    if plan.setups:
        lines.append("  set up      before the baseline, removed after every fault is reverted")
        for setup in plan.setups:
            for item in setup.creates:
                lines += _wrapped(f"    {setup.target}  ", f"creates {item}", indent=6)
    if plan.faults:
        lines.append("  faults      windows from the start of each iteration's fault phase")
        for fault in plan.faults:
            lines += _fault_lines(fault)
    if plan.recovery_probes:
        lines.append("  recovery probes  once, after recovery; each must pass")
        lines += _probe_lines(plan.recovery_probes)
    for guard in plan.safeguards:
        when = f"has failed for {d(guard.failing_for)}" if guard.failing_for else "fails"
        lines.append(f"  safeguard   abort (and revert everything) when {guard.probe} {when}")
    if plan.expect:
        shown = ", ".join(f"{k} {v}" for k, v in plan.expect.items())
        lines += _wrapped("  expect      ", shown)
    lines += _wrapped(
        "  records     ",
        f"a new run directory under {plan.runs_dir} (journal.jsonl, results.json), kept",
    )
    return "\n".join(lines)


def _probe_lines(probes: list[ProbePlan]) -> list[str]:
    d = show_duration
    lines = []
    for probe in probes:
        lines.append(
            f"    {probe.name}  {probe.kind}, scope {probe.scope}, every {d(probe.every)}, "
            f"timeout {d(probe.timeout)}"
        )
        if probe.reads:
            lines += _wrapped("      reads    ", _pairs(probe.reads), indent=15)
        if probe.expect:
            lines += _wrapped("      expect   ", _pairs(probe.expect), indent=15)
    return lines


def _load_lines(stream: LoadPlan) -> list[str]:
    d = show_duration
    limits = f"timeout {d(stream.timeout)} per request"
    if stream.max_in_flight is not None:
        limits += f", at most {stream.max_in_flight} in flight"
    lines = _wrapped(
        f"    {stream.name}  ",
        f"{stream.loop} loop: " + "; ".join(stream.profile) + f"; {limits}",
        indent=6,
    )
    for task in stream.tasks:
        weight = f" (weight {task.weight})" if len(stream.tasks) > 1 else ""
        lines += _wrapped(f"      {task.kind}{weight}  ", _pairs(task.params), indent=15)
    if stream.writes is not None:
        lookup = stream.writes
        lines += _wrapped(
            "      writes   ",
            f"every request is an audited write; looked up after recovery with {lookup.kind} "
            f"{_pairs(lookup.params)} (batches of {lookup.batch}, timeout {d(lookup.timeout)})",
            indent=15,
        )
    return lines


def _fault_lines(fault: FaultPlan) -> list[str]:
    d = show_duration
    w = fault.window
    lines = [
        f"    {fault.name}  {fault.injector} on {fault.target} ({fault.target_kind})",
        f"      window   +{d(w.at)} → +{d(w.until)} ({d(w.duration)})",
    ]
    if fault.params:
        lines += _wrapped("      with     ", _pairs(fault.params), indent=15)
    for change in fault.changes:
        lines += _wrapped("      does     ", change, indent=15)
    if fault.creates is None:
        lines.append("      creates  (the injector does not say)")
    elif not fault.creates:
        lines.append("      creates  nothing")
    for item in fault.creates or []:
        lines += _wrapped("      creates  ", item, indent=15)
    return lines


def _pairs(values: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items()) or "(defaults)"


def _wrapped(head: str, text: str, *, indent: int = 14) -> list[str]:
    """``head`` then ``text``, wrapped at the page width; continuation lines
    indented by ``indent``."""
    wrapped = textwrap.wrap(
        head + text,
        width=_WIDTH,
        subsequent_indent=" " * indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return wrapped or [head.rstrip()]
