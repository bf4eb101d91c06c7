"""A load stream's recent answers, for the ``load`` probe: error rate, p99 and
throughput over a sliding window, while the stream runs."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

__all__ = ["RecentAnswers", "WindowFigures", "recent_key"]

MAX_KEPT = 500_000
"""A bound on memory whatever the rate: 500k answers in the longest window."""


def recent_key(stream: str) -> str:
    """Where the run offers a stream's recent answers in ``ProbeContext.resources``."""
    return f"chaoskit.load.recent:{stream}"


@dataclass(frozen=True)
class WindowFigures:
    requests: int
    """Answers (and timeouts) that completed in the window."""
    errors: int
    seconds: float
    """The window actually covered: shorter while the stream is young."""
    p99: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


class RecentAnswers:
    """Each completed request (when, error or not, latency) kept for ``keep``
    seconds; figures over any window up to that."""

    def __init__(self, keep: float, request_timeout: float) -> None:
        self.keep = keep
        self.request_timeout = request_timeout
        """Until a request could have timed out, no answer is no evidence."""
        self.started: float | None = None
        self._answers: deque[tuple[float, bool, float]] = deque(maxlen=MAX_KEPT)

    def start(self, now: float) -> None:
        self.started = now

    def record(self, done: float, error: bool, latency: float) -> None:
        answers = self._answers
        answers.append((done, error, latency))
        horizon = done - self.keep
        while answers and answers[0][0] < horizon:
            answers.popleft()

    def figures(self, window: float, now: float | None = None) -> WindowFigures:
        now = time.monotonic() if now is None else now
        since = now - window
        if self.started is not None:
            since = max(since, self.started)
        latencies: list[float] = []
        errors = 0
        for done, error, latency in reversed(self._answers):
            if done < since:
                break
            latencies.append(latency)
            errors += error
        p99 = None
        if latencies:
            latencies.sort()
            p99 = latencies[max(0, math.ceil(0.99 * len(latencies)) - 1)]
        return WindowFigures(len(latencies), errors, max(0.0, now - since), p99)
