"""Device time for the engine: ``speedup`` times the wall clock (1 on real hardware).

The virtual bench runs its pixels on the same rate, so schedules in device hours mean the same to
the engine and to the model.
"""

from __future__ import annotations

import time


class EngineClock:
    def __init__(self, speedup: float = 1.0) -> None:
        if not speedup > 0:
            raise ValueError(f"speedup must be > 0, got {speedup!r}")
        self.speedup = speedup
        self._t0 = time.monotonic()

    def restart(self) -> None:
        """Device time 0 is now (the engine calls this when its runners start)."""
        self._t0 = time.monotonic()

    def hours(self) -> float:
        """Device hours since this clock started."""
        return (time.monotonic() - self._t0) * self.speedup / 3600.0

    def hours_at(self, monotonic_s: float) -> float:
        """Device hours since this clock started at a ``time.monotonic()`` moment."""
        return (monotonic_s - self._t0) * self.speedup / 3600.0

    def hours_of(self, wall_seconds: float) -> float:
        """The device hours that ``wall_seconds`` of wall time are."""
        return wall_seconds * self.speedup / 3600.0

    def wall_seconds(self, device_hours: float) -> float:
        return device_hours * 3600.0 / self.speedup
