"""``toxiproxy.slicer``: cut data into small chunks, optionally delayed."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator

from chaoskit import (
    Duration,
    JsonValue,
    Params,
    params_as,
)
from chaoskit_toxiproxy._base import ToxicInjector, ToxicParams

__all__ = ["Slicer", "SlicerParams"]


class SlicerParams(ToxicParams):
    average_size: int = Field(gt=0, description="average chunk size in bytes")
    size_variation: int = Field(default=0, ge=0, description="± bytes, below average_size")
    delay: Duration = Field(default=0.0, description="pause before each chunk")

    @model_validator(mode="after")
    def _variation_below_average(self) -> Self:
        if self.size_variation >= self.average_size:
            raise ValueError("size_variation must be smaller than average_size")
        return self


class Slicer(ToxicInjector):
    """Adds a Toxiproxy ``slicer`` toxic: data is cut into chunks of about
    ``average_size`` ± ``size_variation`` bytes, each sent ``delay`` apart."""

    name = "toxiproxy.slicer"
    params: ClassVar[type[Params]] = SlicerParams
    toxic_type = "slicer"
    units: ClassVar[dict[str, str]] = {"average_size": "bytes", "size_variation": "bytes"}

    def attributes(self, params: Params) -> dict[str, JsonValue]:
        slicer = params_as(params, SlicerParams)
        return {
            "average_size": slicer.average_size,
            "size_variation": slicer.size_variation,
            # Unlike every other toxic, the slicer's delay is in microseconds.
            "delay": round(slicer.delay * 1_000_000),
        }
