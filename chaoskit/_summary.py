"""The one-screen terminal summary of a run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chaoskit._phases import FAULT_WINDOW, SEGMENTS
from chaoskit._results import Measurements, ProbeSummary, RunResult, RunStatus, Stats
from chaoskit._units import format_duration

__all__ = ["render_summary"]

_MARK = {True: "ok", False: "FAIL", None: "-"}


def _d(value: float | None) -> str:
    return "-" if value is None else format_duration(value)


def _stats(stats: Stats | None) -> str:
    if stats is None:
        return "-"
    text = (
        f"{_d(stats.max)}"
        if stats.n == 1
        else (
            f"mean {_d(stats.mean)}  p50 {_d(stats.p50)}  p95 {_d(stats.p95)}  max {_d(stats.max)}"
            f"  (n={stats.n})"
        )
    )
    return text + _resolution(stats)


def _resolution(stats: Stats) -> str:
    if stats.resolution is None:
        return ""
    worst = "≤" if stats.n > 1 else ""
    return f"  (resolution {worst}{_d(stats.resolution)})"


def _heal(stats: Stats | None) -> str:
    """Time to heal in words: a negative one is a system that healed itself
    before the revert (a restart, a failover), not a figure to subtract."""
    if stats is None:
        return "-"
    if stats.n == 1:
        when = (
            f"{_d(stats.max)} after the revert"
            if stats.max >= 0
            else f"healed {_d(-stats.max)} before the revert"
        )
        return when + _resolution(stats)
    text = _stats(stats)
    if stats.min < 0:
        text += "  — negative: healed before the revert"
    return text


def _mttr(result: RunResult) -> list[str]:
    m = result.measurements
    if m is None:
        return []
    tolerated = all(it.tolerated for it in m.iterations)
    mttr = "0 (tolerated: no steady-state violation)" if tolerated else _stats(m.mttr)
    lines = [
        f"  MTTR        {mttr}",
        f"  TTD         {_stats(m.ttd)}",
        f"  heal        {_heal(m.time_to_heal)}",
        "  containment " + ("contained" if m.contained else "BREACHED: " + _breaches(m)),
    ]
    not_recovered = [it.iteration for it in m.iterations if not it.recovered]
    if not_recovered and result.status is RunStatus.ABORTED:
        lines.append(f"  recovery    not reached in iteration(s) {not_recovered}: aborted")
    elif not_recovered:
        lines.append(f"  NOT RECOVERED in iteration(s) {not_recovered}")
    return lines


def _breaches(m: Measurements) -> str:
    parts = []
    for probe in m.blast_radius:
        breach = next(b for it in m.iterations for b in it.blast_radius if b.probe == probe)
        origin = "the target" if breach.measured_from == "first-target-violation" else "the inject"
        delay, width = breach.propagation_delay, _d(breach.resolution)
        if abs(delay) <= breach.resolution:
            when = f"with {origin}, within the resolution {width}"
        elif delay > 0:
            when = f"{_d(delay)} after {origin} (resolution {width})"
        else:
            when = f"{_d(-delay)} before {origin}: it broke first (resolution {width})"
        parts.append(f"{probe} ({when})")
    return ", ".join(parts)


def _abort_lines(result: RunResult) -> list[str]:
    if result.status is not RunStatus.ABORTED:
        return []
    during = result.aborted_in or "start"
    injected = [f for f in result.faults if f.t_inject is not None or f.revert_attempts]
    reverted = [f for f in injected if f.reverted]
    undo = (
        f"{len(reverted)} of {len(injected)} injected faults reverted"
        if injected
        else "no fault had been injected"
    )
    return [f"  aborted     during {during}: {result.reason}; {undo}"]


def render_summary(result: RunResult, run_dir: Path, reports: Sequence[str] = ()) -> str:
    lines = [
        f"chaoskit · {result.title}",
        f"  verdict     {result.status.value.upper()}  (exit {result.exit_code})"
        + (f" — {result.reason}" if result.reason else ""),
        f"  duration    {_d(result.duration)}   baseline steady: {_MARK[result.baseline_steady]}"
        f"   hypothesis held: {_MARK[result.hypothesis_held]}",
    ]
    lines += _abort_lines(result)
    lines += _mttr(result)
    if result.faults:
        lines.append("  faults")
        for f in result.faults:
            state = "reverted" if f.reverted else ("LEFT APPLIED" if f.t_inject else "not applied")
            extra = f"  error: {f.inject_error}" if f.inject_error else ""
            lines.append(
                f"    {f.name:<20} {f.injector:<22} on {f.target:<12} "
                f"in {_d(f.t_inject)} out {_d(f.t_revert)}  {state}{extra}"
            )
    if result.probes:
        lines.append("  probes")
        for p in result.probes:
            detail = f"  last failure: {p.last_detail}" if p.last_detail else ""
            lines.append(
                f"    {p.name:<20} {p.scope:<8} {p.samples:>5} samples {p.failures:>4} failed"
                f"{detail}"
            )
            lines += _value_lines(p)
    for stream in result.load:
        lines.append(f"  load        {stream.name} ({stream.mode} loop): {stream.sent} sent")
        for phase in SEGMENTS:
            data = stream.phases.get(phase)
            if data is None:
                continue
            p99 = _d(data.latency.p99) if data.latency else "-"
            label = _SEGMENT_LABEL.get(phase, phase)
            lines.append(
                f"    {label:<12} {data.throughput:>8.1f}/s  errors {data.error_rate:>6.1%}"
                f"  p99 {p99}"
            )
    for loss in result.data_loss:
        verdict = "none lost" if loss.lost == 0 else f"LOST {loss.lost}"
        lines.append(
            f"  data loss   {loss.stream}: {verdict} of {loss.acknowledged} acknowledged "
            f"({loss.data_loss_rate:.4%}); indeterminate {loss.indeterminate} "
            f"({loss.indeterminate_present} present), phantom {loss.phantom}, "
            f"unverified {loss.unverified}"
        )
    for r in result.recovery_probes:
        lines.append(f"  recovery    {r.name}: {_MARK[r.ok]} {r.detail}".rstrip())
    for e in result.expectations:
        verdict = "not judged: the run was aborted" if e.met is None else _MARK[e.met]
        lines.append(f"  expect      {e.name} {e.expected}: measured {e.measured} → {verdict}")
    if result.left_applied:
        lines.append("  !! DIRTY: these faults are still applied; undo them by hand or run")
        lines.append(f"  !!   chaoskit rollback {run_dir}")
        lines += [f"  !!   - {item}" for item in result.left_applied]
    files = ", ".join(["results.json", "journal.jsonl", *reports])
    lines.append(f"  run dir     {run_dir}  ({files})")
    return "\n".join(lines)


_SEGMENT_LABEL = {FAULT_WINDOW: "during fault"}
_READINGS_SHOWN = 3


def _value_lines(probe: ProbeSummary) -> list[str]:
    """Numeric readings per phase, mean (max), for the first few names."""
    names = sorted({name for stats in probe.values.values() for name in stats})
    lines = []
    for name in names[:_READINGS_SHOWN]:
        parts = [
            f"{phase} {stats.mean:.4g} (max {stats.max:.4g})"
            for phase in SEGMENTS
            if (stats := probe.values.get(phase, {}).get(name)) is not None
        ]
        unit = f" ({probe.unit})" if probe.unit else ""
        lines.append(f"      {name}{unit}: " + " · ".join(parts))
    if len(names) > _READINGS_SHOWN:
        lines.append(f"      … and {len(names) - _READINGS_SHOWN} more in results.json")
    return lines
