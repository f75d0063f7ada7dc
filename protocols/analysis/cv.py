"""C–V figures: the capacitance-rise onset, by the tangent method.

The onset is where the tangent at the steepest point of the rise meets the geometric-capacitance
baseline (the flat low-bias capacitance). This is how the dashed lines of the red paper's Fig. 2e
read, and unlike a threshold on C it does not depend on how large the rise is.
"""

from __future__ import annotations

import numpy as np


def capacitance_onset(v: np.ndarray, c: np.ndarray, baseline_points: int = 5) -> float:
    v = np.asarray(v, dtype=float)
    c = np.asarray(c, dtype=float)
    order = np.argsort(v)
    v, c = v[order], c[order]
    if v.size < baseline_points + 3:
        raise ValueError("a C–V onset needs more bias points")
    baseline = float(np.median(c[:baseline_points]))
    i_peak = int(np.argmax(c))
    if i_peak < 2 or c[i_peak] <= baseline:
        raise ValueError("this C–V curve shows no capacitance rise")
    slope = np.gradient(c[: i_peak + 1], v[: i_peak + 1])
    k = int(np.argmax(slope))
    return float(v[k] - (c[k] - baseline) / slope[k])


def geometric_capacitance(v: np.ndarray, c: np.ndarray, baseline_points: int = 5) -> float:
    order = np.argsort(np.asarray(v, dtype=float))
    return float(np.median(np.asarray(c, dtype=float)[order][:baseline_points]))
