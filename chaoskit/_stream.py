"""The run's event stream: each event is journaled, then handed to every
subscriber (ADR 0018). Subscribers are called in the order they subscribed,
synchronously, with the event as the journal holds it; one must not block.

Every subscriber sees the events in journal order: an event emitted while the
stream is handing out another (a safeguard that trips on a sample) is handed
out once every subscriber has had the one before it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TypeVar

from chaoskit._events import Event, EventBase
from chaoskit._journal import Journal

__all__ = ["EventStream", "Subscriber"]

Subscriber = Callable[[Event], None]
E = TypeVar("E", bound=EventBase)


class EventStream:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._subscribers: list[Subscriber] = []
        self._undelivered: deque[Event] = deque()
        self._delivering = False

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def now(self) -> float:
        return self.journal.now()

    def emit(self, event: E, *, durable: bool = False, t: float | None = None) -> E:
        """Journal ``event`` (fsync'd when ``durable``), then tell every subscriber."""
        stored = self.journal.append(event, durable=durable, t=t)
        self._undelivered.append(stored)  # type: ignore[arg-type]
        if not self._delivering:
            self._delivering = True
            try:
                while self._undelivered:
                    next_event = self._undelivered.popleft()
                    for subscriber in self._subscribers:
                        subscriber(next_event)
            finally:
                self._delivering = False
        return stored
