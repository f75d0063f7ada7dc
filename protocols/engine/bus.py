"""The record stream: what the engine emits, fanned out to the run writer, the CLI and the GUI.

One stream, many subscribers (as Bluesky's documents): each subscriber returns at once (it
queues or signals), so a slow viewer never holds up acquisition.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from agelab.instruments.resilience import FaultEvent
from agelab.protocols.store.records import EventRecord, Record


def fault_record(event: FaultEvent, channel: str | None) -> EventRecord:
    """A fault the resilience layer reported, as the run file's ``fault`` event (dated when it
    happened, on ``channel`` or run-wide)."""
    return EventRecord(channel, "fault", {
        "instrument": event.instrument, "fault": event.kind, "detail": event.detail,
        "attempt": event.attempt}, wall=event.time)


class RecordBus:
    """Fan-out of records to subscribers. A subscriber must return quickly (queue, signal)."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[Record], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Callable[[Record], None]) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)
        return lambda: self._unsubscribe(callback)

    def _unsubscribe(self, callback: Callable[[Record], None]) -> None:
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def publish(self, record: Record) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback(record)
