"""Aging laws: how a pixel's hidden dose grows under current, and what the dose does to it.

A law maps a drive current density to a dose rate (1/h), and a dose to
- ``output_rel``: the luminance monitor's signal relative to its start, at constant current and
  before the reversible turn-on transient. The monitor is a Si photodiode, as in both papers'
  lifetime rigs, so this is a photon count: when the spectrum narrows and blue-shifts (the red
  device), true photometric luminance rises ~20 % more than this (see ``QledPixel.truth``);
- ``progress``: 0 when pristine, 1 at the preset's reference "aged" point (the end of the red
  device's efficiency elevation, or the blue device's T50); electrical and spectral parameters
  interpolate along it;
- ``plqy_rel``: the QDs' photoluminescence yield relative to pristine.

The dose rate depends on J non-linearly, so both the charge passed and the current density matter,
as in the papers: the red elevation lasts ~60 h at 30 mA/cm² but ~10 h at 100 mA/cm², far from the
3.3× that charge alone would give.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np


def _ease_out(p: float) -> float:
    """1 − (1 − p)²: fastest change at first, zero slope at p = 1 (the end of the elevation)."""
    q = 1.0 - min(max(p, 0.0), 1.0)
    return 1.0 - q * q


@dataclass(frozen=True)
class ElevationLaw:
    """Red CdSe/c-ZnO/Ag: efficiency elevation (ZnO/Ag injection barrier grows), then decay.

    Model choices (the paper gives the figures, not the functional forms):
    - the elevation duration t_el(J) is a power law between the paper's anchors (Fig. 1b, 1c):
      1000 h at 10, 60 h at 30, 20 h at 50 and 10 h at 100 mA/cm², extended with the end slopes;
    - the whole L(t) curve is one master curve in reduced time t / t_el(J), so the later decay is
      accelerated by current exactly as the elevation is;
    - elevation E(p) = 1 + (G − 1)·(1 − (1 − p)²), decay D(p) = exp(−(p/q_d)²);
    - G and q_d are solved so that the measured peak is 1.9·L0 at t_el(J) and T95 (from Lmax) falls
      at 2.5·t_el, i.e. ~50 h at 50 mA/cm² (Fig. 1d).
    """

    anchors_j_ma_cm2: tuple[float, ...] = (10.0, 30.0, 50.0, 100.0)
    anchors_t_el_h: tuple[float, ...] = (1000.0, 60.0, 20.0, 10.0)
    peak_rel: float = 1.9
    t95_from_max_over_t_peak: float = 2.5
    transient_drop: float = 0.05
    plqy_rise: float = 0.05
    _cal: tuple[float, float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cal", self._calibrate())

    def _calibrate(self) -> tuple[float, float, float]:
        """Solve (G, q_d, p_peak) for the target peak height, peak time and T95-from-max."""
        p = np.linspace(0.5, 1.0, 20001)
        h = 1.0 - (1.0 - p) ** 2
        gain, q_d, p_peak = self.peak_rel, 10.0, 1.0
        for _ in range(50):
            curve = (1.0 + (gain - 1.0) * h) * np.exp(-((p / q_d) ** 2))
            i = int(np.argmax(curve))
            p_peak = float(p[i])
            e_peak = 1.0 + (gain - 1.0) * (1.0 - (1.0 - p_peak) ** 2)
            d_peak = math.exp(-((p_peak / q_d) ** 2))
            gain = 1.0 + (self.peak_rel / ((1.0 - self.transient_drop) * d_peak) - 1.0) / (
                1.0 - (1.0 - p_peak) ** 2)
            # Past the elevation E = gain, so L(p95)/L(p_peak) = gain·D(p95)/(E·D)(p_peak) = 0.95.
            p95 = self.t95_from_max_over_t_peak * p_peak
            target = math.log(gain / (0.95 * e_peak)) + (p_peak / q_d) ** 2
            q_d = p95 / math.sqrt(target)
        return gain, q_d, p_peak

    def elevation_hours(self, j_ma_cm2: float) -> float:
        """t_el(J): power law between anchors, end slopes extended beyond them."""
        lj = np.log(self.anchors_j_ma_cm2)
        lt = np.log(self.anchors_t_el_h)
        x = math.log(j_ma_cm2)
        if x <= lj[0]:
            slope = (lt[1] - lt[0]) / (lj[1] - lj[0])
            return math.exp(lt[0] + slope * (x - lj[0]))
        if x >= lj[-1]:
            slope = (lt[-1] - lt[-2]) / (lj[-1] - lj[-2])
            return math.exp(lt[-1] + slope * (x - lj[-1]))
        return math.exp(float(np.interp(x, lj, lt)))

    def dose_rate_per_h(self, j_ma_cm2: float) -> float:
        if j_ma_cm2 <= 0.0:
            return 0.0
        return self._cal[2] / self.elevation_hours(j_ma_cm2)

    def progress(self, dose: float) -> float:
        return _ease_out(dose)

    def output_rel(self, dose: float) -> float:
        gain, q_d, _ = self._cal
        return (1.0 + (gain - 1.0) * _ease_out(dose)) * math.exp(-((dose / q_d) ** 2))

    def plqy_rel(self, dose: float) -> float:
        # PL rises ~5 % during the elevation (Fig. 2b); in the later decay the QDs share the loss.
        _, q_d, _ = self._cal
        return (1.0 + self.plqy_rise * _ease_out(dose)) * math.exp(-0.5 * (dose / q_d) ** 2)


@dataclass(frozen=True)
class AcceleratedDecayLaw:
    """Blue ZnSeTe/ZnMgO/Al: stretched-exponential decay with L0^n · T50 = const.

    Model choices: L/L0 = exp(−dose^β) with β = 0.8; the dose rate at J is (L0(J)/100)^n / τ, with
    L0(J) the pristine luminance at J, so T50 = 16,683 h · (100 / L0)^1.8 exactly. Oxygen vacancies
    (and everything they drive: turn-on, leakage, ideality, C–V onset) follow progress = x^0.25,
    x = dose/dose(T50), saturating at 1.5: most of the ZnMgO change happens before T90, as the KPFM
    shows. PL holds until T90, then falls (15 % by T50), the change propagating from the ETL side.
    """

    t50_h_at_100_cd_m2: float = 16683.0
    acceleration_n: float = 1.8
    beta: float = 0.8
    progress_exponent: float = 0.25
    progress_cap: float = 1.5
    pl_drop_at_t50: float = 0.15
    pristine_luminance: Callable[[float], float] | None = field(default=None, compare=False)

    def bind(self, pristine_luminance: Callable[[float], float]) -> AcceleratedDecayLaw:
        """The same law, told how bright the pristine pixel is at each J."""
        return replace(self, pristine_luminance=pristine_luminance)

    @property
    def dose_t50(self) -> float:
        return math.log(2.0) ** (1.0 / self.beta)

    @property
    def dose_t90(self) -> float:
        return math.log(1.0 / 0.9) ** (1.0 / self.beta)

    def dose_rate_per_h(self, j_ma_cm2: float) -> float:
        if j_ma_cm2 <= 0.0:
            return 0.0
        if self.pristine_luminance is None:
            raise RuntimeError("AcceleratedDecayLaw must be bound to a pixel before use")
        l0 = self.pristine_luminance(j_ma_cm2)
        return self.dose_t50 * (l0 / 100.0) ** self.acceleration_n / self.t50_h_at_100_cd_m2

    def progress(self, dose: float) -> float:
        # Saturates at 1.5× the change at T50: the ZnMgO cannot lose oxygen without limit.
        return min((max(dose, 0.0) / self.dose_t50) ** self.progress_exponent, self.progress_cap)

    def output_rel(self, dose: float) -> float:
        return math.exp(-(max(dose, 0.0) ** self.beta))

    def plqy_rel(self, dose: float) -> float:
        u = (dose - self.dose_t90) / (self.dose_t50 - self.dose_t90)
        return math.exp(math.log(1.0 - self.pl_drop_at_t50) * max(u, 0.0))


AgingLaw = ElevationLaw | AcceleratedDecayLaw
