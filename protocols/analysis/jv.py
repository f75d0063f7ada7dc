"""J–V(–L) figures: ideality factor, turn-on voltage, leakage."""

from __future__ import annotations

import numpy as np

from instruments.sim.photometry import thermal_voltage


def ideality_factor(v: np.ndarray, j: np.ndarray, temperature_k: float = 300.0,
                    window_v: float = 0.12, j_floor: float = 1e-5
                    ) -> tuple[np.ndarray, np.ndarray]:
    """n(V) = (q/kT)·dV/d ln J from a least-squares line of V on ln J over a sliding window.

    A window of ``window_v`` volts (not point-to-point differences) keeps noise from inventing a
    steep slope; windows whose current falls below ``j_floor`` (same unit as J) are skipped, since
    leakage and meter floors are not the exponential regime.
    """
    v = np.asarray(v, dtype=float)
    j = np.asarray(j, dtype=float)
    order = np.argsort(v)
    v, j = v[order], j[order]
    vt = thermal_voltage(temperature_k)
    centers, values = [], []
    for i in range(len(v)):
        sel = (v >= v[i]) & (v <= v[i] + window_v)
        if sel.sum() < 3 or np.any(j[sel] <= j_floor):
            continue
        slope = np.polyfit(np.log(j[sel]), v[sel], 1)[0]
        centers.append(float(np.mean(v[sel])))
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
    """The first bias at which a rising quantity (luminance, J) reaches ``level``; None if never."""
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
