"""J–V(–L) figures: ideality factor, turn-on voltage, leakage, V at a given J, efficiencies."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from agelab.protocols.analysis.photometry import thermal_voltage
from agelab.protocols.analysis.spectra import eqe_from_luminance


def _sorted(v: np.ndarray, *ys: np.ndarray) -> list[np.ndarray]:
    v = np.asarray(v, dtype=float)
    order = np.argsort(v)
    return [v[order], *(np.asarray(y, dtype=float)[order] for y in ys)]


def ideality_factor(v: np.ndarray, j: np.ndarray, temperature_k: float = 300.0,
                    window_v: float = 0.12, min_points: int = 4, j_floor: float = 1e-5
                    ) -> tuple[np.ndarray, np.ndarray]:
    """n(V) = (q/kT)·dV/d ln J from a least-squares line of V on ln J over a sliding window.

    The window spans ``window_v`` volts and at least ``min_points`` points (a coarse sweep widens
    it): a fit, not point-to-point differences, keeps noise from inventing a steep slope. Windows
    whose current falls below ``j_floor`` (same unit as J) are skipped: leakage and meter floors
    are not the exponential regime.
    """
    v, j = _sorted(v, j)
    vt = thermal_voltage(temperature_k)
    centers, values = [], []
    for i in range(len(v)):
        end = max(int(np.searchsorted(v, v[i] + window_v, side="right")), i + min_points)
        if end > len(v):
            break
        vs, js = v[i:end], j[i:end]
        if np.any(~np.isfinite(js)) or np.any(js <= j_floor):
            continue
        slope = np.polyfit(np.log(js), vs, 1)[0]
        centers.append(float(np.mean(vs)))
        values.append(slope / vt)
    return np.array(centers), np.array(values)


def minimum_ideality(v: np.ndarray, j: np.ndarray, **kwargs) -> float:
    """The smallest ideality factor in the exponential regime (the paper's η_min)."""
    _, n = ideality_factor(v, j, **kwargs)
    positive = n[n > 0]
    if positive.size == 0:
        raise ValueError("no exponential regime found in this J–V curve")
    return float(positive.min())


def voltage_at(v: np.ndarray, y: np.ndarray, level: float) -> float | None:
    """The first bias at which a rising quantity (luminance, J) reaches ``level`` (interpolated
    on a log scale); None if it never does."""
    v = np.asarray(v, dtype=float)
    y = np.asarray(y, dtype=float)
    above = np.nonzero(y >= level)[0]
    if above.size == 0:
        return None
    i = int(above[0])
    if i == 0:
        return float(v[0])
    ly0, ly1 = np.log(max(y[i - 1], 1e-300)), np.log(y[i])
    return float(v[i - 1] + (np.log(level) - ly0) * (v[i] - v[i - 1]) / (ly1 - ly0))


def current_at(v: np.ndarray, j: np.ndarray, bias_v: float) -> float | None:
    """J at one bias (log-interpolated), e.g. the leakage current below turn-on."""
    v, j = _sorted(v, j)
    if not v[0] <= bias_v <= v[-1]:
        return None
    k = int(np.searchsorted(v, bias_v))
    if v[k] == bias_v or k == 0:
        return float(j[k])
    j0, j1 = j[k - 1], j[k]
    if j0 > 0 and j1 > 0:
        w = (bias_v - v[k - 1]) / (v[k] - v[k - 1])
        return float(math.exp((1 - w) * math.log(j0) + w * math.log(j1)))
    return float(np.interp(bias_v, v, j))


def current_efficiency(l_cd_m2: np.ndarray, j_ma_cm2: np.ndarray) -> np.ndarray:
    """cd/A: luminance over current density (1 mA/cm² = 10 A/m²)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(j_ma_cm2) > 0, np.asarray(l_cd_m2) / (10 * np.asarray(j_ma_cm2)),
                        np.nan)


def power_efficiency(l_cd_m2: np.ndarray, j_ma_cm2: np.ndarray, v: np.ndarray) -> np.ndarray:
    """lm/W of a Lambertian emitter: π·L over electrical power density J·V."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 10 * np.asarray(j_ma_cm2) * np.asarray(v)
        return np.where(p > 0, math.pi * np.asarray(l_cd_m2) / p, np.nan)


@dataclass(frozen=True)
class JVFigures:
    t_h: float
    ideality_min: float | None
    turn_on_v: float | None          # at 1 cd/m²
    leakage_ma_cm2: float | None     # J at ``leakage_bias_v``
    v_at_j: float | None             # V at ``reference_j`` mA/cm²
    eqe_max: float | None            # fraction; needs an EL spectrum
    cd_a_max: float | None
    lm_w_max: float | None
    eqe: np.ndarray | None           # per point (NaN where dark)


def jv_figures(t_h: float, v: np.ndarray, j: np.ndarray, lum: np.ndarray,
               spectrum: tuple[np.ndarray, np.ndarray] | None = None, *,
               leakage_bias_v: float = 1.0, reference_j: float = 10.0,
               min_luminance: float = 1.0) -> JVFigures:
    """Every J–V–L figure of one sweep. ``spectrum`` (wavelength, photon counts) is the EL spectrum
    nearest in time; without it EQE is not computed. Efficiencies count only points brighter than
    ``min_luminance`` (below it the photodiode floor dominates)."""
    v, j, lum = _sorted(v, j, lum)
    try:
        n_min: float | None = minimum_ideality(v, j)
    except ValueError:
        n_min = None
    lit = np.isfinite(lum) & (lum >= min_luminance) & (j > 0)
    has_l = bool(np.any(np.isfinite(lum)))
    eqe = None
    if spectrum is not None and has_l:
        wl, counts = spectrum
        eqe = np.array([eqe_from_luminance(lv, jv, wl, counts) if ok else np.nan
                        for lv, jv, ok in zip(lum, j, lit, strict=True)])

    def peak(values: np.ndarray | None) -> float | None:
        if values is None or not np.any(lit):
            return None
        finite = values[lit][np.isfinite(values[lit])]
        return float(finite.max()) if finite.size else None

    return JVFigures(
        t_h=t_h, ideality_min=n_min,
        turn_on_v=voltage_at(v, lum, min_luminance) if has_l else None,
        leakage_ma_cm2=current_at(v, j, leakage_bias_v),
        v_at_j=voltage_at(v, j, reference_j),
        eqe_max=peak(eqe), cd_a_max=peak(current_efficiency(lum, j)),
        lm_w_max=peak(power_efficiency(lum, j, v)), eqe=eqe)
