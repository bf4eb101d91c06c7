"""MTTR, TTD, time to heal and containment on hand-made timelines whose
answers are known (DESIGN.md §5)."""

from __future__ import annotations

import pytest

from chaoskit._measure import measure_iteration, stats
from chaoskit._results import FaultRecord
from chaoskit._timeline import Sample, recovered_at, steady_series


def samples(probe: str, scope: str, oks: str, every: float = 1.0) -> list[Sample]:
    """``oks`` like "++--+": one sample per interval from t=0, + ok, - not."""
    return [
        Sample(probe=probe, scope=scope, t=i * every, latency=0.01, ok=c == "+")
        for i, c in enumerate(oks)
    ]


def fault(t_inject: float | None, t_revert: float | None) -> FaultRecord:
    return FaultRecord(
        name="f",
        injector="x",
        target="t",
        iteration=1,
        at=0,
        duration=1,
        t_inject=t_inject,
        t_revert=t_revert,
    )


def measure(
    all_samples: list[Sample],
    outside: list[str],
    end: float,
    stable_for: float = 2.0,
    t_inject: float | None = 2.5,
    t_revert: float | None = 6.5,
):  # type: ignore[no-untyped-def]
    names = sorted({s.probe for s in all_samples})
    target = [n for n in names if n not in outside]
    return measure_iteration(
        1, all_samples, names, outside, target, [fault(t_inject, t_revert)], stable_for, end
    )


def test_mttr_ttd_and_heal() -> None:
    #           t: 0123456789...
    timeline = samples("api", "target", "+++---+--++++++")
    m = measure(timeline, [], end=14.0)
    assert m.t_impact == 3.0  # first violation after inject at 2.5
    assert m.t_recovered == 9.0  # 6 is ok but 7 fails: the stretch from 9 lasts
    assert m.mttr == pytest.approx(6.0)
    assert m.ttd == pytest.approx(0.5)
    assert m.time_to_heal == pytest.approx(2.5)
    assert m.recovered
    assert not m.tolerated
    assert m.contained


def test_tolerated_fault_has_mttr_zero() -> None:
    m = measure(samples("api", "target", "++++++++++"), [], end=9.0)
    assert m.tolerated
    assert m.recovered
    assert m.mttr == 0.0
    assert m.t_impact is None
    assert m.ttd is None


def test_not_recovered_within_the_window() -> None:
    m = measure(samples("api", "target", "+++------+"), [], end=9.0)
    assert m.t_impact == 3.0
    assert m.t_recovered is None
    assert not m.recovered
    assert m.mttr is None


def test_steady_state_needs_every_probe() -> None:
    timeline = samples("a", "target", "++++") + samples("b", "target", "+-++")
    series = steady_series(timeline, ["a", "b"])
    assert [ok for _, ok in series] == [True, True, False, False, True, True, True]
    assert recovered_at(series, 1.0, None, 1.0, evidence_until=3.0) == 2.0
    assert recovered_at(series, 1.0, None, 1.5, evidence_until=3.0) is None


def test_a_stretch_that_broke_again_is_not_recovery() -> None:
    # steady for a while mid-fault (t 4-6), broken again at 7, healed from 8
    m = measure(samples("api", "target", "+++-+++-+++++++"), [], end=14.0)
    assert m.t_impact == 3.0
    assert m.t_recovered == 8.0
    assert m.mttr == pytest.approx(5.0)


def test_self_healed_before_the_revert_counts_from_the_heal() -> None:
    # healed at 5 while the fault was in force (revert at 6.5) and stayed healed
    m = measure(samples("api", "target", "+++--++++++++"), [], end=12.0)
    assert m.t_recovered == 5.0
    assert m.time_to_heal == pytest.approx(-1.5)


def test_breach_of_an_outside_probe_and_its_propagation_delay() -> None:
    timeline = samples("api", "target", "+++---++++++") + samples(
        "neighbour", "outside", "+++++--+++++"
    )
    m = measure(timeline, ["neighbour"], end=11.0)
    assert not m.contained
    [breach] = m.blast_radius
    assert breach.probe == "neighbour"
    assert breach.t_first_failure == 5.0
    assert breach.propagation_delay == pytest.approx(2.0)
    assert breach.measured_from == "first-target-violation"


def test_outside_failure_before_the_inject_is_not_a_breach() -> None:
    timeline = samples("api", "target", "++++++++") + samples("n", "outside", "-+++++++")
    assert measure(timeline, ["n"], end=7.0).contained


def test_stats_nearest_rank() -> None:
    result = stats([4.0, 1.0, 3.0, 2.0])
    assert result is not None
    assert (result.n, result.mean, result.p50, result.p95, result.max) == (4, 2.5, 2.0, 4.0, 4.0)
    assert stats([]) is None
