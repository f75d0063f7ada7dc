"""The acceleration-factor fit: L0^n · T = const across the channels of a study.

ln T = ln C − n · ln L0 is fitted by least squares to every channel that reached the level (T50,
T90, T95 ...); the 95 % confidence interval of n is Student's t on the slope's standard error
(k − 2 degrees of freedom, so three channels give a wide, honest interval and two give none).
Extrapolation to a lower luminance carries the fit's confidence band. A fixed n (the blue paper
uses 1.8) gives C as the geometric mean of T·L0^n over the channels instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class AccelerationPoint:
    channel: str
    l0_cd_m2: float
    t_h: float


@dataclass(frozen=True)
class AccelerationFit:
    metric: str                      # "T50", "T90", ...
    points: tuple[AccelerationPoint, ...]
    n: float
    n_ci: tuple[float, float] | None
    ln_c: float
    fixed: bool = False              # n was given, not fitted
    _sxx: float = 0.0
    _mean_ln_l: float = 0.0
    _resid_sd: float = 0.0

    def t_at(self, l0_cd_m2: float) -> float:
        """The lifetime extrapolated to an initial luminance."""
        return math.exp(self.ln_c - self.n * math.log(l0_cd_m2))

    def t_ci_at(self, l0_cd_m2: float, level: float = 0.95) -> tuple[float, float] | None:
        """Confidence band of the fitted line at ``l0_cd_m2`` (None for a fixed n or 2 points)."""
        dof = len(self.points) - 2
        if self.fixed or dof < 1:
            return None
        x = math.log(l0_cd_m2)
        se = self._resid_sd * math.sqrt(1 / len(self.points) + (x - self._mean_ln_l) ** 2
                                        / self._sxx)
        half = stats.t.ppf(0.5 + level / 2, dof) * se
        centre = self.ln_c - self.n * x
        return math.exp(centre - half), math.exp(centre + half)


def fit_acceleration(metric: str, points: list[AccelerationPoint], level: float = 0.95
                     ) -> AccelerationFit | None:
    """The fitted n; None unless two channels at distinct L0 reached the level."""
    pts = [p for p in points if p.l0_cd_m2 > 0 and p.t_h > 0]
    x = np.log([p.l0_cd_m2 for p in pts])
    if len(pts) < 2 or np.ptp(x) < 1e-3:
        return None
    y = np.log([p.t_h for p in pts])
    slope, intercept = np.polyfit(x, y, 1)
    sxx = float(np.sum((x - x.mean()) ** 2))
    dof = len(pts) - 2
    ci = None
    resid_sd = 0.0
    if dof >= 1:
        resid_sd = float(np.sqrt(np.sum((y - (intercept + slope * x)) ** 2) / dof))
        half = stats.t.ppf(0.5 + level / 2, dof) * resid_sd / math.sqrt(sxx)
        ci = (float(-slope - half), float(-slope + half))
    return AccelerationFit(metric, tuple(pts), float(-slope), ci, float(intercept),
                           _sxx=sxx, _mean_ln_l=float(x.mean()), _resid_sd=resid_sd)


def fixed_n_acceleration(metric: str, points: list[AccelerationPoint], n: float
                         ) -> AccelerationFit | None:
    """Extrapolation with a given n: ln C is the mean of ln T + n·ln L0."""
    pts = [p for p in points if p.l0_cd_m2 > 0 and p.t_h > 0]
    if not pts:
        return None
    ln_c = float(np.mean([math.log(p.t_h) + n * math.log(p.l0_cd_m2) for p in pts]))
    return AccelerationFit(metric, tuple(pts), n, None, ln_c, fixed=True)


# ---------------------------------------------------------------------------- with temperature
BOLTZMANN_EV_K = 8.617333262e-5
KELVIN = 273.15


@dataclass(frozen=True)
class ThermalPoint:
    channel: str
    l0_cd_m2: float
    temperature_c: float
    t_h: float


@dataclass(frozen=True)
class JointFit:
    """T = C · L0^(−n) · exp(Ea / kT), fitted as ln T = ln C − n ln L0 + Ea/(kT) by least
    squares over channels at several currents and temperatures; 95 % intervals are Student's t
    on the coefficients' standard errors (k − 3 degrees of freedom)."""

    metric: str
    points: tuple[ThermalPoint, ...]
    n: float
    n_ci: tuple[float, float] | None
    ea_ev: float
    ea_ci: tuple[float, float] | None
    ln_c: float
    _cov: tuple[tuple[float, ...], ...] = ()
    _t_crit: float = 0.0

    def t_at(self, l0_cd_m2: float, temperature_c: float = 25.0) -> float:
        """The lifetime extrapolated to an initial luminance and a temperature."""
        return math.exp(float(np.dot(self._row(l0_cd_m2, temperature_c),
                                     (self.ln_c, self.n, self.ea_ev))))

    def t_ci_at(self, l0_cd_m2: float, temperature_c: float = 25.0
                ) -> tuple[float, float] | None:
        if not self._cov:
            return None
        row = self._row(l0_cd_m2, temperature_c)
        centre = float(np.dot(row, (self.ln_c, self.n, self.ea_ev)))
        half = self._t_crit * math.sqrt(float(row @ np.array(self._cov) @ row))
        return math.exp(centre - half), math.exp(centre + half)

    @staticmethod
    def _row(l0_cd_m2: float, temperature_c: float) -> np.ndarray:
        return np.array([1.0, -math.log(l0_cd_m2),
                         1.0 / (BOLTZMANN_EV_K * (temperature_c + KELVIN))])


def fit_joint(metric: str, points: list[ThermalPoint], level: float = 0.95) -> JointFit | None:
    """n and Ea fitted together; None unless the channels span at least two L0 and two
    temperatures (and there are more than three of them, for an interval)."""
    pts = [p for p in points if p.l0_cd_m2 > 0 and p.t_h > 0]
    if len(pts) < 3:
        return None
    ln_l = np.log([p.l0_cd_m2 for p in pts])
    inv_kt = 1.0 / (BOLTZMANN_EV_K * (np.array([p.temperature_c for p in pts]) + KELVIN))
    if np.ptp(ln_l) < 1e-3 or np.ptp(inv_kt) < 1e-6:
        return None
    design = np.column_stack([np.ones(len(pts)), -ln_l, inv_kt])
    y = np.log([p.t_h for p in pts])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = len(pts) - 3
    n_ci = ea_ci = None
    cov: tuple = ()
    t_crit = 0.0
    if dof >= 1:
        resid = y - design @ coef
        s2 = float(resid @ resid) / dof
        matrix = s2 * np.linalg.inv(design.T @ design)
        t_crit = float(stats.t.ppf(0.5 + level / 2, dof))
        se = np.sqrt(np.diag(matrix))
        n_ci = (float(coef[1] - t_crit * se[1]), float(coef[1] + t_crit * se[1]))
        ea_ci = (float(coef[2] - t_crit * se[2]), float(coef[2] + t_crit * se[2]))
        cov = tuple(tuple(float(v) for v in r) for r in matrix)
    return JointFit(metric, tuple(pts), float(coef[1]), n_ci, float(coef[2]), ea_ci,
                    float(coef[0]), cov, t_crit)
