"""Constant-luminance stress: the current that holds the photodiode reading at L0.

At each sample the luminance is compared with L0; outside the band, the current is set to what
brings it back (luminance is close to proportional to current over a few per cent), never above
the safety limit. The efficiency relative to the start, (L/L0)·(I0/I), is what ages: the
milestones are read from it, so "T90" is the time the current has risen by 1/0.9 at the held
luminance.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LuminanceHold:
    band: float       # a fraction of L0
    start_a: float    # the starting current (the stress's current_density)
    max_a: float      # safety.max_current_density over the pixel's area
    level_a: float    # the current set now
    at_limit: bool = False  # the current has reached the safety limit

    def tracked(self, luminance: float) -> float:
        """What the milestones follow: the luminance the present efficiency would give at the
        starting current, ``L · I0 / I``."""
        return luminance * self.start_a / self.level_a

    def next_level(self, luminance: float, l0: float | None) -> float | None:
        """The current that brings ``luminance`` back to ``l0``, or None when it is within the
        band (or cannot be raised any further)."""
        if not l0 or luminance <= 0 or abs(luminance / l0 - 1.0) <= self.band:
            return None
        level = min(self.level_a * l0 / luminance, self.max_a)
        self.at_limit = level >= self.max_a
        return None if level == self.level_a else level
