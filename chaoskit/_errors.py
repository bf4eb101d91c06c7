"""The exception hierarchy.

Every error chaoskit raises on purpose derives from :class:`ChaoskitError`.
:class:`UserError` and its children are the user-facing branch: the CLI prints
their message (no traceback unless ``--verbose``) and exits with code 2.
"""

from __future__ import annotations

__all__ = [
    "CallTimedOut",
    "ChaoskitError",
    "ExperimentInvalid",
    "FaultNotInForce",
    "InjectorError",
    "PluginError",
    "RevertFailed",
    "UserError",
]


class ChaoskitError(Exception):
    """Root of every error raised by chaoskit on purpose."""


class UserError(ChaoskitError):
    """Bad input or usage: a file that does not exist, a bad flag, a bad run dir.

    The CLI prints the message and exits with code 2.
    """


class ExperimentInvalid(UserError):
    """Raised by the loader when an experiment document does not validate.

    ``problems`` holds one line per problem, each ``file:line:col: path: message``.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class PluginError(UserError):
    """A plugin (injector, probe or target kind) is unknown or broken."""


class InjectorError(ChaoskitError):
    """Raised by an injector when it cannot act: a target that is unreachable,
    a component that refuses the change, missing permission.

    Injectors should raise this (``raise InjectorError(...) from exc``) rather
    than let a client library's exception escape; the message is shown to users.
    """


class FaultNotInForce(InjectorError):
    """Raised by an injector's optional ``verify`` when the component shows that
    the fault it claims to have applied is not in force."""


class CallTimedOut(ChaoskitError):
    """A call chaoskit bounds (an injector's, a probe kind's warm-up) gave no
    answer in time; the message names the call and its limit."""


class RevertFailed(ChaoskitError):
    """A revert still failed after every retry: the system is left DIRTY."""

    def __init__(self, message: str, *, attempts: int = 0, error: str = "") -> None:
        super().__init__(message)
        self.attempts = attempts
        self.error = error


def still_applied(
    fault: str, injector: str, target: str, attempts: int, error: str, revert_state: object
) -> str:
    """How a fault left applied is told (results' ``left_applied``, the error)."""
    return (
        f"fault {fault!r} ({injector} on {target}) is still applied after {attempts} "
        f"revert attempts: {error}; revert state: {revert_state}"
    )
