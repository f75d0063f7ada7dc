"""A diode with ideality factor, series and shunt resistance, solved in closed form.

    J = J0 · (exp((V − J·Rs) / (n·Vt)) − 1) + (V − J·Rs) / Rsh

Both directions, J(V) and V(J), are explicit through the Wright omega function ω(t) = W(eᵗ).
The diode voltage is written as ``a·ln(ω(t)·k)``, which never subtracts two large numbers, so the
solution stays accurate from deep reverse bias to the series-resistance-limited regime.
Units: V in volts, J in A/cm², resistances in Ω·cm².
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import wrightomega

# Below this argument ω(t) = eᵗ·(1 − eᵗ + …) to double precision, so ln ω = t − ω ≈ t − eᵗ
# (the eᵗ term is the saturation current, which matters at small reverse bias).
_OMEGA_EXP_REGIME = -30.0


@dataclass(frozen=True)
class DiodeParams:
    ideality: float
    j0_a_cm2: float
    r_series_ohm_cm2: float
    r_shunt_ohm_cm2: float
    thermal_voltage_v: float

    def __post_init__(self) -> None:
        for name in ("ideality", "j0_a_cm2", "r_series_ohm_cm2", "r_shunt_ohm_cm2",
                     "thermal_voltage_v"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"diode parameter {name} must be finite and > 0, got {value!r}")

    @classmethod
    def from_reference(cls, *, ideality: float, v_ref: float, j_ref_a_cm2: float,
                       r_series_ohm_cm2: float, r_shunt_ohm_cm2: float,
                       thermal_voltage_v: float) -> DiodeParams:
        """Parametrise J0 by the diode voltage ``v_ref`` at which the diode carries ``j_ref``.

        This keeps turn-on fixed while the ideality changes, which is how a physicist reads a J–V.
        """
        a = ideality * thermal_voltage_v
        j0 = j_ref_a_cm2 / math.expm1(v_ref / a)
        return cls(ideality, j0, r_series_ohm_cm2, r_shunt_ohm_cm2, thermal_voltage_v)

    @property
    def a(self) -> float:
        return self.ideality * self.thermal_voltage_v


def _ln_omega(t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    safe = np.where(t < _OMEGA_EXP_REGIME, 0.0, t)
    return np.where(t < _OMEGA_EXP_REGIME, t - np.exp(np.minimum(t, 0.0)),
                    np.log(np.real(wrightomega(safe))))


def current_density(v: np.ndarray | float, p: DiodeParams) -> np.ndarray:
    """Terminal current density J (A/cm²) at terminal voltage V."""
    v = np.asarray(v, dtype=float)
    a, rs, rsh, j0 = p.a, p.r_series_ohm_cm2, p.r_shunt_ohm_cm2, p.j0_a_cm2
    g = 1.0 / rs + 1.0 / rsh
    b = v / rs + j0
    t = math.log(j0 / (g * a)) + b / (g * a)
    v_diode = a * (_ln_omega(t) - math.log(j0 / (g * a)))
    return (v - v_diode) / rs


def diode_voltage(j: np.ndarray | float, p: DiodeParams) -> np.ndarray:
    """Voltage across the junction (excluding the series drop) carrying terminal current J."""
    j = np.asarray(j, dtype=float)
    a, rsh, j0 = p.a, p.r_shunt_ohm_cm2, p.j0_a_cm2
    k = j0 * rsh / a
    t = math.log(k) + (j + j0) * rsh / a
    return a * (_ln_omega(t) - math.log(k))


def voltage(j: np.ndarray | float, p: DiodeParams) -> np.ndarray:
    """Terminal voltage V at terminal current density J (A/cm²)."""
    return diode_voltage(j, p) + np.asarray(j, dtype=float) * p.r_series_ohm_cm2


def voltage_scalar(j: float, p: DiodeParams) -> tuple[float, float]:
    """Fast scalar V(J) for the stress hot path: (terminal voltage, junction voltage)."""
    a, rsh, j0 = p.a, p.r_shunt_ohm_cm2, p.j0_a_cm2
    ln_k = math.log(j0 * rsh / a)
    t = ln_k + (j + j0) * rsh / a
    ln_w = t - math.exp(t) if t < _OMEGA_EXP_REGIME else math.log(float(wrightomega(t).real))
    vd = a * (ln_w - ln_k)
    return vd + j * p.r_series_ohm_cm2, vd
