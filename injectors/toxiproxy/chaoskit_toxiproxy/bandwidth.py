"""``toxiproxy.bandwidth``: limit the proxy's throughput to ``rate`` KB/s."""

from __future__ import annotations

from pydantic import Field

from chaoskit import JsonValue, Params
from chaoskit_toxiproxy._base import ToxicInjector, ToxicParams, expect_params

__all__ = ["Bandwidth", "BandwidthParams"]


class BandwidthParams(ToxicParams):
    rate: int = Field(gt=0, description="kilobytes per second let through")


class Bandwidth(ToxicInjector):
    """Adds a Toxiproxy ``bandwidth`` toxic: data passes at ``rate`` KB/s."""

    name = "toxiproxy.bandwidth"
    params = BandwidthParams
    toxic_type = "bandwidth"

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        return {"rate": expect_params(params, BandwidthParams).rate}
