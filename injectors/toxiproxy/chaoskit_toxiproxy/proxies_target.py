"""The ``toxiproxy.proxies`` target kind: a set of proxies on one Toxiproxy
server, by name and/or by a regular expression on their names."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from chaoskit import InjectorError, TargetSpec
from chaoskit_toxiproxy.target import api_url

__all__ = ["ProxiesTarget"]


class ProxiesTarget(TargetSpec):
    """A set of Toxiproxy proxies on the server whose API is at ``server``: the
    proxies listed in ``names`` plus every proxy whose whole name matches
    ``match``. The set is resolved when the fault is prepared; the proxies must
    already exist."""

    kind: Literal["toxiproxy.proxies"] = "toxiproxy.proxies"
    server: str = "http://127.0.0.1:8474"
    """URL of the Toxiproxy API"""
    names: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, examples=[["orders_to_ledger", "orders_to_postgres"]]
    )
    """proxies by name; each must exist"""
    match: str | None = Field(default=None, min_length=1, examples=["orders_to_.*"])
    """a regular expression (Python syntax) that the whole proxy name must match"""

    @field_validator("server")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return api_url(value)

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _selects_something(self) -> Self:
        if not self.names and self.match is None:
            raise ValueError(
                "give names (a list of proxy names), match (a regular expression "
                "on proxy names) or both"
            )
        return self

    def describe(self) -> str:
        """The selector in words, for messages."""
        parts = []
        if self.names:
            parts.append(f"names {sorted(set(self.names))}")
        if self.match is not None:
            parts.append(f"match {self.match!r}")
        return " and ".join(parts)

    def select(self, available: Collection[str]) -> list[str]:
        """The selected proxy names among ``available`` (the server's), sorted
        and without duplicates. Raises :class:`InjectorError` when a named proxy
        is missing or nothing is selected."""
        missing = sorted(set(self.names) - set(available))
        if missing:
            which = ", ".join(repr(name) for name in missing)
            raise InjectorError(
                f"proxy {which} does not exist on Toxiproxy at {self.server}"
                if len(missing) == 1
                else f"proxies {which} do not exist on Toxiproxy at {self.server}"
            )
        selected = set(self.names)
        if self.match is not None:
            pattern = re.compile(self.match)
            selected.update(name for name in available if pattern.fullmatch(name))
        if not selected:
            raise InjectorError(
                f"no proxy on Toxiproxy at {self.server} is selected by {self.describe()}"
            )
        return sorted(selected)
