"""The ``process`` target kind: local processes picked by one selector.

A selector is exactly one of ``pid``, ``pid_file``, ``name``, ``cmdline`` (a
regular expression) or ``port`` (the process listening on that TCP port on
127.0.0.1 or on every address). ``pick`` then says what to do when it matches
several. chaoskit's own process, its ancestors and chaoskit's helper processes
are never selected, whatever the selector says.
"""

from __future__ import annotations

import os
import re
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from chaoskit import Params, TargetSpec

__all__ = ["SELECTOR_FIELDS", "ProcessTarget", "SelectorFields", "selectors_given"]

SELECTOR_FIELDS = ("pid", "pid_file", "name", "cmdline", "port")


class SelectorFields(Params):
    """The selector fields shared by the target kind and the probes."""

    pid: int | None = Field(default=None, ge=1, description="one process id")
    pid_file: str | None = Field(
        default=None,
        description="absolute path of a file holding the process id (re-read at every use)",
        examples=["/run/ledger.pid"],
    )
    name: str | None = Field(
        default=None, min_length=1, description="the process name, exactly (as ps -o comm shows)"
    )
    cmdline: str | None = Field(
        default=None,
        min_length=1,
        description="a regular expression searched in the command line, arguments joined by spaces",
        examples=["ledger\\.py --port 8080"],
    )
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="the process listening on this TCP port on 127.0.0.1 or on every address",
    )

    @field_validator("pid_file")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isabs(value):
            raise ValueError("expected an absolute path, like /run/ledger.pid")
        return value

    @field_validator("cmdline")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


def selectors_given(model: SelectorFields) -> list[str]:
    """The selector fields that are set on ``model``."""
    return [name for name in SELECTOR_FIELDS if getattr(model, name) is not None]


class ProcessTarget(TargetSpec, SelectorFields):
    """Local processes on the machine chaoskit runs on, by exactly one of
    ``pid``, ``pid_file``, ``name``, ``cmdline`` or ``port``."""

    kind: Literal["process"] = "process"
    pick: Literal["all", "one", "random"] = Field(
        default="all",
        description=(
            "all: every match; one: exactly one must match, several is an error; "
            "random: count of the matches, chosen at random"
        ),
    )
    count: int | None = Field(
        default=None, ge=1, description="with pick: random, how many to choose (default 1)"
    )

    @model_validator(mode="after")
    def _one_selector(self) -> Self:
        given = selectors_given(self)
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"expected exactly one of {', '.join(SELECTOR_FIELDS)} (given: {found})"
            )
        if self.count is not None and self.pick != "random":
            raise ValueError("count goes with pick: random")
        return self

    def describe(self) -> str:
        """The selector as a user wrote it, for messages: ``cmdline ~ 'ledger'``."""
        [field] = selectors_given(self)
        return f"{field}={getattr(self, field)!r}"
