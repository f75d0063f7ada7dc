"""The acceleration fit with channels that stopped before the level: right-censored lifetimes.

ln T = ln C − n · ln L0 + ε, ε ~ N(0, σ²), fitted by maximum likelihood. A channel that reached
the level adds the density of its ln T; one that stopped at t_end first adds the probability
that its ln T lies beyond ln t_end ("T > t_end"), not nothing. Dropping those channels biases n
low: they are the long-lived ones at low current, nearest the luminance the fit extrapolates
to. With no channel censored the estimate is the least-squares line of ``fit_acceleration``, and
the interval is made the same: the slope's standard error from the observed information, scaled
by √(k / (k − 2)) (the ML σ to the unbiased one) and taken to Student's t on k − 2 degrees of
freedom, k the number of channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats


@dataclass(frozen=True)
class LifetimePoint:
    """One channel: its L0, and its lifetime T (``reached``) or the stress time it stopped at."""

    channel: str  # a run's channel; "run/channel" when pooled over runs
    l0_cd_m2: float
    t_h: float
    reached: bool


@dataclass(frozen=True)
class CensoredFit:
    metric: str
    points: tuple[LifetimePoint, ...]
    n: float
    n_ci: tuple[float, float]
    ln_c: float
    sigma: float
    _cov: tuple[tuple[float, float], tuple[float, float]]  # of (ln C, n)
    _t_crit: float

    @property
    def censored(self) -> int:
        return sum(not p.reached for p in self.points)

    def t_at(self, l0_cd_m2: float) -> float:
        return math.exp(self.ln_c - self.n * math.log(l0_cd_m2))

    def t_ci_at(self, l0_cd_m2: float) -> tuple[float, float]:
        """The fitted line's 95 % band at ``l0_cd_m2``."""
        g = np.array([1.0, -math.log(l0_cd_m2)])
        se = math.sqrt(float(g @ np.array(self._cov) @ g))
        centre = self.ln_c - self.n * math.log(l0_cd_m2)
        return math.exp(centre - self._t_crit * se), math.exp(centre + self._t_crit * se)

    def as_dict(self, extrapolate_to: tuple[float, ...] = (100.0, 1000.0)) -> dict:
        return {"metric": self.metric, "n": self.n, "n_ci": list(self.n_ci),
                "ln_c": self.ln_c, "sigma": self.sigma, "channels": len(self.points),
                "censored": self.censored,
                "points": [{"channel": p.channel, "l0_cd_m2": p.l0_cd_m2, "t_h": p.t_h,
                            "reached": p.reached} for p in self.points],
                "extrapolated": [{"l0_cd_m2": lum, "t_h": self.t_at(lum),
                                  "ci": list(self.t_ci_at(lum))} for lum in extrapolate_to]}


class FitError(ValueError):
    """Too few channels for the fit (the message says what is missing)."""


def _negative_log_likelihood(theta: np.ndarray, x: np.ndarray, y: np.ndarray,
                             reached: np.ndarray) -> float:
    ln_c, n, ln_sigma = theta
    sigma = math.exp(ln_sigma)
    z = (y - (ln_c - n * x)) / sigma
    return -float(np.sum(stats.norm.logpdf(z[reached]) - ln_sigma)
                  + np.sum(stats.norm.logsf(z[~reached])))


def fit_censored(metric: str, points: list[LifetimePoint], level: float = 0.95) -> CensoredFit:
    pts = [p for p in points if p.l0_cd_m2 > 0 and p.t_h > 0]
    done = [p for p in pts if p.reached]
    if len(pts) < 3 or len(done) < 2 or np.ptp(np.log([p.l0_cd_m2 for p in done])) < 1e-3:
        raise FitError(f"{metric}: needs three or more channels, two of them at different L0 "
                       f"having reached it ({len(done)} of {len(pts)} did)")
    x = np.log([p.l0_cd_m2 for p in pts])
    y = np.log([p.t_h for p in pts])
    reached = np.array([p.reached for p in pts])
    slope, intercept = np.polyfit(x[reached], y[reached], 1)
    spread = float(np.std(y[reached] - (intercept + slope * x[reached]))) or 0.1
    start = np.array([intercept, -slope, math.log(max(spread, 1e-3))])
    result = optimize.minimize(_negative_log_likelihood, start, args=(x, y, reached),
                               method="Nelder-Mead",
                               options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20_000})
    theta = result.x
    cov = np.linalg.inv(_hessian(lambda t: _negative_log_likelihood(t, x, y, reached), theta))
    k = len(pts)
    scale = k / (k - 2) if k > 2 else 1.0
    cov_line = cov[:2, :2] * scale
    t_crit = float(stats.t.ppf(0.5 + level / 2, max(k - 2, 1)))
    n, half = float(theta[1]), t_crit * math.sqrt(max(cov_line[1, 1], 0.0))
    return CensoredFit(metric, tuple(pts), n, (n - half, n + half), float(theta[0]),
                       math.exp(theta[2]), tuple(map(tuple, cov_line.tolist())), t_crit)


def _hessian(f, theta: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of ``f`` at ``theta``."""
    k = theta.size
    h = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            e_i, e_j = np.eye(k)[i] * step, np.eye(k)[j] * step
            h[i, j] = h[j, i] = (f(theta + e_i + e_j) - f(theta + e_i - e_j)
                                 - f(theta - e_i + e_j) + f(theta - e_i - e_j)) / (4 * step ** 2)
    return h
