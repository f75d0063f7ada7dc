"""What a virtual QLED preset does, measured the way the rig would measure it.

Every figure here comes from the model's *observables* (a photodiode trace under constant current,
J–V and C–V sweeps, spectra), analysed by the same functions that analyse real runs, and is set
against the paper's figure. ``agelab sim --describe`` prints it; the tests assert it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from agelab.instruments.station.virtual import QledPixel
from agelab.protocols.analysis.cv import capacitance_onset
from agelab.protocols.analysis.jv import minimum_ideality, voltage_at
from agelab.protocols.analysis.lifetime import lifetimes
from agelab.protocols.analysis.spectra import band_fraction, eqe_from_luminance, peak_and_fwhm

WAVELENGTHS = np.arange(350.0, 800.0, 0.25)
SWEEP_V = np.arange(0.0, 4.5, 0.02)
CV_V = np.arange(-1.0, 3.5, 0.02)
LASER_W = 1e-3


@dataclass(frozen=True)
class Figure:
    quantity: str
    paper: str
    measured: float | None
    unit: str
    target: float | None = None
    tolerance: float | None = None      # absolute, in ``unit``
    check: Callable[[float], bool] | None = None

    @property
    def ok(self) -> bool:
        if self.measured is None:
            return False
        if self.check is not None:
            return bool(self.check(self.measured))
        return abs(self.measured - self.target) <= self.tolerance


def stress_trace(px: QledPixel, j_ma_cm2: float, duration_h: float, dt_h: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Luminance under constant current, read by the photodiode calibrated to cd/m² at t = 0."""
    cal = px.luminance(j_ma_cm2) / px.photodiode_current(j_ma_cm2)
    n = round(duration_h / dt_h)
    t = np.empty(n + 1)
    lum = np.empty(n + 1)
    t[0], lum[0] = px.t_h, px.read_photodiode(j_ma_cm2) * cal
    for i in range(1, n + 1):
        px.advance(dt_h, j_ma_cm2)
        t[i], lum[i] = px.t_h, px.read_photodiode(j_ma_cm2) * cal
    return t - t[0], lum


def _pl_signal(px: QledPixel, j_ma_cm2: float) -> float:
    """The lock-in's view: the photodiode's PL part, the DC EL rejected."""
    return px.photodiode_current(j_ma_cm2, LASER_W) - px.photodiode_current(j_ma_cm2)


def _spectrum(px: QledPixel, j: float = 10.0) -> tuple[float, float]:
    return peak_and_fwhm(WAVELENGTHS, px.el_spectrum(j, WAVELENGTHS))


def _spectrum_figures(px: QledPixel, when: str, peak_nm: float, fwhm_nm: float) -> list[Figure]:
    """EL peak and FWHM of the pixel as it is now, against the paper's values."""
    peak, fwhm = _spectrum(px)
    return [Figure(f"EL peak, {when}", f"{peak_nm:g} nm", peak, "nm", peak_nm, 1.0),
            Figure(f"EL FWHM, {when}", f"{fwhm_nm:g} nm", fwhm, "nm", fwhm_nm, 2.0)]


def _min_ideality(px: QledPixel) -> float:
    return minimum_ideality(SWEEP_V, px.current_density(SWEEP_V))


def _cv_onset(px: QledPixel) -> float:
    return capacitance_onset(CV_V, px.impedance(CV_V, 1e3)[0])


def _peak_eqe_and_max_luminance(px: QledPixel) -> tuple[float, float]:
    js = np.logspace(-2, 4, 241)
    lum = np.array([px.luminance(j) for j in js])
    eqe = [eqe_from_luminance(lv, j, WAVELENGTHS, px.el_spectrum(j, WAVELENGTHS))
           for j, lv in zip(js, lum, strict=True) if lv > 1.0]
    return max(eqe), float(lum.max())


def red_card(seed: int = 0) -> list[Figure]:
    figs: list[Figure] = []
    px = QledPixel("red-cdse", seed=seed)
    figs += _spectrum_figures(px, "pristine", 626.0, 30.0)
    tfb0 = band_fraction(WAVELENGTHS, px.el_spectrum(10.0, WAVELENGTHS), 400, 460)
    n0, onset0 = _min_ideality(px), _cv_onset(px)
    for j, t_el in zip((10.0, 30.0, 50.0, 100.0), (1000.0, 60.0, 20.0, 10.0), strict=True):
        px = QledPixel("red-cdse", seed=seed)
        pl0 = _pl_signal(px, j)
        duration = 3.0 * t_el if j == 50.0 else 1.6 * t_el
        t, lum = stress_trace(px, j, duration, t_el / 1000.0)
        lt = lifetimes(t, lum)
        figs.append(Figure(f"elevation duration (t_peak) at {j:g} mA/cm2", f"~{t_el:g} h",
                           lt.t_peak_h, "h", t_el, 0.1 * t_el))
        figs.append(Figure(f"Lmax/L0 at {j:g} mA/cm2", "~1.9", lt.l_max / lt.l0, "", 1.9, 0.1))
        if j == 50.0:
            figs.append(Figure("T95 from Lmax at 50 mA/cm2", "~50 h", lt.from_max[0.95], "h",
                               50.0, 5.0))
        if j == 100.0:
            # The state at the end of the elevation: the paper's "aged" device of Fig. 2.
            px_aged = QledPixel("red-cdse", seed=seed)
            px_aged.advance(t_el, j)
            pl_rel = _pl_signal(px_aged, j) / pl0
            figs.append(Figure("PL at the end of the elevation (lock-in)", "+5 %",
                               100 * (pl_rel - 1), "%", 5.0, 2.0))
            figs += _spectrum_figures(px_aged, "after elevation", 623.0, 24.0)
            figs += [Figure("minimum ideality, pristine", "3.45", n0, "", 3.45, 0.15),
                     Figure("minimum ideality, after elevation", "4.14", _min_ideality(px_aged),
                            "", 4.14, 0.15),
                     Figure("C-V onset, pristine", "1.4 V", onset0, "V", 1.4, 0.1),
                     Figure("C-V onset, after elevation", "1.9 V", _cv_onset(px_aged), "V",
                            1.9, 0.1)]
            tfb1 = band_fraction(WAVELENGTHS, px_aged.el_spectrum(10.0, WAVELENGTHS), 400, 460)
            figs.append(Figure("TFB band (400-460 nm) after / before elevation",
                               "reduced", tfb1 / tfb0, "x", check=lambda r: r < 0.5))
            px_aged.rest(2.0)  # the paper's J–V–L is taken on a rested device
            eqe, _ = _peak_eqe_and_max_luminance(px_aged)
            figs.append(Figure("peak EQE after elevation", "~20 % (model choice)", 100 * eqe,
                               "%", 20.0, 2.0))
    px = QledPixel("red-cdse", seed=seed)
    l_start, v_start = px.luminance(100.0), px.voltage(100.0)
    lum, volts = [], []
    for _ in range(60):  # the first 10 minutes, every 10 s
        px.advance(10 / 3600, 100.0)
        lum.append(px.luminance(100.0))
        volts.append(px.voltage(100.0))
    figs.append(Figure("first 10 min at 100 mA/cm2: lowest L", "drops quickly",
                       100 * (min(lum) / l_start - 1), "%", check=lambda d: d < -1.0))
    figs.append(Figure("first 10 min at 100 mA/cm2: lowest V", "drops quickly",
                       1e3 * (min(volts) - v_start), "mV", check=lambda d: d < -10.0))
    l_stressed = px.luminance(100.0)
    px.rest(1.5)
    figs.append(Figure("after 1.5 h rest: L recovered", "recovers after rest",
                       100 * (px.luminance(100.0) / l_stressed - 1), "%", check=lambda d: d > 1.0))
    return figs


def _j_for_luminance(px: QledPixel, target_cd_m2: float) -> float:
    return brentq(lambda j: px.luminance(j) - target_cd_m2, 1e-3, 1e3, xtol=1e-10)


def blue_t50(l0_cd_m2: float, seed: int = 0) -> tuple[float | None, float | None, QledPixel]:
    """T90 and T50 measured from a photodiode trace at the J that gives ``l0_cd_m2``."""
    px = QledPixel("blue-znsete", seed=seed)
    j = _j_for_luminance(px, l0_cd_m2)
    expected = 16683.0 * (100.0 / l0_cd_m2) ** 1.8
    t, lum = stress_trace(px, j, 1.3 * expected, expected / 2000.0)
    lt = lifetimes(t, lum)
    return lt.from_l0[0.9], lt.from_l0[0.5], px


def blue_card(seed: int = 0) -> list[Figure]:
    figs: list[Figure] = []
    px = QledPixel("blue-znsete", seed=seed)
    figs += _spectrum_figures(px, "pristine", 465.0, 36.0)
    peak0, _ = _spectrum(px)
    eqe, l_max = _peak_eqe_and_max_luminance(px)
    figs += [Figure("peak EQE", "16.2 %", 100 * eqe, "%", 16.2, 0.5),
             Figure("maximum luminance", "61,000 cd/m2", l_max, "cd/m2", 61000.0, 3050.0)]
    n0, onset0 = _min_ideality(px), _cv_onset(px)
    lum_v0 = np.array([px.luminance(j) for j in px.current_density(SWEEP_V)])
    turn_on0 = voltage_at(SWEEP_V, lum_v0, 1.0)
    leak0 = float(px.current_density(1.0))
    pl_start = _pl_signal(px, 10.0)

    t50s = {}
    for l0 in (1000.0, 3000.0, 10000.0):
        t90, t50, _ = blue_t50(l0, seed)
        t50s[l0] = t50
        if l0 == 1000.0:
            expected = 16683.0 * (100.0 / 1000.0) ** 1.8
            figs.append(Figure("T50 at L0 = 1000 cd/m2", f"{expected:.1f} h (16,683 h x 0.1^1.8)",
                               t50, "h", expected, 0.02 * expected))
            figs.append(Figure("T90 at L0 = 1000 cd/m2", "reached before T50", t90, "h",
                               check=lambda t, t50=t50: t50 is not None and 0 < t < t50))
    ls = np.array(list(t50s))
    ts = np.array([t50s[k] for k in ls])
    n_fit = -np.polyfit(np.log(ls), np.log(ts), 1)[0]
    figs.append(Figure("acceleration exponent n (L0^n * T50 = const)", "1.8", float(n_fit), "",
                       1.8, 0.1))
    # Age a fresh pixel to T50 at 1000 cd/m², pausing at T90 to read the PL.
    px = QledPixel("blue-znsete", seed=seed)
    j = _j_for_luminance(px, 1000.0)
    law = px.law
    px.advance(law.dose_t90 / law.dose_rate_per_h(j), j)
    pl_t90 = _pl_signal(px, 10.0) / pl_start
    px.advance((law.dose_t50 - law.dose_t90) / law.dose_rate_per_h(j), j)
    pl_t50 = _pl_signal(px, 10.0) / pl_start
    figs.append(Figure("PL at T90 (lock-in)", "holds until T90", 100 * (pl_t90 - 1), "%",
                       check=lambda d: abs(d) < 2.0))
    figs.append(Figure("PL at T50 (lock-in)", "falls between T90 and T50", 100 * (pl_t50 - 1),
                       "%", check=lambda d: d < -5.0))
    peak1, _ = _spectrum(px)
    figs.append(Figure("EL peak shift at T50", "within 1 nm", peak1 - peak0, "nm", 0.0, 1.0))
    lum_v1 = np.array([px.luminance(j) for j in px.current_density(SWEEP_V)])
    turn_on1 = voltage_at(SWEEP_V, lum_v1, 1.0)
    figs.append(Figure("turn-on (1 cd/m2) change at T50", "falls", turn_on1 - turn_on0, "V",
                       check=lambda d: d < -0.02))
    figs.append(Figure("leakage J(1 V) at T50 / pristine", "rises",
                       float(px.current_density(1.0)) / leak0, "x", check=lambda r: r > 2.0))
    figs += [Figure("minimum ideality, pristine", "model choice 2.8", n0, "", 2.8, 0.15),
             Figure("minimum ideality, T50", "model choice 2.5", _min_ideality(px), "", 2.5, 0.15),
             Figure("C-V onset, pristine", "model choice 2.0 V", onset0, "V", 2.0, 0.1),
             Figure("C-V onset, T50", "model choice 1.7 V", _cv_onset(px), "V", 1.7, 0.1),
             Figure("O_vac:O_latt at T50 (ground truth)", "2.79",
                    px.truth().hidden["o_vac_ratio"], "", 2.79, 0.05)]
    return figs


CARDS: dict[str, Callable[[int], list[Figure]]] = {"red-cdse": red_card, "blue-znsete": blue_card}
