"""Lifetimes from a luminance trace under constant current.

Method (documented because it decides the numbers):
- the trace is smoothed with a centred running median (window ~1 % of the samples, at least 5),
  which removes photodiode noise without shifting a monotonic decay;
- L0 is the median of the raw samples of the first device-minute (at least one), the luminance
  when the stress starts, before any turn-on transient;
- t_peak is the time of the smoothed maximum, Lmax its value;
- T_x relative to L0 is the first time the smoothed trace falls below x·L0 *after the peak*, so the
  red device's rise, and a transient dip before it, are never mistaken for decay; T_x from Lmax is
  the same crossing measured against Lmax; crossings are interpolated linearly between samples;
- a level never crossed is censored: ``None`` (the report prints "> t_end").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter

DEFAULT_FRACTIONS = (0.97, 0.95, 0.90, 0.80, 0.70, 0.50)


@dataclass(frozen=True)
class Lifetimes:
    l0: float
    l_max: float
    t_peak_h: float
    t_end_h: float
    from_l0: dict[float, float | None]
    from_max: dict[float, float | None]


def smooth(luminance: np.ndarray, window: int | None = None) -> np.ndarray:
    y = np.asarray(luminance, dtype=float)
    if window is None:
        window = max(5, len(y) // 100)
    window = min(window, len(y)) | 1  # odd, and no longer than the trace
    return median_filter(y, size=window, mode="nearest")


def _crossing(t: np.ndarray, y: np.ndarray, level: float, start: int) -> float | None:
    below = np.nonzero(y[start:] < level)[0]
    if below.size == 0:
        return None
    i = start + int(below[0])
    if i == 0:
        return float(t[0])
    t0, t1, y0, y1 = t[i - 1], t[i], y[i - 1], y[i]
    if y1 == y0:
        return float(t1)
    return float(t0 + (level - y0) * (t1 - t0) / (y1 - y0))


def lifetimes(t_h: np.ndarray, luminance: np.ndarray,
              fractions: tuple[float, ...] = DEFAULT_FRACTIONS, l0_window_h: float = 1 / 60
              ) -> Lifetimes:
    t = np.asarray(t_h, dtype=float)
    y = np.asarray(luminance, dtype=float)
    if t.shape != y.shape or t.size < 2:
        raise ValueError("lifetimes need matching time and luminance arrays of 2+ samples")
    s = smooth(y)
    first = max(1, int(np.count_nonzero(t - t[0] <= l0_window_h)))
    l0 = float(np.median(y[:first]))
    i_peak = int(np.argmax(s))
    l_max = float(s[i_peak])
    return Lifetimes(
        l0=l0, l_max=l_max, t_peak_h=float(t[i_peak]), t_end_h=float(t[-1]),
        from_l0={f: _crossing(t, s, f * l0, i_peak) for f in fractions},
        from_max={f: _crossing(t, s, f * l_max, i_peak) for f in fractions},
    )
