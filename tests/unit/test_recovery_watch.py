"""RecoveryWatch gives the answer of the batch functions (sort every sample,
``first_violation``, ``recovered_at``) at every look, on random runs: probes
whose samples fail and time out, arriving in the order they complete."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from chaoskit._recovery import RecoveryWatch
from chaoskit._timeline import Sample, first_violation, recovered_at, steady_series

# tenths of a second: ties between probes, and between a start and an end, are common
_STEP = st.integers(0, 20).map(lambda n: n / 10)
_SAMPLE = st.tuples(_STEP, _STEP, st.booleans())  # gap before it, latency, ok


def batch(
    samples: Sequence[Sample],
    probes: Sequence[str],
    t_inject: float | None,
    t_revert: float | None,
    stable_for: float,
    horizon: float,
) -> tuple[float | None, bool]:
    """(t_impact, recovered) as the runner computed them before RecoveryWatch."""
    series = steady_series(samples, probes)
    impact = first_violation(series, t_inject) if t_inject is not None else None
    t_impact = impact.t if impact is not None else None
    return t_impact, recovered_at(series, t_impact, t_revert, stable_for, horizon) is not None


def arrivals(chains: list[list[tuple[float, float, bool]]]) -> list[Sample]:
    """Each probe's samples one after another; all of them in completion order."""
    samples = []
    for index, chain in enumerate(chains):
        t = 0.0
        for gap, latency, ok in chain:
            samples.append(Sample(f"p{index}", "target", t + gap, latency, ok))
            t += gap + latency
    return sorted(samples, key=lambda s: s.end)


def horizon(arrived: Sequence[Sample], probes: Sequence[str]) -> float:
    last = {s.probe: s.end for s in arrived}
    return min(last[p] for p in probes) if all(p in last for p in probes) else float("-inf")


@settings(max_examples=400, deadline=None)
@given(
    chains=st.lists(st.lists(_SAMPLE, max_size=14), min_size=1, max_size=3),
    extra_probe=st.booleans(),
    t_inject=st.none() | _STEP,
    revert_after=st.none() | _STEP,
    stable_for=_STEP,
    built_at=st.floats(0, 1),
)
def test_the_watch_answers_as_the_batch_functions_do(
    chains: list[list[tuple[float, float, bool]]],
    extra_probe: bool,
    t_inject: float | None,
    revert_after: float | None,
    stable_for: float,
    built_at: float,
) -> None:
    samples = arrivals(chains)
    probes = [f"p{i}" for i in range(len(chains) - extra_probe)] or ["p0"]
    t_revert = None if t_inject is None or revert_after is None else t_inject + revert_after
    first = int(built_at * len(samples))
    watch = RecoveryWatch(probes, t_inject, t_revert, stable_for, samples[:first])
    for count in range(first, len(samples) + 1):
        if count > first:
            watch.add(samples[count - 1])
        arrived = samples[:count]
        look = horizon(arrived, probes)
        expected = batch(arrived, probes, t_inject, t_revert, stable_for, look)
        assert (watch.impact(look), watch.recovered(look)) == expected, (count, look)


def test_a_recovery_that_broke_again_is_not_one() -> None:
    def sample(t: float, ok: bool) -> Sample:
        return Sample("web", "target", t, 0.1, ok)

    watch = RecoveryWatch(["web"], t_inject=1.0, t_revert=2.0, stable_for=0.5)
    for t, ok in [(0.0, True), (1.0, False), (2.0, True), (2.3, True), (2.6, True)]:
        watch.add(sample(t, ok))
    assert watch.recovered(2.7)  # steady since 2.1, 0.6 past the revert
    assert watch.impact(2.7) == 1.0
    watch.add(sample(2.9, ok=False))
    assert not watch.recovered(3.0)
