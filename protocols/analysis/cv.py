"""C–V figures: the capacitance-rise onset, the peak voltage and the geometric capacitance.

Onset method (documented because it decides the number): the curve up to its peak is interpolated
with a cubic spline; the onset is where the tangent at the steepest point of the rise meets the
geometric-capacitance baseline (the median of the lowest-bias points). This is how the dashed lines
of the red paper's Fig. 2e read; unlike a threshold on C it does not depend on how large the rise
is, and the spline keeps a 0.1 V bias step from biasing it (a finite-difference tangent on that
grid reads 25 mV low).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline


def _sorted(v: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(v, dtype=float)
    c = np.asarray(c, dtype=float)
    keep = np.isfinite(v) & np.isfinite(c)
    v, c = v[keep], c[keep]
    order = np.argsort(v)
    return v[order], c[order]


def geometric_capacitance(v: np.ndarray, c: np.ndarray, baseline_points: int = 5) -> float:
    """The flat low-bias capacitance (the dielectric stack's geometric capacitance)."""
    _, c = _sorted(v, c)
    return float(np.median(c[:baseline_points]))


def capacitance_onset(v: np.ndarray, c: np.ndarray, baseline_points: int = 5) -> float:
    v, c = _sorted(v, c)
    if v.size < baseline_points + 3:
        raise ValueError("a C–V onset needs more bias points")
    baseline = float(np.median(c[:baseline_points]))
    i_peak = int(np.argmax(c))
    if i_peak < 3 or c[i_peak] <= baseline:
        raise ValueError("this C–V curve shows no capacitance rise")
    spline = CubicSpline(v[: i_peak + 1], c[: i_peak + 1])
    x = np.linspace(v[0], v[i_peak], 20 * i_peak + 1)
    slope = spline(x, 1)
    k = int(np.argmax(slope))
    if slope[k] <= 0:
        raise ValueError("this C–V curve shows no capacitance rise")
    return float(x[k] - (spline(x[k]) - baseline) / slope[k])


def peak_voltage(v: np.ndarray, c: np.ndarray) -> float:
    """Bias of the capacitance maximum, refined by a parabola through it and its neighbours."""
    v, c = _sorted(v, c)
    i = int(np.argmax(c))
    if 0 < i < v.size - 1:
        a, b, _ = np.polyfit(v[i - 1: i + 2], c[i - 1: i + 2], 2)
        if a < 0:
            return float(np.clip(-b / (2 * a), v[i - 1], v[i + 1]))
    return float(v[i])


@dataclass(frozen=True)
class CVFigures:
    t_h: float
    onset_v: float | None
    peak_v: float
    geometric_f: float


def cv_figures(t_h: float, v: np.ndarray, c: np.ndarray) -> CVFigures:
    try:
        onset: float | None = capacitance_onset(v, c)
    except ValueError:
        onset = None
    return CVFigures(t_h, onset, peak_voltage(v, c), geometric_capacitance(v, c))
