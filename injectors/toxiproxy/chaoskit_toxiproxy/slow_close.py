"""``toxiproxy.slow_close``: delay the close of connections by ``delay``."""

from __future__ import annotations

from pydantic import Field

from chaoskit import Duration, JsonValue, Params
from chaoskit_toxiproxy._base import ToxicInjector, ToxicParams, expect_params, milliseconds

__all__ = ["SlowClose", "SlowCloseParams"]


class SlowCloseParams(ToxicParams):
    delay: Duration = Field(description="how long the close of the connection is held back")


class SlowClose(ToxicInjector):
    """Adds a Toxiproxy ``slow_close`` toxic: data flows, but the connection's
    close reaches the other side ``delay`` late."""

    name = "toxiproxy.slow_close"
    params = SlowCloseParams
    toxic_type = "slow_close"

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        return {"delay": milliseconds(expect_params(params, SlowCloseParams).delay)}
