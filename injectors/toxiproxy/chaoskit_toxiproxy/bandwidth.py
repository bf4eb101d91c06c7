"""``toxiproxy.bandwidth``: limit the proxy's throughput to ``rate`` KB/s."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chaoskit import (
    JsonValue,
    Params,
    params_as,
)
from chaoskit_toxiproxy._base import ToxicInjector, ToxicParams

__all__ = ["Bandwidth", "BandwidthParams"]


class BandwidthParams(ToxicParams):
    rate: int = Field(gt=0, description="kilobytes per second let through")


class Bandwidth(ToxicInjector):
    """Adds a Toxiproxy ``bandwidth`` toxic: data passes at ``rate`` KB/s."""

    name = "toxiproxy.bandwidth"
    params: ClassVar[type[Params]] = BandwidthParams
    toxic_type = "bandwidth"
    units: ClassVar[dict[str, str]] = {"rate": "KB/s"}

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        return {"rate": params_as(params, BandwidthParams).rate}
