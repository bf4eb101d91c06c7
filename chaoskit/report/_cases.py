"""A run as test cases: what CI systems and test dashboards show (JUnit), and
what the Markdown report's verdict column says. One case per steady-state
probe, expectation and recovery probe, and two for the run itself: its
verdict, and whether every fault was reverted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chaoskit._results import RunStatus
from chaoskit.report._collect import ReportData

__all__ = ["GROUPS", "Case", "cases"]

Outcome = Literal["passed", "failed", "error", "skipped"]
Group = Literal["steady-state", "expectations", "recovery-probes", "run"]
GROUPS: tuple[Group, ...] = ("steady-state", "expectations", "recovery-probes", "run")


@dataclass(frozen=True)
class Case:
    group: Group
    name: str
    outcome: Outcome
    message: str
    """Why it failed, erred or was skipped; what was seen when it passed."""
    seconds: float = 0.0


def cases(data: ReportData) -> list[Case]:
    return [
        *_probe_cases(data),
        *_expectation_cases(data),
        *_recovery_cases(data),
        *_run_cases(data),
    ]


def _probe_cases(data: ReportData) -> list[Case]:
    result = data.result
    out = []
    for probe in result.probes:
        at_baseline = data.baseline.get(probe.name)
        if at_baseline is not None and at_baseline.failures:
            why = (
                f"failed {at_baseline.failures} of {at_baseline.samples} samples at baseline: "
                f"{at_baseline.last_detail}"
            )
            out.append(Case("steady-state", probe.name, "failed", why))
        elif result.baseline_steady is not True:
            why = (
                "not tested: the baseline was not steady"
                if result.baseline_steady is False
                else "not tested: the run ended before its baseline was judged"
            )
            out.append(Case("steady-state", probe.name, "skipped", why))
        elif result.measurements is None:
            out.append(Case("steady-state", probe.name, "skipped", "not tested: no fault ran"))
        elif probe.scope == "outside":
            out.append(_outside_case(data, probe.name))
        else:
            out.append(_target_case(data, probe.name))
    return out


def _outside_case(data: ReportData, name: str) -> Case:
    assert data.result.measurements is not None
    breaches = [
        f"breached in iteration {it.iteration}: first failure at t={b.t_first_failure:.2f}s, "
        f"{b.propagation_delay:+.2f}s from the {b.measured_from.replace('-', ' ')} "
        f"(±{b.resolution:.2f}s)"
        for it in data.result.measurements.iterations
        for b in it.blast_radius
        if b.probe == name
    ]
    if breaches:
        return Case("steady-state", name, "failed", "; ".join(breaches))
    return Case("steady-state", name, "passed", "not hurt: the damage stayed contained")


def _target_case(data: ReportData, name: str) -> Case:
    assert data.result.measurements is not None
    stuck, hurt = [], 0
    for it in data.result.measurements.iterations:
        tally = data.iterations.get((name, it.iteration))
        if tally is None or not tally.failures:
            continue
        hurt += 1
        if not it.recovered and tally.last_ok is False:
            stuck.append(
                f"not recovered in iteration {it.iteration}: still failing at its end "
                f"({tally.last_detail})"
            )
    if stuck:
        return Case("steady-state", name, "failed", "; ".join(stuck))
    if hurt:
        count = len(data.result.measurements.iterations)
        return Case("steady-state", name, "passed", f"hurt in {hurt} of {count}; recovered")
    return Case("steady-state", name, "passed", "tolerated: never failed")


def _expectation_cases(data: ReportData) -> list[Case]:
    out = []
    for expectation in data.result.expectations:
        measured = "-" if expectation.measured is None else expectation.measured
        seen = f"measured {measured}, expected {expectation.expected}"
        if expectation.met is None:
            out.append(Case("expectations", expectation.name, "skipped", f"not judged: {seen}"))
        else:
            outcome: Outcome = "passed" if expectation.met else "failed"
            out.append(Case("expectations", expectation.name, outcome, seen))
    return out


def _recovery_cases(data: ReportData) -> list[Case]:
    return [
        Case("recovery-probes", probe.name, "passed" if probe.ok else "failed", probe.detail)
        for probe in data.result.recovery_probes
    ]


def _run_cases(data: ReportData) -> list[Case]:
    result = data.result
    verdict: Outcome
    if result.status is RunStatus.PASSED:
        verdict = "passed"
    elif result.status in (RunStatus.FAILED, RunStatus.UNSTEADY_BASELINE):
        verdict = "failed"
    else:
        verdict = "error"
    shown = f"{result.status.upper()} (exit {result.exit_code})"
    message = f"{shown}: {result.reason}" if result.reason else shown
    if result.left_applied:
        reverted = Case("run", "revert", "error", "left applied: " + "; ".join(result.left_applied))
    else:
        reverted = Case("run", "revert", "passed", "every fault reverted")
    return [Case("run", "verdict", verdict, message, result.duration), reverted]
