"""``toxiproxy.latency``: delay the data on the proxy by ``latency`` ± ``jitter``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chaoskit import (
    Duration,
    JsonValue,
    Params,
    params_as,
)
from chaoskit_toxiproxy._base import ToxicInjector, ToxicParams, milliseconds

__all__ = ["Latency", "LatencyParams"]


class LatencyParams(ToxicParams):
    latency: Duration = Field(description="delay added to each chunk of data")
    jitter: Duration = Field(default=0.0, description="random variation of the delay, ± this")


class Latency(ToxicInjector):
    """Adds a Toxiproxy ``latency`` toxic: every chunk of data is held for
    ``latency`` ± ``jitter`` before it is passed on."""

    name = "toxiproxy.latency"
    params: ClassVar[type[Params]] = LatencyParams
    toxic_type = "latency"

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        latency = params_as(params, LatencyParams)
        return {"latency": milliseconds(latency.latency), "jitter": milliseconds(latency.jitter)}
