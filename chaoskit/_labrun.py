"""Running an experiment against the lab it names (``lab:``): bring the lab
up first when needed, and take down afterwards exactly what this run started."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from structlog.typing import FilteringBoundLogger

from chaoskit._errors import ChaoskitError
from chaoskit._model import LabRequirement

__all__ = ["RUNTIME_ENV", "LabUnavailable", "with_lab"]

RUNTIME_ENV = "CHAOSKIT_LAB_RUNTIME"

T = TypeVar("T")


class LabUnavailable(ChaoskitError):
    """The lab an experiment names could not be brought up."""


def with_lab(
    requirement: LabRequirement | None, log: FilteringBoundLogger, run: Callable[[], T]
) -> T:
    """Call ``run`` with the lab up; take down what was started for it."""
    if requirement is None:
        return run()
    from chaoskit.lab import down, up
    from chaoskit.lab.errors import LabError
    from chaoskit.lab.interrupt import LabInterrupted

    runtime: str | None = None if requirement.runtime == "auto" else requirement.runtime
    if runtime is None and os.environ.get(RUNTIME_ENV):
        runtime = os.environ[RUNTIME_ENV]  # lets a test suite pick for `auto` experiments
    knobs = {name: str(value) for name, value in requirement.knobs.items()}
    log.info("bringing the lab up", runtime=requirement.runtime, knobs=knobs)
    try:
        started = up(runtime, knobs)
    except LabError as exc:
        raise LabUnavailable(f"the lab could not be brought up: {exc}") from exc
    except LabInterrupted as exc:
        raise LabUnavailable(
            f"{exc}: what it had started was taken down again; nothing was run"
        ) from None
    log.info(
        "lab up",
        runtime=started.runtime,
        started=list(started.started),
        restarted=list(started.restarted),
        seconds=round(started.seconds, 1),
    )
    try:
        return run()
    finally:
        if started.started and not requirement.keep:
            log.info("taking down what this run started", services=list(started.started))
            down(started.runtime, services=started.started)
