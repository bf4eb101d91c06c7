"""Drive an injector in a test the way the runner does — pytest's ``pytester``
for injector authors.

::

    from chaoskit.testing import FaultTracker

    async def test_latency_slows_requests(proxy_target):
        async with FaultTracker() as faults:
            fault = await faults.apply(Latency(), proxy_target, {"latency": "800ms"})
            ...  # observe the fault on the real system, independently of the injector
            await fault.revert()
        # leaving the block reverts whatever is still applied; a revert that fails raises

What is done as the runner does it:

* :func:`fault_context` builds the :class:`~chaoskit.FaultContext`: params
  validated by the injector's own model, the log bound to fault, target and
  injector, the tag derived from the run id and the fault's name.
* :func:`prepare_fault` runs ``preflight`` then ``prepare``;
  :meth:`AppliedFault.inject` runs ``inject``; :func:`apply_fault` does both.
  Each call has the runner's time limit. Every revert state goes through
  :func:`journal_roundtrip`, the JSON encoding of the journal, so a test reverts
  with what ``chaoskit rollback`` would read back, never with an in-memory object.
* :meth:`AppliedFault.revert_in_fresh_process` reverts from that JSON in a new
  Python process, with the context rebuilt from JSON, as ``chaoskit rollback``
  does after a crash.
* :class:`FaultTracker` reverts, at its end, every fault that is still applied
  (prepared counts: the runner reverts every fault whose intent it journaled)
  and raises :class:`RevertsFailed` naming each one it could not revert.

What is not: reverts are not retried (a test should see the first failure),
exceptions are not wrapped into ``InjectorError``, and ``${env:...}`` secrets
are neither redacted nor substituted.

:class:`InjectorContract` is a pytest test class that a family's test module
subclasses to run the contract every injector keeps (see
docs/writing-injectors.md, "Testing your injector"). It is the only part of
this module that imports pytest, and only when it is asked for.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from chaoskit._faults import (
    INJECT_TIMEOUT,
    PREFLIGHT_TIMEOUT,
    PREPARE_TIMEOUT,
    REVERT_TIMEOUT,
    VERIFY_TIMEOUT,
)
from chaoskit._plugin_api import FaultContext, Injector, JsonValue, TargetSpec, Verifiable

if TYPE_CHECKING:
    from chaoskit._testing_contract import InjectorContract

__all__ = [
    "AppliedFault",
    "FaultTracker",
    "FreshRevertFailed",
    "InjectorContract",
    "RevertStateNotJson",
    "RevertsFailed",
    "apply_fault",
    "fault_context",
    "journal_roundtrip",
    "new_run_id",
    "prepare_fault",
]

FRESH_REVERT_TIMEOUT = 2 * REVERT_TIMEOUT
"""A revert's own limit plus the start of a Python process that imports the injector."""


class RevertStateNotJson(AssertionError):
    """Raised by :func:`journal_roundtrip` (so by every helper here) when a revert
    state holds a value JSON cannot represent. The journal would write it as its
    ``str()``, and a revert after a crash would get that string back."""


class FreshRevertFailed(AssertionError):
    """Raised by :meth:`AppliedFault.revert_in_fresh_process` when the revert in
    the new process failed or did not finish in time; the message has its output."""


class RevertsFailed(ExceptionGroup[Exception]):
    """Raised by :meth:`FaultTracker.revert_all` (and so at the end of an ``async
    with FaultTracker()`` block) when reverts failed: one exception per fault left
    applied, each with a note naming the fault."""


def new_run_id() -> str:
    """A run id for tests: unique, short, and safe in every name derived from a tag."""
    return f"t{uuid.uuid4().hex[:11]}"


def journal_roundtrip(value: JsonValue) -> JsonValue:
    """``value`` as the journal gives it back: encoded and decoded as JSON the way
    the journal encodes its records (tuples come back as lists, integer keys as
    strings). Raises :class:`RevertStateNotJson` for what the journal could only
    write as a string."""
    try:
        encoded = json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise RevertStateNotJson(f"not JSON: {exc}; {_as_journal_writes(value)}") from exc
    decoded: JsonValue = json.loads(encoded)
    return decoded


def _as_journal_writes(value: object) -> str:
    try:
        return f"the journal would write {json.dumps(value, default=str)}"
    except ValueError:  # a circular reference: the journal could not write it at all
        return "the journal could not write it"


def fault_context(
    injector: Injector,
    target: TargetSpec,
    params: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
    fault_name: str = "f",
    target_name: str = "target",
    duration: float | None = None,
) -> FaultContext:
    """The context the runner would give ``injector`` for this fault: ``params``
    (the fault's ``with:`` block) validated by ``injector.params``, the log bound
    to the fault, the target and the injector. A new run id unless one is given;
    ``duration`` as the experiment says (None, as in a rollback, by default)."""
    return FaultContext(
        run_id=run_id or new_run_id(),
        fault_name=fault_name,
        target_name=target_name,
        target=target,
        params=injector.params.model_validate(dict(params or {})),
        log=structlog.get_logger("chaoskit.testing").bind(
            fault=fault_name, target=target_name, injector=injector.name
        ),
        duration=duration,
    )


@dataclass
class AppliedFault:
    """A fault that went through ``preflight`` and ``prepare``, and through
    ``inject`` once :attr:`injected`.

    :attr:`revert_state` is always as the journal holds it: the intent's state
    until ``inject`` returns, then the one ``inject`` returned, both through
    :func:`journal_roundtrip`.
    """

    injector: Injector
    ctx: FaultContext
    revert_state: JsonValue
    params_json: JsonValue = None
    """The params as the journal records them (the ``with:`` block as given)."""
    injected: bool = False
    reverted: bool = False
    """True once a revert succeeded (and until the next inject)."""

    @property
    def tag(self) -> str:
        return self.ctx.tag

    def describe(self) -> str:
        """The fault in a few words, for messages."""
        return f"{self.injector.name} on {self.ctx.target_name!r} (tag {self.tag})"

    async def inject(self) -> JsonValue:
        """``inject`` with the journaled state, as the runner calls it; keeps (and
        returns) the final state as the journal would."""
        if self.injected:
            raise RuntimeError(f"{self.describe()} is injected already")
        with anyio.fail_after(INJECT_TIMEOUT):
            state = await self.injector.inject(self.ctx, self.revert_state)
        self.revert_state = journal_roundtrip(state)
        self.injected, self.reverted = True, False
        return self.revert_state

    async def verify(self) -> None:
        """``verify`` with the journaled state. TypeError if the injector has none."""
        if not isinstance(self.injector, Verifiable):
            raise TypeError(f"{self.injector.name} has no verify")
        with anyio.fail_after(VERIFY_TIMEOUT):
            await self.injector.verify(self.ctx, self.revert_state)

    async def revert(self) -> None:
        """``revert`` with the journaled state, once, within the runner's limit for
        one attempt. May be called again: revert is idempotent."""
        with anyio.fail_after(REVERT_TIMEOUT):
            await self.injector.revert(self.ctx, journal_roundtrip(self.revert_state))
        self.reverted = True

    async def revert_in_fresh_process(self, *, timeout: float = FRESH_REVERT_TIMEOUT) -> None:
        """Revert as ``chaoskit rollback`` does after a crash: in a new Python
        process that imports the injector's and the target's classes, rebuilds the
        context from JSON (same run id, so the same tag; target and params
        validated again; no ``extra``, no duration) and calls ``revert`` with the
        journaled state. Raises :class:`FreshRevertFailed` with the process's
        output when it fails."""
        spec = {
            "injector": _class_path(type(self.injector)),
            "target_class": _class_path(type(self.ctx.target)),
            "target": _target_json(self.ctx.target),
            "params": self.params_json,
            "run_id": self.ctx.run_id,
            "fault_name": self.ctx.fault_name,
            "target_name": self.ctx.target_name,
            "revert_state": journal_roundtrip(self.revert_state),
        }
        # What this process can import (its sys.path), the fresh one can too:
        # an injector defined in a test folder must be found there as well.
        path = os.pathsep.join(entry for entry in sys.path if entry)
        command = [sys.executable, "-m", "chaoskit._testing_revert"]
        try:
            with anyio.fail_after(timeout):
                done = await anyio.run_process(
                    command,
                    input=json.dumps(spec).encode(),
                    check=False,
                    env={**os.environ, "PYTHONPATH": path},
                )
        except TimeoutError as exc:
            raise FreshRevertFailed(
                f"reverting {self.describe()} in a fresh process took more than {timeout:g}s"
            ) from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace").strip()
            raise FreshRevertFailed(
                f"reverting {self.describe()} in a fresh process failed "
                f"(exit {done.returncode}):\n{output}"
            )
        self.reverted = True


def _class_path(cls: type) -> str:
    if "<locals>" in cls.__qualname__:
        raise TypeError(
            f"{cls.__qualname__} is defined inside a function: a fresh process cannot "
            "import it; define it at module level"
        )
    return f"{cls.__module__}:{cls.__qualname__}"


def _target_json(target: TargetSpec) -> JsonValue:
    """The target as an experiment would write it: the fields that were set, and its kind."""
    written: JsonValue = {"kind": target.kind, **target.model_dump(mode="json", exclude_unset=True)}
    return journal_roundtrip(written)


async def prepare_fault(
    injector: Injector,
    target: TargetSpec,
    params: Mapping[str, Any] | None = None,
    **context: Any,
) -> AppliedFault:
    """``preflight`` then ``prepare`` (within the runner's limits), as the runner
    does before it journals the intent; the fault is not injected. ``context``
    goes to :func:`fault_context`."""
    ctx = fault_context(injector, target, params, **context)
    with anyio.fail_after(PREFLIGHT_TIMEOUT):
        await injector.preflight(ctx)
    with anyio.fail_after(PREPARE_TIMEOUT):
        state = await injector.prepare(ctx)
    return AppliedFault(
        injector,
        ctx,
        journal_roundtrip(state),
        params_json=journal_roundtrip(dict(params or {})),
    )


async def apply_fault(
    injector: Injector,
    target: TargetSpec,
    params: Mapping[str, Any] | None = None,
    **context: Any,
) -> AppliedFault:
    """``preflight``, ``prepare`` and ``inject``, as the runner applies a fault.
    Nothing reverts it if ``inject`` fails: use :meth:`FaultTracker.apply` for that."""
    fault = await prepare_fault(injector, target, params, **context)
    await fault.inject()
    return fault


class FaultTracker:
    """The faults of one test, reverted at its end like the runner reverts a run's.

    ``async with FaultTracker() as faults:`` — or, in a fixture, ``yield`` inside
    that block. Leaving it reverts every fault that was prepared (the runner
    reverts whatever it journaled an intent for, injected or not) and has not
    been reverted since, newest first, shielded from cancellation, and raises
    :class:`RevertsFailed` if any revert fails — a failing teardown is reported,
    never swallowed.

    ``context`` is passed to :func:`fault_context` for every fault (``run_id=``
    to have leak checks find the run's tags); each fault must get its own tag.
    """

    def __init__(self, **context: Any) -> None:
        self.context = context
        self.faults: list[AppliedFault] = []

    async def prepare(
        self,
        injector: Injector,
        target: TargetSpec,
        params: Mapping[str, Any] | None = None,
        **context: Any,
    ) -> AppliedFault:
        """:func:`prepare_fault`, tracked."""
        merged = {**self.context, **context}
        if "run_id" in merged and "fault_name" not in merged:
            # One run id for the test: give each fault a name of its own.
            merged["fault_name"] = f"f{len(self.faults) + 1}" if self.faults else "f"
        fault = await prepare_fault(injector, target, params, **merged)
        if any(other.tag == fault.tag for other in self.faults):
            raise ValueError(f"two faults share the tag {fault.tag}: give each its own fault_name")
        self.faults.append(fault)
        return fault

    async def apply(
        self,
        injector: Injector,
        target: TargetSpec,
        params: Mapping[str, Any] | None = None,
        **context: Any,
    ) -> AppliedFault:
        """:func:`apply_fault`, tracked from the moment ``prepare`` returned (so a
        failed ``inject`` is reverted too)."""
        fault = await self.prepare(injector, target, params, **context)
        await fault.inject()
        return fault

    async def revert_all(self) -> None:
        """Revert every tracked fault not reverted yet, newest first; then raise
        :class:`RevertsFailed` if any failed."""
        failures: list[Exception] = []
        with anyio.CancelScope(shield=True):
            for fault in reversed(self.faults):
                if fault.reverted:
                    continue
                try:
                    await fault.revert()
                except Exception as exc:  # noqa: BLE001 - every failure is reported below
                    exc.add_note(f"while reverting {fault.describe()}")
                    failures.append(exc)
        if failures:
            names = "; ".join(note for exc in failures for note in getattr(exc, "__notes__", []))
            raise RevertsFailed(
                f"{len(failures)} fault(s) left applied at the end of the test: {names}",
                failures,
            )

    async def __aenter__(self) -> FaultTracker:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.revert_all()


def __getattr__(name: str) -> Any:
    # The contract imports pytest: only load it when it is asked for.
    if name == "InjectorContract":
        from chaoskit._testing_contract import InjectorContract

        return InjectorContract
    raise AttributeError(f"module 'chaoskit.testing' has no attribute {name!r}")
