"""The ``load`` probe: a running load stream's error rate, p99 and throughput
over a sliding window — so traffic failing at baseline makes the steady state
fail, and a safeguard can abort when the error rate passes a bound for a while."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import ClassVar

from pydantic import Field

from chaoskit._errors import ChaoskitError
from chaoskit._plugin_api import Expect, JsonValue, Observation, Params, ProbeContext
from chaoskit._recent import RecentAnswers, WindowFigures, recent_key
from chaoskit._units import (
    DurationThreshold,
    NumberThreshold,
    PercentageThreshold,
    PositiveDuration,
    format_duration,
)

__all__ = ["LoadExpect", "LoadParams", "LoadProbe"]


class LoadParams(Params):
    stream: str = Field(description="the name of one of this experiment's load streams")
    window: PositiveDuration = Field(
        5.0, description="the sliding window the figures are taken over (at most 10m)", le=600
    )


class LoadExpect(Expect):
    error_rate: PercentageThreshold | None = Field(
        None, description="failed and timed-out requests / requests in the window, e.g. < 1%"
    )
    p99: DurationThreshold | None = Field(
        None, description="99th percentile latency in the window, e.g. < 300ms"
    )
    throughput: NumberThreshold | None = Field(
        None, description="answered requests per second over the window, e.g. > 40"
    )
    min_requests: int = Field(
        1,
        ge=0,
        description="fewer answers than this in the window fails the sample (a stalled "
        "system answers nothing), once the stream has run for one request timeout",
    )


class LoadProbe:
    name: ClassVar[str] = "load"
    params: ClassVar[type[Params]] = LoadParams
    expect: ClassVar[type[Expect]] = LoadExpect
    value_unit: ClassVar[str] = "error_rate 0-1, p99 s, throughput req/s"

    async def observe(self, ctx: ProbeContext) -> Observation:
        params, expect = ctx.params, ctx.expect
        assert isinstance(params, LoadParams)
        assert isinstance(expect, LoadExpect)
        recent = await ctx.resources.get(recent_key(params.stream), _no_stream(params.stream))
        figures = recent.figures(params.window)
        value: dict[str, JsonValue] = {
            "requests": figures.requests,
            "throughput": figures.throughput,
        }
        if figures.error_rate is not None:
            value["error_rate"] = figures.error_rate
        if figures.p99 is not None:
            value["p99"] = figures.p99
        problems = _problems(figures, expect, recent)
        return Observation(ok=not problems, value=value, detail="; ".join(problems))


def _problems(figures: WindowFigures, expect: LoadExpect, recent: RecentAnswers) -> list[str]:
    if figures.requests < expect.min_requests:
        if figures.seconds < recent.request_timeout:
            return []  # the first requests may still be in flight: nothing is known yet
        return [
            f"{figures.requests} answers in the last {format_duration(figures.seconds)}, "
            f"expected at least {expect.min_requests}"
        ]
    problems = []
    rate = figures.error_rate
    if expect.error_rate is not None and rate is not None and not expect.error_rate.holds(rate):
        problems.append(f"error rate {rate:.1%}, expected {expect.error_rate}")
    p99 = figures.p99
    if expect.p99 is not None and p99 is not None and not expect.p99.holds(p99):
        problems.append(f"p99 {format_duration(p99)}, expected {expect.p99}")
    if expect.throughput is not None and not expect.throughput.holds(figures.throughput):
        problems.append(f"throughput {figures.throughput:.1f}/s, expected {expect.throughput}")
    return problems


def _no_stream(name: str) -> type[AbstractAsyncContextManager[RecentAnswers]]:
    class _Missing(AbstractAsyncContextManager[RecentAnswers]):
        async def __aenter__(self) -> RecentAnswers:
            raise ChaoskitError(f"no load stream named {name!r} is running in this run")

        async def __aexit__(self, *exc: object) -> None:
            return None

    return _Missing
