"""``toxiproxy.latency``: delay the data on the proxy by ``latency`` ± ``jitter``."""

from __future__ import annotations

from pydantic import Field

from chaoskit import Duration, JsonValue, Params
from chaoskit_toxiproxy._base import ToxicInjector, ToxicParams, expect_params, milliseconds

__all__ = ["Latency", "LatencyParams"]


class LatencyParams(ToxicParams):
    latency: Duration = Field(description="delay added to each chunk of data")
    jitter: Duration = Field(default=0.0, description="random variation of the delay, ± this")


class Latency(ToxicInjector):
    """Adds a Toxiproxy ``latency`` toxic: every chunk of data is held for
    ``latency`` ± ``jitter`` before it is passed on."""

    name = "toxiproxy.latency"
    params = LatencyParams
    toxic_type = "latency"

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        latency = expect_params(params, LatencyParams)
        return {"latency": milliseconds(latency.latency), "jitter": milliseconds(latency.jitter)}
