"""``toxiproxy.limit_data``: close connections after ``bytes`` have passed."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chaoskit import (
    JsonValue,
    Params,
    params_as,
)
from chaoskit_toxiproxy._base import ToxicInjector, ToxicParams

__all__ = ["LimitData", "LimitDataParams"]


class LimitDataParams(ToxicParams):
    bytes: int = Field(ge=0, description="bytes let through per connection before closing it")


class LimitData(ToxicInjector):
    """Adds a Toxiproxy ``limit_data`` toxic: each connection is closed once
    ``bytes`` have been transmitted on the stream."""

    name = "toxiproxy.limit_data"
    params: ClassVar[type[Params]] = LimitDataParams
    toxic_type = "limit_data"
    units: ClassVar[dict[str, str]] = {"bytes": "bytes"}

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        return {"bytes": params_as(params, LimitDataParams).bytes}
