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
    assert m.t_impact == 3.0  # first violation after inject at 2.5: from its start
    # 6 is ok but 7 fails: the stretch from 9 lasts, seen when that sample completed
    assert m.t_recovered == pytest.approx(9.01)
    assert m.mttr == pytest.approx(6.01)
    assert m.ttd == pytest.approx(0.5)
    assert m.time_to_heal == pytest.approx(2.51)
    # the violation began after 2.01 (the last ok completed) and by 3.01: 1s wide;
    # the recovery after 8 (the last failure started) and by 9.01
    assert m.ttd_resolution == pytest.approx(1.0)
    assert m.heal_resolution == pytest.approx(1.01)
    assert m.mttr_resolution == pytest.approx(2.01)
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
    # b fails from the start of its sample at 1.0, before a's answer at 1.01
    assert [p.steady for p in series] == [True, False, False, False, True, True, True]
    point = recovered_at(series, 1.0, None, 1.0, evidence_until=3.02)
    assert point is not None
    assert point.t == pytest.approx(2.01)
    assert recovered_at(series, 1.0, None, 1.5, evidence_until=3.02) is None


def test_a_stretch_that_broke_again_is_not_recovery() -> None:
    # steady for a while mid-fault (t 4-6), broken again at 7, healed from 8
    m = measure(samples("api", "target", "+++-+++-+++++++"), [], end=14.0)
    assert m.t_impact == 3.0
    assert m.t_recovered == pytest.approx(8.01)
    assert m.mttr == pytest.approx(5.01)


def test_self_healed_before_the_revert_counts_from_the_heal() -> None:
    # healed at 5 while the fault was in force (revert at 6.5) and stayed healed
    m = measure(samples("api", "target", "+++--++++++++"), [], end=12.0)
    assert m.t_recovered == pytest.approx(5.01)
    assert m.time_to_heal == pytest.approx(-1.49)


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
    # each onset lies between the last ok's completion and the failure's: 1s each
    assert breach.resolution == pytest.approx(2.0)
    assert breach.measured_from == "first-target-violation"


def test_outside_failure_before_the_inject_is_not_a_breach() -> None:
    timeline = samples("api", "target", "++++++++") + samples("n", "outside", "-+++++++")
    assert measure(timeline, ["n"], end=7.0).contained


def test_stats_nearest_rank() -> None:
    result = stats([4.0, 1.0, 3.0, 2.0])
    assert result is not None
    assert (result.n, result.mean, result.p50, result.p95, result.max) == (4, 2.5, 2.0, 4.0, 4.0)
    assert result.min == 1.0
    assert result.resolution is None
    assert stats([1.0, 2.0], [0.25, None, 0.5]).resolution == 0.5  # type: ignore[union-attr]
    assert stats([]) is None


def test_a_sample_in_flight_across_the_revert_counts_after_it() -> None:
    """An ok sample that started 29ms before the revert and answered after it
    shows the system healthy when it answered, not when it was sent: no heal
    before the revert comes out of a sample in flight."""

    def api(t: float, latency: float, ok: bool) -> Sample:
        return Sample("api", "target", t=t, latency=latency, ok=ok)

    failing = [api(3.0 + 0.25 * i, 0.01, False) for i in range(14)]
    spanning = api(6.5 - 0.029, 0.2, True)
    after = [api(6.75 + 0.25 * i, 0.01, True) for i in range(20)]
    timeline = samples("api", "target", "+++")[:3] + failing + [spanning] + after
    m = measure(timeline, [], end=12.0, stable_for=1.0, t_revert=6.5)
    assert m.t_recovered == pytest.approx(6.671)
    assert m.time_to_heal is not None
    assert m.time_to_heal > 0
    # the recovery happened after the last failure started (6.25) and by 6.671
    assert m.heal_resolution == pytest.approx(6.671 - 6.25)


def test_timeouts_widen_the_resolution() -> None:
    """A 250ms probe whose failing samples time out after 1s: the recovery is
    known only between the start of the last timeout and the next answer."""
    ok_before = [Sample("api", "target", t=0.25 * i, latency=0.005, ok=True) for i in range(10)]
    timeouts = [Sample("api", "target", t=2.5 + 1.0 * i, latency=1.0, ok=False) for i in range(4)]
    ok_after = [
        Sample("api", "target", t=6.5 + 0.25 * i, latency=0.005, ok=True) for i in range(24)
    ]
    m = measure(ok_before + timeouts + ok_after, [], end=12.5, stable_for=2.0, t_inject=2.4)
    assert m.t_impact == 2.5
    assert m.t_recovered == pytest.approx(6.505)
    # not the nominal 250ms: the last timeout started at 5.5
    assert m.heal_resolution == pytest.approx(1.005)
    # the first timeout began after 2.255 and ended 3.5
    assert m.ttd_resolution == pytest.approx(3.5 - 2.255)


def test_a_neighbour_failing_first_within_the_resolution() -> None:
    """The neighbour's sample fell earlier in its interval than the target's:
    a negative delay smaller than the resolution says nothing about the order."""
    target = [
        Sample("api", "target", t=0.5 + i, latency=0.01, ok=i < 3 or i > 5) for i in range(10)
    ]
    outside = [
        Sample("n", "outside", t=0.2 + i, latency=0.01, ok=i < 3 or i > 4) for i in range(10)
    ]
    m = measure(target + outside, ["n"], end=9.5, t_inject=2.45)
    [breach] = m.blast_radius
    assert breach.propagation_delay == pytest.approx(-0.3)
    assert breach.resolution == pytest.approx(2.0)
    assert abs(breach.propagation_delay) < breach.resolution


def test_an_iteration_cut_short_is_not_tolerated() -> None:
    """Aborted before any violation was seen: nothing is known, not "MTTR 0"."""
    timeline = samples("api", "target", "++++")
    names = ["api"]
    m = measure_iteration(1, timeline, names, [], names, [fault(2.5, 2.6)], 2.0, 3.0, False)
    assert not m.tolerated
    assert not m.recovered
    assert m.mttr is None
