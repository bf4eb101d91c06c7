"""The ``docker.container`` target kind: one or more containers on one Docker engine."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from chaoskit import TargetSpec

__all__ = ["ContainerTarget"]

_HOST_SCHEMES = ("unix://", "tcp://", "ssh://", "npipe://", "http://", "https://")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


class ContainerTarget(TargetSpec):
    """Containers on a Docker engine, selected by exactly one of ``container``
    (a name or id), ``labels`` (every label must match) or ``service`` (a
    Compose service, optionally in ``project``).

    ``pick`` says which of the selected containers a fault acts on: ``all``,
    ``one`` (exactly one must be selected; several is an error) or ``random``
    (``count`` of them, chosen when the fault starts and journaled). Label and
    service selections see running (and paused) containers; a name or id is
    looked up whatever its state.
    """

    kind: Literal["docker.container"] = "docker.container"
    container: str | None = Field(
        default=None, min_length=1, description="a container name or id", examples=["ledger"]
    )
    labels: dict[str, str] | None = Field(
        default=None,
        description="label selector: containers carrying all of these labels",
        examples=[{"app": "ledger"}],
    )
    service: str | None = Field(
        default=None, min_length=1, description="a Compose service (com.docker.compose.service)"
    )
    project: str | None = Field(
        default=None,
        min_length=1,
        description="with service: the Compose project (com.docker.compose.project)",
    )
    pick: Literal["all", "one", "random"] = Field(
        default="all",
        description="all selected containers, exactly one (several is an error), or random ones",
    )
    count: int | None = Field(
        default=None, ge=1, description="with pick: random, how many (default 1)"
    )
    docker_host: str | None = Field(
        default=None,
        description="the engine's address, like unix:///var/run/docker.sock; "
        "default: DOCKER_HOST or the local socket",
    )

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            if not value:
                raise ValueError("give at least one label")
            bad = [key for key in value if not _LABEL_KEY.match(key)]
            if bad:
                raise ValueError(f"not label keys: {bad}")
        return value

    @field_validator("docker_host")
    @classmethod
    def _host_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(_HOST_SCHEMES):
            raise ValueError(
                "expected an engine address like unix:///var/run/docker.sock or tcp://host:2376"
            )
        return value

    @model_validator(mode="after")
    def _one_selector(self) -> Self:
        given = [
            name
            for name, value in (
                ("container", self.container),
                ("labels", self.labels),
                ("service", self.service),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "select containers by exactly one of container, labels or service"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.project is not None and self.service is None:
            raise ValueError("project only goes with service")
        if self.count is not None and self.pick != "random":
            raise ValueError("count only goes with pick: random")
        return self

    def describe(self) -> str:
        """The selector in words, for messages."""
        if self.container is not None:
            return f"container {self.container!r}"
        if self.labels is not None:
            return "containers labelled " + ", ".join(f"{k}={v}" for k, v in self.labels.items())
        where = f" in project {self.project!r}" if self.project else ""
        return f"containers of Compose service {self.service!r}{where}"

    def label_filters(self) -> list[str]:
        """The engine's ``label`` filters for a labels or service selection."""
        if self.labels is not None:
            return [f"{key}={value}" for key, value in self.labels.items()]
        filters = [f"com.docker.compose.service={self.service}"]
        if self.project is not None:
            filters.append(f"com.docker.compose.project={self.project}")
        return filters
