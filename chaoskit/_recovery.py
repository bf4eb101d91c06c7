"""The live recovery wait's question — has the steady state recovered? —
answered with constant work per sample (ADR 0018).

The answer is the same as ``recovered_at(steady_series(samples), …)`` over every
sample so far (``tests/unit/test_recovery_watch.py`` checks that on random
runs), without sorting them again at each look. Samples arrive when they
complete, but count at ``known_at`` (a failure from its start), so they do not
arrive in the order they count. What is before the probes' *horizon* (each
probe's latest completion: every later sample counts after it) can no longer
change: it is folded into a running state. Only the few samples past the
horizon are kept apart and looked at again.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

from chaoskit._timeline import Sample

__all__ = ["RecoveryWatch"]


@dataclass
class _State:
    """The steady-state series folded up to some point, as much of it as the
    recovery question needs."""

    latest_ok: dict[str, bool] = field(default_factory=dict)
    failing: int = 0
    impact: float | None = None
    """The first violation at or after the inject (``first_violation``)."""
    steady: bool | None = None
    """The state at the last point (None: not every probe sampled yet)."""
    changed_at: float | None = None
    """Where the current stretch of that state began (``transitions``)."""

    def copy(self) -> _State:
        latest = dict(self.latest_ok)
        return _State(latest, self.failing, self.impact, self.steady, self.changed_at)

    def fold(self, sample: Sample, wanted: int, t_inject: float | None) -> None:
        previous = self.latest_ok.get(sample.probe)
        self.failing += (not sample.ok) - (previous is False)
        self.latest_ok[sample.probe] = sample.ok
        if len(self.latest_ok) < wanted:
            return
        t = sample.known_at
        steady = self.failing == 0
        if t_inject is not None and self.impact is None and not steady and t >= t_inject:
            self.impact = t
        if steady != self.steady:
            self.steady, self.changed_at = steady, t


def _order(sample: Sample) -> tuple[float, float]:
    return sample.known_at, sample.t


class RecoveryWatch:
    """``add`` each steady-state sample as it completes; ``recovered(horizon)``
    says whether the state has recovered after the impact and held for
    ``stable_for`` past the last revert, as of ``horizon``."""

    def __init__(
        self,
        probes: Sequence[str],
        t_inject: float | None,
        t_revert: float | None,
        stable_for: float,
        samples: Sequence[Sample] = (),
    ) -> None:
        """``samples``: those taken so far, in any order."""
        self._wanted = set(probes)
        self._t_inject = t_inject
        self._t_revert = t_revert
        self._stable_for = stable_for
        self._settled = _State()
        self._pending: list[tuple[float, float, int, Sample]] = []
        self._count = 0
        for sample in sorted(samples, key=_order):
            self.add(sample)

    def add(self, sample: Sample) -> None:
        """A sample that counts before a horizon already looked at (by a few
        microseconds of clock reading, at most) is folded in at its arrival."""
        if sample.probe not in self._wanted:
            return
        self._count += 1  # ties: the order they arrived in, as a stable sort keeps it
        heapq.heappush(self._pending, (sample.known_at, sample.t, self._count, sample))

    def recovered(self, horizon: float) -> bool:
        """``recovered_at(series, t_impact, t_revert, stable_for, horizon)`` is
        not None. Every sample still to come must count at or after ``horizon``."""
        state = self._as_of(horizon)
        if not state.steady or state.changed_at is None:
            return False
        start = state.changed_at
        if state.impact is not None and start <= state.impact:
            return False
        held_from = start if self._t_revert is None else max(start, self._t_revert)
        return horizon - held_from >= self._stable_for

    def impact(self, horizon: float) -> float | None:
        """``first_violation(series, t_inject)``'s time, as of ``horizon``."""
        return self._as_of(horizon).impact

    def _as_of(self, horizon: float) -> _State:
        """Fold what ``horizon`` settles; the state with the rest on top."""
        wanted = len(self._wanted)
        while self._pending and self._pending[0][0] < horizon:
            sample = heapq.heappop(self._pending)[3]
            self._settled.fold(sample, wanted, self._t_inject)
        if not self._pending:
            return self._settled
        state = self._settled.copy()
        for _, _, _, sample in sorted(self._pending):
            state.fold(sample, wanted, self._t_inject)
        return state
