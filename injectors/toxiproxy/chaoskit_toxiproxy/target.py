"""The ``toxiproxy.proxy`` target kind: one proxy on one Toxiproxy server."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from chaoskit import TargetSpec

__all__ = ["ProxyTarget", "api_url"]

_HOST_PORT = re.compile(r"^\S*:\d{1,5}$")


def api_url(value: str) -> str:
    """A Toxiproxy API URL as targets hold it; ValueError for anything else."""
    if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
        raise ValueError("expected the Toxiproxy API URL, like http://127.0.0.1:8474")
    return value.rstrip("/")


class ProxyTarget(TargetSpec):
    """A Toxiproxy proxy, by name, on the server whose API is at ``server``.

    With both ``listen`` and ``upstream`` the proxy is ensured: when the server
    does not have it (a freshly started lab), the run creates it before the
    baseline and deletes it at the end, after every revert (``chaoskit
    rollback`` deletes it after a crash); with ``keep`` it is created in
    preflight and left on the server. A proxy that already exists is left as
    found. Without ``listen`` and ``upstream`` the proxy must already exist.
    """

    kind: Literal["toxiproxy.proxy"] = "toxiproxy.proxy"
    server: str = "http://127.0.0.1:8474"
    """URL of the Toxiproxy API"""
    name: str = Field(min_length=1)
    """the proxy's name"""
    listen: str | None = Field(default=None, examples=["127.0.0.1:25432"])
    """with upstream: the address to create the proxy on when it is missing"""
    upstream: str | None = Field(default=None, examples=["127.0.0.1:5432"])
    """with listen: where the proxy created when missing forwards to"""
    keep: bool = False
    """with listen and upstream: leave a proxy that chaoskit created on the server
    after the run (by default it is deleted once every fault is reverted)"""

    @field_validator("server")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return api_url(value)

    @field_validator("listen", "upstream")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None and not _HOST_PORT.match(value):
            raise ValueError("expected host:port, like 127.0.0.1:5432")
        return value

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if (self.listen is None) != (self.upstream is None):
            raise ValueError(
                "give both listen and upstream (to have the proxy created when missing) "
                "or neither (the proxy must exist)"
            )
        if self.keep and self.listen is None:
            raise ValueError(
                "keep applies to a proxy chaoskit creates: give listen and upstream too"
            )
        return self

    @property
    def creates_proxy(self) -> bool:
        """Whether the target says how to create its proxy when it is missing."""
        return self.listen is not None and self.upstream is not None
