"""``toxiproxy.timeout``: stop all data; close the connection after ``timeout``
(``0``: never — a black hole)."""

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

__all__ = ["Timeout", "TimeoutParams"]


class TimeoutParams(ToxicParams):
    timeout: Duration = Field(
        description="time after which the connection is closed; 0 holds it open forever"
    )


class Timeout(ToxicInjector):
    """Adds a Toxiproxy ``timeout`` toxic: no data gets through, and the
    connection is closed after ``timeout`` (or never, when it is 0)."""

    name = "toxiproxy.timeout"
    params: ClassVar[type[Params]] = TimeoutParams
    toxic_type = "timeout"

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        return {"timeout": milliseconds(params_as(params, TimeoutParams).timeout)}
