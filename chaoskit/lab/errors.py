"""The lab's errors, in chaoskit's hierarchy."""

from __future__ import annotations

from chaoskit._errors import ChaoskitError, UserError

__all__ = ["LabError", "LabUsageError"]


class LabError(ChaoskitError):
    """The lab could not be brought up, checked or taken down: a service that did not become
    healthy in time, a port held by something chaoskit did not start, a missing binary or
    image. The message says which, and where its log is."""


class LabUsageError(UserError):
    """Bad input to the lab: an unknown knob or a bad value, an unknown runtime, a runtime
    that differs from the one the running lab was started with."""
