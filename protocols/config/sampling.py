"""When a channel samples: a fixed interval, optionally after a log-spaced start.

Early T-values come within minutes on a fast-aging pixel (a blue T97 at 200 mA/cm² falls ~3 min
in), where a 1-min interval gives a handful of samples. A log-spaced start samples every
``first`` at first, then keeps ``per_decade`` samples per decade of stress time (each interval a
fixed fraction of the time so far) until the interval reaches the steady one. On an L/L0 against
log t plot that is an even density of points; it adds only ~2 × per_decade samples to a run.

The grid is absolute: it depends on the schedule alone, never on when the last sample was taken,
so a late sample (a retried reading, a checkpoint, a resume) does not shift the ones after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_EPS = 1e-9  # relative: grid points closer than this are one point


@dataclass(frozen=True)
class SamplingSchedule:
    interval_h: float                 # the steady interval
    first_h: float | None = None      # the first interval of a log-spaced start (None: none)
    per_decade: int = 100

    def __post_init__(self) -> None:
        if not self.interval_h > 0:
            raise ValueError(f"sampling interval must be > 0, got {self.interval_h!r}")

    @property
    def _log(self) -> tuple[float, float, float] | None:
        """(growth per sample, start of the geometric part, start of the steady part), each
        part starting on a point of the one before, so no step is shorter than the last."""
        if self.first_h is None or not 0 < self.first_h < self.interval_h:
            return None
        growth = 10 ** (1 / self.per_decade) - 1
        t_geometric = math.ceil(1 / growth - _EPS) * self.first_h
        m = math.ceil(math.log(self.interval_h / (growth * t_geometric)) / math.log1p(growth)
                      - _EPS)
        return growth, t_geometric, t_geometric * (1 + growth) ** max(m, 0)

    def next_after(self, t_h: float) -> float:
        """The first sample time of the grid strictly after ``t_h``."""
        log = self._log
        if log is None:
            return _next_multiple(t_h, 0.0, self.interval_h)
        growth, t_geometric, t_steady = log
        if t_h < t_geometric:  # every `first` until that is the fraction of the time so far
            return min(_next_multiple(t_h, 0.0, self.first_h), t_geometric)
        if t_h < t_steady:
            m = math.floor(math.log(t_h / t_geometric) / math.log1p(growth))
            candidate = t_geometric * (1 + growth) ** m
            while candidate <= t_h * (1 + _EPS):  # a grid point is not its own successor
                candidate *= 1 + growth
            return min(candidate, t_steady)
        return _next_multiple(t_h, t_steady, self.interval_h)


def _next_multiple(t_h: float, origin: float, step: float) -> float:
    """origin + k·step for the least k with a result above t_h (proof against rounding: a grid
    point, computed again, must not come back as its own successor)."""
    k = max(math.floor((t_h - origin) / step), 0)
    while origin + k * step <= t_h + step * _EPS:
        k += 1
    return origin + k * step
