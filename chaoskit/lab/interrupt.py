"""Signals while the lab starts: turned into :class:`LabInterrupted`, so that ``up``
takes down whatever it had begun and the caller can say what happened.

Python's default for SIGTERM ends the process at once, without a word and with
half-started containers or processes left behind; SIGINT raises KeyboardInterrupt
wherever the main thread happens to be. Inside :func:`signals_interrupt` both raise
:class:`LabInterrupted` once; a second signal while the clean-up runs is ignored so
that it is not cut short. Within :func:`held` (a process being spawned and not yet
recorded) a signal waits until the block ends, so that nothing starts unrecorded.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

__all__ = ["LabInterrupted", "held", "signals_interrupt"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class LabInterrupted(BaseException):
    """SIGINT or SIGTERM arrived while the lab was being brought up. A
    ``BaseException``, like KeyboardInterrupt, so no ``except Exception`` on the way
    swallows it; by the time it reaches the caller, ``up`` has taken down what it
    had started."""

    def __init__(self, signum: int) -> None:
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"{self.signal_name} while bringing the lab up")


@dataclass
class _Gate:
    """Signal handling is per process, so is this: whether a block is active, whether
    a signal was raised already, and one that waits for the end of a held section."""

    active: bool = False
    raised: bool = False
    holding: int = 0
    pending: int | None = None

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if self.raised or self.pending is not None:
            return
        if self.holding:
            self.pending = signum
            return
        self.raised = True
        raise LabInterrupted(signum)


_gate = _Gate()


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`LabInterrupted` once;
    later ones are ignored so that the clean-up finishes. Outside the main thread
    signals cannot be handled: then it changes nothing."""
    if threading.current_thread() is not threading.main_thread() or _gate.active:
        yield
        return
    _gate.active, _gate.raised, _gate.holding, _gate.pending = True, False, 0, None
    previous = {signum: signal.signal(signum, _gate.handler) for signum in _SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        _gate.active = False


@contextmanager
def held() -> Iterator[None]:
    """A section a signal must not cut in two (spawn a process, record it): a signal
    that arrives meanwhile raises :class:`LabInterrupted` when the section ends."""
    _gate.holding += 1
    try:
        yield
    finally:
        _gate.holding -= 1
        if not _gate.holding and _gate.pending is not None and _gate.active:
            signum, _gate.pending = _gate.pending, None
            _gate.raised = True
            raise LabInterrupted(signum)
