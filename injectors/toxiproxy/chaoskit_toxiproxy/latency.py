"""``toxiproxy.latency``: delay the data on the proxy by ``latency`` ± ``jitter``."""

from __future__ import annotations

from chaoskit import Duration, JsonValue, Params
from chaoskit_toxiproxy._base import ToxicInjector, ToxicParams, expect_params, milliseconds

__all__ = ["Latency", "LatencyParams"]


class LatencyParams(ToxicParams):
    latency: Duration
    """Delay added to each chunk of data."""
    jitter: Duration = 0.0
    """Random variation of the delay, ± this much."""


class Latency(ToxicInjector):
    """Adds a Toxiproxy ``latency`` toxic: every chunk of data is held for
    ``latency`` ± ``jitter`` before it is passed on."""

    name = "toxiproxy.latency"
    params = LatencyParams
    toxic_type = "latency"

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        latency = expect_params(params, LatencyParams)
        return {"latency": milliseconds(latency.latency), "jitter": milliseconds(latency.jitter)}
