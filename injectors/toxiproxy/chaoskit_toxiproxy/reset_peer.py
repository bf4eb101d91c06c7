"""``toxiproxy.reset_peer``: reset connections (TCP RST) once data arrives."""

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

__all__ = ["ResetPeer", "ResetPeerParams"]


class ResetPeerParams(ToxicParams):
    timeout: Duration = Field(
        default=0.0, description="wait this long after data arrives, then reset; 0: at once"
    )


class ResetPeer(ToxicInjector):
    """Adds a Toxiproxy ``reset_peer`` toxic: when data arrives the connection
    is closed with a reset after ``timeout``, discarding unsent data."""

    name = "toxiproxy.reset_peer"
    params: ClassVar[type[Params]] = ResetPeerParams
    toxic_type = "reset_peer"

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        return {"timeout": milliseconds(params_as(params, ResetPeerParams).timeout)}
