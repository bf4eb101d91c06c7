"""What the process probes share: a selector given inline or as ``target``,
evaluated in a worker thread within the sample's time budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self, TypeVar

import anyio
from pydantic import Field, model_validator

from chaoskit import Expect, InjectorError, PluginError, ProbeContext
from chaoskit_process.target import SELECTOR_FIELDS, ProcessTarget, SelectorFields, selectors_given

__all__ = ["ProbeParams", "ProbeUnanswered", "probe_inputs", "within_budget"]

E = TypeVar("E", bound=Expect)
R = TypeVar("R")


class ProbeParams(SelectorFields):
    """Exactly one of ``target`` (a process target's name) or a selector field.
    Probes read every process the selector matches; ``pick`` is for faults."""

    target: str | None = Field(default=None, min_length=1, description="name of a process target")

    @model_validator(mode="after")
    def _one_selector(self) -> Self:
        given = selectors_given(self) + (["target"] if self.target is not None else [])
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"expected exactly one of target, {', '.join(SELECTOR_FIELDS)} (given: {found})"
            )
        return self


class ProbeUnanswered(Exception):
    """The selector could not be evaluated within the sample's budget; the
    message is the observation's detail."""


def probe_inputs(ctx: ProbeContext, probe: str, expect: type[E]) -> tuple[SelectorFields, E]:
    """The selector to evaluate and the tolerances, checked."""
    params = ctx.params
    if not isinstance(params, ProbeParams):
        raise PluginError(f"probe {ctx.probe_name!r} got {type(params).__name__} parameters")
    if not isinstance(ctx.expect, expect):
        raise PluginError(f"probe {ctx.probe_name!r} got {type(ctx.expect).__name__} tolerances")
    if params.target is None:
        return params, ctx.expect
    if not isinstance(ctx.target, ProcessTarget):
        raise PluginError(
            f"probe {ctx.probe_name!r} ({probe}) needs a process target, "
            f"got {type(ctx.target).__name__}"
        )
    return ctx.target, ctx.expect


async def within_budget(ctx: ProbeContext, fn: Callable[..., R], *args: object) -> R:
    """``fn(*args)`` in a worker thread, abandoned when the sample's time is up."""
    try:
        with anyio.fail_after(ctx.timeout):
            return await anyio.to_thread.run_sync(lambda: fn(*args), abandon_on_cancel=True)
    except TimeoutError as exc:
        raise ProbeUnanswered(f"no answer within {ctx.timeout:g}s") from exc
    except InjectorError as exc:
        raise ProbeUnanswered(str(exc)) from exc
