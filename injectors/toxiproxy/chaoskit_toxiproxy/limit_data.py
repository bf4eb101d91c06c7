"""``toxiproxy.limit_data``: close connections after ``bytes`` have passed."""

from __future__ import annotations

from pydantic import Field

from chaoskit import JsonValue, Params
from chaoskit_toxiproxy._base import ToxicInjector, ToxicParams, expect_params

__all__ = ["LimitData", "LimitDataParams"]


class LimitDataParams(ToxicParams):
    bytes: int = Field(ge=0, description="bytes let through per connection before closing it")


class LimitData(ToxicInjector):
    """Adds a Toxiproxy ``limit_data`` toxic: each connection is closed once
    ``bytes`` have been transmitted on the stream."""

    name = "toxiproxy.limit_data"
    params = LimitDataParams
    toxic_type = "limit_data"

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        return {"bytes": expect_params(params, LimitDataParams).bytes}
