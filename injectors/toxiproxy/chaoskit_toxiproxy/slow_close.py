"""``toxiproxy.slow_close``: delay the close of connections by ``delay``."""

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

__all__ = ["SlowClose", "SlowCloseParams"]


class SlowCloseParams(ToxicParams):
    delay: Duration = Field(description="how long the close of the connection is held back")


class SlowClose(ToxicInjector):
    """Adds a Toxiproxy ``slow_close`` toxic: data flows, but the connection's
    close reaches the other side ``delay`` late."""

    name = "toxiproxy.slow_close"
    params: ClassVar[type[Params]] = SlowCloseParams
    toxic_type = "slow_close"

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        return {"delay": milliseconds(params_as(params, SlowCloseParams).delay)}
