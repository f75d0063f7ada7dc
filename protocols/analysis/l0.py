"""L0 read off the early trace at a fixed stress time, the same for every channel.

L0 is taken at ``L0_AT_H`` (10 s) into the stress. The first reading comes seconds in on hardware,
but whenever the host gets to it: a reading retried through a timeout or a reconnect comes seconds
late (a device-hour at the virtual bench's highest speed-ups), and a busy host delays it by
device-minutes there. On a pixel whose early decay is steep that is not small: a blue device's
stretched exponential is steepest at the start, and a first reading 0.02 device-h late moves its
T95 by about 1 %. So the trace is read at the fixed time off a stretched exponential L =
A·exp(−(t/τ)^β), its three parameters free, fitted by weighted least squares over the early trace
(up to the first interruption, or the decay to 90 % of the first reading), the first reading
weighted by the readings it integrates.

Why 10 s and not t = 0: the t = 0 sweeps age the pixel before its stress starts, so its trace is
no stretched exponential from t = 0 (on the bench at 200 mA/cm², log(−log L/L0) against log t
has slope 0.85, not 0.8), and read back to t = 0 the fit was 0.16 % high (blue T97s 3-8 %
early). A fourth parameter for that pre-stress age left L0 undetermined (σ 14 %). Ten seconds
is where the bench's first readings fall at 1500x, and a few samples in on hardware.

On a synthetic blue trace (β = 0.8, 0.1 % noise, 2-min samples) read 0.5 h late, the fit put
T95 within 0.25 % (sd over 200 noise draws) where the late reading put it 7.5 % late; read on
time, a plain first reading scatters T95 by 0.24 %.

A trace that is not such a decay (the red device's turn-on dip and rise, a shape the model
misfits) is not read back: the fit must describe it to within its noise (reduced χ² under
``CHI2_MAX``). Then the first reading stays L0, and where it came late the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit

L0_AT_H = 10.0 / 3600.0
MIN_SAMPLES = 20
CHI2_MAX = 2.0
DECAY_FLOOR = 0.9  # the fit stops where the trace falls to this fraction of its first reading
# Relative: a noise-free trace (a replay of the bench's truth) still gets a finite weight.
NOISE_FLOOR = 1e-5


@dataclass(frozen=True)
class EarlyFit:
    """L0 at ``due_h`` from a fit over the first ``n`` readings (to ``end_h``)."""

    l0: float
    sigma: float
    due_h: float
    n: int
    end_h: float
    beta: float


def _model(t: np.ndarray, a: float, log_tau: float, beta: float) -> np.ndarray:
    return a * np.exp(-np.power(np.maximum(t, 0.0) / np.exp(log_tau), beta))


def read_back(t: np.ndarray, y: np.ndarray, due_h: float, end_h: float,
              first_readings: float) -> EarlyFit | str:
    """The early trace (``t``, ``y``: readings as measured, the first L0's own) read at
    ``due_h``; ``end_h`` bounds the window (the first interruption). The first reading's noise
    is a sample's over the root of ``first_readings``. Returns the fit, or why there is none."""
    below = np.flatnonzero(y < y[0] * DECAY_FLOOR)
    inside = (np.arange(t.size) < (below[0] if below.size else t.size)) & (t <= end_h)
    tw, yw = t[inside], y[inside]
    if tw.size < MIN_SAMPLES:
        return f"{tw.size} readings before the first interruption, under {MIN_SAMPLES}"
    # A sample's noise from successive differences: the trend between two samples is far
    # below it on an early trace sampled every minute or two.
    noise = 1.4826 * float(np.median(np.abs(np.diff(yw[1:])))) / np.sqrt(2.0)
    sigma = np.full(tw.size, max(noise, NOISE_FLOOR * abs(y[0])))
    sigma[0] /= np.sqrt(max(first_readings, 1.0))
    drop = max(1.0 - float(np.median(yw[-5:])) / yw[0], 1e-6)
    p0 = (yw[0], np.log(tw[-1] / drop ** (1 / 0.8)), 0.8)
    try:
        p, cov = curve_fit(_model, tw, yw, p0=p0, sigma=sigma, absolute_sigma=True,
                           bounds=([0.0, -50.0, 0.1], [np.inf, 50.0, 3.0]), maxfev=5000)
    except (RuntimeError, ValueError) as exc:
        return f"the stretched-exponential fit failed ({exc})"
    if not np.all(np.isfinite(cov)):
        return "the stretched-exponential fit is not determined by the early trace"
    chi2 = float(np.sum(((yw - _model(tw, *p)) / sigma) ** 2)) / (tw.size - 3)
    if chi2 > CHI2_MAX:
        return f"the early trace is not a stretched-exponential decay (reduced chi2 {chi2:.3g})"
    l0 = float(_model(np.array([due_h]), *p)[0])
    if not np.isfinite(l0):
        return "the stretched-exponential fit has no value at the due time"
    # Its error: the fit's covariance carried to the value at the due time.
    step = np.maximum(np.abs(p) * 1e-6, 1e-9)
    grad = np.array([(_model(np.array([due_h]), *(p + dp))[0] - l0) / dp[k]
                     for k, dp in enumerate(np.diag(step))])
    return EarlyFit(l0=l0, sigma=float(np.sqrt(max(grad @ cov @ grad, 0.0))), due_h=due_h,
                    n=int(tw.size), end_h=float(tw[-1]), beta=float(p[2]))
