"""Several runs of one experiment side by side (``chaoskit report RUN_DIR
RUN_DIR …``): a row per run with the figures a team watches from night to
night — the verdict, MTTR, TTD, time to heal, containment, data lost, and the
worst stream's error rate and p99 during the fault."""

from __future__ import annotations

from dataclasses import dataclass

from chaoskit._phases import FAULT_WINDOW
from chaoskit.report._collect import ReportData
from chaoskit.report._markdown import render

__all__ = ["RunRow", "comparison_markdown"]


@dataclass(frozen=True)
class RunRow:
    data: ReportData
    mttr: float | None
    ttd: float | None
    heal: float | None
    contained: bool | None
    lost: int | None
    error_rate: float | None
    p99: float | None


def comparison_markdown(runs: list[ReportData]) -> str:
    """Oldest first; the titles are listed when the runs are of different experiments."""
    ordered = sorted(runs, key=lambda data: data.result.started_at)
    titles = sorted({data.result.title for data in ordered})
    return render("compare.md.j2", rows=[_row(data) for data in ordered], titles=titles)


def _row(data: ReportData) -> RunRow:
    result = data.result
    m = result.measurements
    fault = [s.phases[FAULT_WINDOW] for s in result.load if FAULT_WINDOW in s.phases]
    p99s = [phase.latency.p99 for phase in fault if phase.latency is not None]
    return RunRow(
        data=data,
        mttr=m.mttr.max if m and m.mttr else None,
        ttd=m.ttd.max if m and m.ttd else None,
        heal=m.time_to_heal.max if m and m.time_to_heal else None,
        contained=m.contained if m else None,
        lost=sum(loss.lost for loss in result.data_loss) if result.data_loss else None,
        error_rate=max((phase.error_rate for phase in fault), default=None),
        p99=max(p99s, default=None),
    )
