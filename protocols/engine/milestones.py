"""Milestones detected live, on smoothed luminance, one sample at a time.

Method (it decides when a pixel is stopped, so it is written down):
- each new sample is smoothed by a least-squares line through the last ``window`` samples,
  evaluated at the newest sample: photodiode noise shrinks by about sqrt(window/4), and unlike a
  running mean or median the estimate does not lag a steady decay;
- L0 is the first sample, taken as the stress reaches its set point through the photodiode
  meter's repeat filter (as in ``analysis.lifetime``: a median over the first minute averaged a
  1 % decay into it at 200 mA/cm²);
- Lmax is the running maximum of a longer, centred estimate (a least-squares line through the
  last ``PEAK_WINDOW`` samples read at their middle): the maximum of a noisy series is biased up,
  and with the 5-sample estimate that bias (~0.2 % at 0.1 % photodiode noise) made the red
  device's T95-from-Lmax fire half an hour early; the centred estimate lags, which is harmless
  for a reference that only matters well after the peak;
- no milestone is armed, and Lmax is not tracked, before ``settle_h`` of stress, so the red
  device's turn-on dip (−3 % in its first minutes, recovered later) cannot fire a T97;
- samples taken in the hold-off after an interruption (``holding=True``: the stress was off for a
  J–V or a pause, and the turn-on transient replays) do not raise Lmax, so the brief recovery
  overshoot cannot fake a maximum; milestones are still checked, so a stop is never delayed;
- a milestone fires on the first smoothed sample below its level; its time is the crossing
  interpolated between that sample and the previous one, so the stop lands in the same sampling
  interval as the milestone.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from agelab.protocols.config import Milestone

L0_WINDOW_H = 0.0  # L0 from the samples this close to the first: the first alone
PEAK_WINDOW = 31
PEAK_MIN_SAMPLES = 11


class MilestoneTracker:
    def __init__(self, milestones: dict[str, Milestone], window: int = 5,
                 settle_h: float = 1 / 6) -> None:
        self.milestones = milestones
        self.window = max(1, window)
        self.settle_h = settle_h
        self._recent: deque[tuple[float, float]] = deque(maxlen=self.window)
        self._peak: deque[tuple[float, float]] = deque(maxlen=PEAK_WINDOW)
        self._l0_samples: list[float] = []
        self._t_first: float | None = None
        self.l0: float | None = None
        self.l_max: float | None = None
        self.t_max: float | None = None
        self.smoothed: float | None = None
        self._previous: tuple[float, float] | None = None
        self.reached: dict[str, float] = {}

    # ---------------------------------------------------------------- live
    def add(self, t_h: float, luminance: float, holding: bool = False
            ) -> list[tuple[str, float]]:
        """Feed one sample; returns the milestones it completes, as (name, crossing time)."""
        if not np.isfinite(luminance):
            return []
        if self._t_first is None:
            self._t_first = t_h
        if t_h - self._t_first <= L0_WINDOW_H:
            self._l0_samples.append(luminance)
            self.l0 = float(np.median(self._l0_samples))
        self._recent.append((t_h, luminance))
        value = self._fit()
        armed = t_h >= self.settle_h
        if armed and not holding:
            self._peak.append((t_h, luminance))
            if len(self._peak) >= PEAK_MIN_SAMPLES:
                t_mid, centred = self._centred()
                if self.l_max is None or centred > self.l_max:
                    self.l_max, self.t_max = centred, t_mid
        fired = []
        if armed and self.l0:
            for name, m in self.milestones.items():
                if name in self.reached or (m.reference == "Lmax" and self.l_max is None):
                    continue
                level = m.fraction * (self.l0 if m.reference == "L0" else self.l_max)
                if value < level:
                    self.reached[name] = self._crossing(level, t_h, value)
                    fired.append((name, self.reached[name]))
        self._previous = (t_h, value)
        self.smoothed = value
        return fired

    def relative(self) -> float | None:
        """Smoothed L / L0."""
        if self.smoothed is None or not self.l0:
            return None
        return self.smoothed / self.l0

    def eta_h(self, name: str) -> float | None:
        """Hours until milestone ``name`` at the decay rate of the recent window, if decaying."""
        m = self.milestones.get(name)
        ref = None if m is None else (self.l0 if m.reference == "L0" else self.l_max)
        if ref is None or self.smoothed is None or len(self._recent) < 3:
            return None
        (t0, y0), (t1, y1) = self._recent[0], self._recent[-1]
        if t1 <= t0 or y1 >= y0:
            return None
        return max(0.0, (self.smoothed - m.fraction * ref) * (t1 - t0) / (y0 - y1))

    def _fit(self) -> float:
        if len(self._recent) < 3:
            return float(np.median([v for _, v in self._recent]))
        t = np.array([p[0] for p in self._recent])
        y = np.array([p[1] for p in self._recent])
        _slope, intercept = np.polyfit(t - t[-1], y, 1)
        return float(intercept)

    def _centred(self) -> tuple[float, float]:
        t = np.array([p[0] for p in self._peak])
        y = np.array([p[1] for p in self._peak])
        t_mid = float(np.median(t))
        _slope, intercept = np.polyfit(t - t_mid, y, 1)
        return t_mid, float(intercept)

    def _crossing(self, level: float, t_h: float, value: float) -> float:
        if self._previous is None:
            return t_h
        t0, y0 = self._previous
        if y0 <= level or y0 == value:
            return t_h if y0 > level else t0
        return float(t0 + (level - y0) * (t_h - t0) / (value - y0))
