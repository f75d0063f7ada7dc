"""When a reading was taken, on the host's clock, narrowed by the instrument's own timestamp.

A reading's host window (query sent to reply received) bounds the moment it was taken, but only to
its round trip, which thread scheduling stretches: on the virtual bench at 1500x, 1 ms is 1.5
device-seconds, and the first reading of a blue pixel (its L0) is read where it loses 0.04 % a
device-second. The instrument stamps each reading on its own clock. The offset between the two
clocks is bounded by every reading's window, so the bounds of recent readings, intersected, place
each reading to within the narrowest round trip among them.

Readings are grouped by ``kind`` (the meter's integration set-up): where an instrument stamps a
long, averaged reading (its start, its end) is its own affair, and within one kind that lag is
part of the offset. A bound that contradicts the older ones (the instrument's clock was reset by
a reboot, or drifted) drops them; bounds older than ``horizon_s`` go too, so a drifting clock
(50 ppm is 3 ms a minute) never narrows a window wrongly by more than that. The result always
lies within the reading's own window: a clock that says nothing useful leaves it as it was.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from decimal import Decimal, InvalidOperation


def last_digit(text: str) -> float:
    """The value of a number's last written digit (its resolution): ``+1.234567E+02`` -> 1e-4."""
    try:
        exponent = Decimal(text.strip()).as_tuple().exponent
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not isinstance(exponent, int):  # NaN or infinity
        raise ValueError(f"not a finite number: {text!r}")
    return 10.0 ** exponent


class ReadingClock:
    """Places readings on the host's monotonic clock from their windows and instrument stamps."""

    def __init__(self, horizon_s: float = 60.0, most: int = 64) -> None:
        self.horizon_s = horizon_s
        self._bounds: dict[Hashable, deque[tuple[float, float, float]]] = {}
        self._most = most

    def locate(self, kind: Hashable, began: float, ended: float, stamp: float,
               resolution: float = 0.0) -> tuple[float, float]:
        """The host-clock interval, within ``[began, ended]``, in which a reading of ``kind``
        stamped ``stamp`` (± ``resolution``/2) on the instrument's clock was taken."""
        if not (math.isfinite(stamp) and began <= ended):
            return began, ended
        half = resolution / 2
        # offset = host time - instrument time, for the moment the reading was taken
        bounds = self._bounds.setdefault(kind, deque(maxlen=self._most))
        while bounds and bounds[0][0] < ended - self.horizon_s:
            bounds.popleft()
        bounds.append((ended, began - stamp - half, ended - stamp + half))
        while True:
            low = max(b[1] for b in bounds)
            high = min(b[2] for b in bounds)
            if low <= high:
                break
            bounds.popleft()  # the clock was reset or drifted: the older bounds no longer hold
        start, end = max(began, stamp - half + low), min(ended, stamp + half + high)
        return (start, end) if start <= end else (began, ended)
