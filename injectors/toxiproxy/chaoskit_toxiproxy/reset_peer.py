"""``toxiproxy.reset_peer``: reset connections (TCP RST) once data arrives."""

from __future__ import annotations

from pydantic import Field

from chaoskit import Duration, JsonValue, Params
from chaoskit_toxiproxy._base import ToxicInjector, ToxicParams, expect_params, milliseconds

__all__ = ["ResetPeer", "ResetPeerParams"]


class ResetPeerParams(ToxicParams):
    timeout: Duration = Field(
        default=0.0, description="wait this long after data arrives, then reset; 0: at once"
    )


class ResetPeer(ToxicInjector):
    """Adds a Toxiproxy ``reset_peer`` toxic: when data arrives the connection
    is closed with a reset after ``timeout``, discarding unsent data."""

    name = "toxiproxy.reset_peer"
    params = ResetPeerParams
    toxic_type = "reset_peer"

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        return {"timeout": milliseconds(expect_params(params, ResetPeerParams).timeout)}
