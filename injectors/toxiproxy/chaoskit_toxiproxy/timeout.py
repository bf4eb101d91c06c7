"""``toxiproxy.timeout``: stop all data; close the connection after ``timeout``
(``0``: never — a black hole)."""

from __future__ import annotations

from pydantic import Field

from chaoskit import Duration, JsonValue, Params
from chaoskit_toxiproxy._base import ToxicInjector, ToxicParams, expect_params, milliseconds

__all__ = ["Timeout", "TimeoutParams"]


class TimeoutParams(ToxicParams):
    timeout: Duration = Field(
        description="time after which the connection is closed; 0 holds it open forever"
    )


class Timeout(ToxicInjector):
    """Adds a Toxiproxy ``timeout`` toxic: no data gets through, and the
    connection is closed after ``timeout`` (or never, when it is 0)."""

    name = "toxiproxy.timeout"
    params = TimeoutParams
    toxic_type = "timeout"

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        return {"timeout": milliseconds(expect_params(params, TimeoutParams).timeout)}
