"""The virtual QLED pixel: a state that ages under current, and all an instrument can read of it.

No I/O and no SCPI here. The instrument simulators (``instruments.sim.bench``) ask a pixel what it
does at a bias; the pixel neither knows nor cares who asks.

Units in the public API: device time in hours, current density in mA/cm², voltage in V, luminance in
cd/m², wavelengths in nm, currents in A, capacitance in F, conductance in S.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from agelab.instruments.sim.model import diode
from agelab.instruments.sim.model.aging import AcceleratedDecayLaw
from agelab.instruments.sim.model.noise import Noise, NoiseSpec
from agelab.instruments.sim.model.photometry import (
    BOLTZMANN_J_K,
    ELEMENTARY_C,
    photon_energy_j,
    thermal_voltage,
)
from agelab.instruments.sim.model.presets import J_REF_A_CM2, Preset, get_preset
from agelab.instruments.sim.model.spectra import lumens_per_photon_s, mix, si_quantum_efficiency_of

_TRANSIENT_ON_H = 2.0 / 60.0     # the turn-on transient settles in minutes under current
_TRANSIENT_OFF_H = 15.0 / 60.0   # and recovers within tens of minutes of rest
_TRANSIENT_J_HALF = 1.0          # mA/cm² at which the transient is half driven
_CV_RISE_WIDTH_V = 0.07
_CV_FALL_OFFSET_V = 0.7
_CV_FALL_WIDTH_V = 0.10
_CV_RELAXATION_S = 1.0 / (2.0 * math.pi * 50e3)  # the accumulated charge follows up to ~50 kHz
_LASER_ABSORPTANCE = 0.08        # fraction of laser photons the QD layer absorbs


class Condition(str, Enum):
    """What a fault can do to a pixel's wiring."""

    OK = "ok"
    OPEN = "open"
    SHORT = "short"


_OPEN_R_OHM_CM2 = 1e12
_SHORT_R_OHM_CM2 = 0.5


@dataclass(frozen=True)
class Photodiode:
    """A disc detector facing the pixel on axis: it collects r²/(r²+d²) of a Lambertian flux."""

    radius_mm: float = 5.64      # a 1 cm² Si photodiode
    distance_mm: float = 10.0

    @property
    def collected_fraction(self) -> float:
        r2 = self.radius_mm ** 2
        return r2 / (r2 + self.distance_mm ** 2)


@dataclass(frozen=True)
class GroundTruth:
    """What the model knows and an instrument cannot see directly."""

    t_h: float
    charge_c_cm2: float
    dose: float
    progress: float
    transient: float
    j_ma_cm2: float
    luminance_cd_m2: float
    output_rel: float
    eqe: float
    eta_x: float
    plqy: float
    outcoupling: float
    ideality: float
    turn_on_v: float
    r_shunt_ohm_cm2: float
    cv_onset_v: float
    hidden: dict[str, float]


def _require_finite(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def arrhenius_factor(activation_energy_ev: float, temperature_k: float,
                     reference_k: float) -> float:
    """How much faster a process of activation energy Ea runs at T than at the reference."""
    return math.exp(-activation_energy_ev * ELEMENTARY_C / BOLTZMANN_J_K
                    * (1.0 / temperature_k - 1.0 / reference_k))


class QledPixel:
    """One QLED pixel of a preset, aging in device time."""

    def __init__(self, preset: Preset | str, *, area_cm2: float | None = None, seed: int = 0,
                 temperature_k: float = 300.0, photodiode: Photodiode | None = None,
                 noise: NoiseSpec | None = None, lifetime_factor: float = 1.0) -> None:
        self.preset = get_preset(preset) if isinstance(preset, str) else preset
        area = self.preset.area_cm2 if area_cm2 is None else _require_finite("area_cm2", area_cm2)
        if area <= 0:
            raise ValueError(f"pixel area must be > 0 cm², got {area!r}")
        temperature_k = _require_finite("temperature_k", temperature_k)
        if temperature_k <= 0:
            raise ValueError(f"temperature must be > 0 K, got {temperature_k!r}")
        self.area_cm2 = area
        # The temperature the preset's figures hold at; a stage (or self-heating) moves the
        # pixel from it (``set_temperature``).
        self.reference_k = temperature_k
        self.temperature_k = temperature_k
        self._arrhenius = 1.0
        # This pixel's lifetime over the preset's (device-to-device spread; 1: the preset's).
        self.lifetime_factor = _require_finite("lifetime_factor", lifetime_factor)
        if self.lifetime_factor <= 0:
            raise ValueError(f"lifetime_factor must be > 0, got {lifetime_factor!r}")
        self.vt = thermal_voltage(temperature_k)
        self.photodiode = photodiode or Photodiode()
        self.noise = Noise(seed, noise)
        self.condition = Condition.OK
        self.t_h = 0.0
        self.charge_c_cm2 = 0.0
        self.dose = 0.0
        self.transient = 0.0
        self.law = self.preset.law
        self._lumens0 = lumens_per_photon_s(self.preset.bands, self._weights(0.0))
        self._si_qe0 = si_quantum_efficiency_of(self.preset.bands, self._weights(0.0))
        # Roll-off chosen so the pristine device's brightest point is the preset's max luminance:
        # L = EQE·J·c/(1+(J/Jd)²) peaks at J = Jd with half the low-current EQE.
        c = self._cd_m2_per_ma_cm2(self.preset.eqe_peak_pristine, self._lumens0)
        self._j_droop = 2.0 * self.preset.max_luminance_cd_m2 / c
        if isinstance(self.law, AcceleratedDecayLaw):
            self.law = self.law.bind(self._pristine_luminance)
        self._rate_cache: tuple[float, float] = (math.nan, 0.0)
        self._refresh()

    # ---------------------------------------------------------------- state
    def advance(self, dt_h: float, j_ma_cm2: float) -> None:
        """Age the pixel by ``dt_h`` device-hours at a constant current density."""
        dt_h = _require_finite("time step", dt_h)
        j = _require_finite("current density", j_ma_cm2)
        if dt_h < 0:
            raise ValueError(f"time step must be >= 0 h, got {dt_h!r}")
        if dt_h == 0:
            return
        if self.condition is Condition.OPEN:
            j = 0.0
        self.t_h += dt_h
        self.charge_c_cm2 += j * 1e-3 * dt_h * 3600.0
        self.dose += self._dose_rate(j) * dt_h
        drive = max(j, 0.0)
        target = drive / (drive + _TRANSIENT_J_HALF)
        tau = _TRANSIENT_ON_H if target > self.transient else _TRANSIENT_OFF_H
        self.transient = target + (self.transient - target) * math.exp(-dt_h / tau)
        self._refresh()

    def rest(self, dt_h: float) -> None:
        self.advance(dt_h, 0.0)

    def set_temperature(self, temperature_k: float) -> None:
        """The pixel at ``temperature_k``: it ages faster by the Arrhenius factor of the
        preset's activation energy, and its J–V shifts by the turn-on voltage's temperature
        coefficient (the diode's shape is kept: a forward voltage that falls ~2 mV/K at a
        fixed current, as an LED's does)."""
        temperature_k = _require_finite("temperature_k", temperature_k)
        if temperature_k <= 0:
            raise ValueError(f"temperature must be > 0 K, got {temperature_k!r}")
        if temperature_k == self.temperature_k:
            return
        self.temperature_k = temperature_k
        self._arrhenius = arrhenius_factor(self.preset.activation_energy_ev, temperature_k,
                                           self.reference_k)
        self._refresh()

    def _dose_rate(self, j: float) -> float:
        cached_j, rate = self._rate_cache
        if j != cached_j:
            rate = self.law.dose_rate_per_h(j)
            self._rate_cache = (j, rate)
        return rate * self._arrhenius / self.lifetime_factor

    def _weights(self, progress: float) -> tuple[float, ...]:
        """Photon fractions of each band, clamped at zero and summing to one."""
        raw = [max(span.at(progress), 0.0) for span in self.preset.band_weights]
        total = sum(raw)
        return tuple(w / total for w in raw)

    def _refresh(self) -> None:
        """Recompute everything that depends on state only, once per advance (the hot path)."""
        p = self.preset
        prog = self.law.progress(self.dose)
        self._progress = prog
        self._weights_now = self._weights(prog)
        self._lumens_now = lumens_per_photon_s(p.bands, self._weights_now)
        self._si_qe_now = si_quantum_efficiency_of(p.bands, self._weights_now)
        r_shunt = p.r_shunt_ohm_cm2.at(prog)
        if self.condition is Condition.SHORT:
            r_shunt = _SHORT_R_OHM_CM2
        elif self.condition is Condition.OPEN:
            r_shunt = _OPEN_R_OHM_CM2
        self._diode = diode.DiodeParams.from_reference(
            ideality=p.ideality.at(prog),
            v_ref=(p.turn_on_v.at(prog) - p.transient_voltage_drop_v * self.transient
                   + p.turn_on_tempco_v_per_k * (self.temperature_k - self.reference_k)),
            j_ref_a_cm2=J_REF_A_CM2,
            r_series_ohm_cm2=_OPEN_R_OHM_CM2 if self.condition is Condition.OPEN
            else p.r_series_ohm_cm2,
            r_shunt_ohm_cm2=r_shunt,
            thermal_voltage_v=self.vt,
        )
        self._output_rel = self.law.output_rel(self.dose)
        # EQE multiplier: the photodiode signal follows the law, whatever the spectrum does.
        self._eqe_scale = (p.eqe_peak_pristine * self._output_rel
                           * (1.0 - p.transient_drop * self.transient)
                           * self._si_qe0 / self._si_qe_now)
        self._v_cache: tuple[float, float, float] = (math.nan, 0.0, 0.0)

    def set_condition(self, condition: Condition | str) -> None:
        """Inject a wiring fault (open or short) or clear it."""
        self.condition = Condition(condition)
        self._refresh()

    # ---------------------------------------------------------------- electrical
    def current_density(self, v: np.ndarray | float) -> np.ndarray:
        """J (mA/cm²) at terminal voltage V, forward and reverse."""
        return diode.current_density(v, self._diode) * 1e3

    def voltage(self, j_ma_cm2: float) -> float:
        """Terminal voltage at a sourced current density (mA/cm²)."""
        return self._solve(j_ma_cm2)[1]

    def _solve(self, j_ma_cm2: float) -> tuple[float, float, float]:
        cached_j, v, jd = self._v_cache
        if j_ma_cm2 != cached_j:
            j = _require_finite("current density", j_ma_cm2) * 1e-3
            v, vd = diode.voltage_scalar(j, self._diode)
            jd = (j - vd / self._diode.r_shunt_ohm_cm2) * 1e3  # the part that crosses the junction
            self._v_cache = (j_ma_cm2, v, jd)
        return j_ma_cm2, v, jd

    # ---------------------------------------------------------------- optical
    def eqe(self, j_ma_cm2: float) -> float:
        """External quantum efficiency at a drive current density (photons out per electron in)."""
        j, _, jd = self._solve(j_ma_cm2)
        if j <= 0 or jd <= 0:
            return 0.0
        return self._eqe_scale / (1.0 + (jd / self._j_droop) ** 2) * (jd / j)

    def photon_rate_per_cm2(self, j_ma_cm2: float) -> float:
        """Emitted photons per second per cm² (all directions, out of the glass)."""
        j = max(float(j_ma_cm2), 0.0)
        return self.eqe(j_ma_cm2) * j * 1e-3 / ELEMENTARY_C

    def luminance(self, j_ma_cm2: float) -> float:
        """Luminance in cd/m² of a Lambertian emitter at this drive (photometric, via V(λ))."""
        return self.photon_rate_per_cm2(j_ma_cm2) * 1e4 * self._lumens_now / math.pi

    def _cd_m2_per_ma_cm2(self, eqe: float, lumens_per_photon: float) -> float:
        return eqe * 1e-3 / ELEMENTARY_C * 1e4 * lumens_per_photon / math.pi

    def _pristine_luminance(self, j_ma_cm2: float) -> float:
        """L0(J): what the pristine pixel emits at J, for the blue law's L0^n acceleration."""
        c = self._cd_m2_per_ma_cm2(self.preset.eqe_peak_pristine, self._lumens0)
        return c * j_ma_cm2 / (1.0 + (j_ma_cm2 / self._j_droop) ** 2)

    def el_spectrum(self, j_ma_cm2: float, wavelength_nm: np.ndarray) -> np.ndarray:
        """EL photon rate of the whole pixel per nm (photons/s/nm)."""
        total = self.photon_rate_per_cm2(j_ma_cm2) * self.area_cm2
        return total * mix(self.preset.bands, self._weights_now, wavelength_nm)

    def el_weights(self) -> dict[str, float]:
        return {b.name: w for b, w in zip(self.preset.bands, self._weights_now, strict=True)}

    def plqy(self) -> float:
        return self.preset.plqy_pristine * self.law.plqy_rel(self.dose)

    def pl_photon_rate(self, laser_power_w: float, laser_nm: float = 445.0) -> float:
        """PL photons per second emitted by the pixel under the excitation laser."""
        laser_power_w = max(_require_finite("laser power", laser_power_w), 0.0)
        absorbed = laser_power_w / photon_energy_j(laser_nm) * _LASER_ABSORPTANCE
        return absorbed * self.plqy() * self.preset.outcoupling

    def pl_spectrum(self, laser_power_w: float, wavelength_nm: np.ndarray) -> np.ndarray:
        return self.pl_photon_rate(laser_power_w) * self.preset.pl_band.shape(wavelength_nm)

    def photodiode_current(self, j_ma_cm2: float, laser_power_w: float = 0.0) -> float:
        """Photocurrent (A) of the facing Si photodiode: EL at this drive plus any PL."""
        el = self.photon_rate_per_cm2(j_ma_cm2) * self.area_cm2 * self._si_qe_now
        pl = self.pl_photon_rate(laser_power_w) * self.preset.pl_band.si_quantum_efficiency
        return (el + pl) * self.photodiode.collected_fraction * ELEMENTARY_C

    # ---------------------------------------------------------------- impedance
    def impedance(self, v: np.ndarray | float, frequency_hz: float = 1e3
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Parallel capacitance (F) and conductance (S) an LCR meter sees at DC bias V and f."""
        frequency_hz = _require_finite("frequency", frequency_hz)
        if frequency_hz <= 0:
            raise ValueError(f"frequency must be > 0 Hz, got {frequency_hz!r}")
        v = np.asarray(v, dtype=float)
        p, d = self.preset, self._diode
        onset = p.cv_onset_v.at(self._progress)
        c_geo = p.c_geometric_nf_cm2 * 1e-9
        rise = 1.0 / (1.0 + np.exp(-(v - (onset + 2 * _CV_RISE_WIDTH_V)) / _CV_RISE_WIDTH_V))
        fall = 1.0 / (1.0 + np.exp((v - (onset + _CV_FALL_OFFSET_V)) / _CV_FALL_WIDTH_V))
        wt = 2.0 * math.pi * frequency_hz * _CV_RELAXATION_S
        delta_c = c_geo * p.c_accumulation_rel * rise * fall
        c = c_geo + delta_c / (1.0 + wt * wt)
        g_debye = 2.0 * math.pi * frequency_hz * delta_c * wt / (1.0 + wt * wt)
        j = diode.current_density(v, d)
        x = v - j * d.r_series_ohm_cm2
        g_junction = d.j0_a_cm2 / d.a * np.exp(np.minimum(x / d.a, 700.0)) + 1.0 / d.r_shunt_ohm_cm2
        g_dc = 1.0 / (d.r_series_ohm_cm2 + 1.0 / g_junction)
        if self.condition is Condition.OPEN:
            c, g_dc, g_debye = np.full_like(v, 1e-15), np.full_like(v, 1e-12), 0.0
        return c * self.area_cm2, (g_dc + g_debye) * self.area_cm2

    # ---------------------------------------------------------------- readouts with noise
    def read_voltage(self, j_ma_cm2: float) -> float:
        return self.noise.smu_voltage(self.voltage(j_ma_cm2))

    def read_photodiode(self, j_ma_cm2: float, laser_power_w: float = 0.0) -> float:
        return self.noise.photodiode(self.photodiode_current(j_ma_cm2, laser_power_w))

    # ---------------------------------------------------------------- ground truth
    def truth(self, j_ma_cm2: float | None = None) -> GroundTruth:
        p = self.preset
        j = 0.0 if j_ma_cm2 is None else float(j_ma_cm2)
        eqe = self.eqe(j) if j > 0 else self._eqe_scale
        plqy = self.plqy()
        return GroundTruth(
            t_h=self.t_h, charge_c_cm2=self.charge_c_cm2, dose=self.dose,
            progress=self._progress, transient=self.transient, j_ma_cm2=j,
            luminance_cd_m2=self.luminance(j) if j > 0 else 0.0,
            output_rel=self._output_rel * (1.0 - p.transient_drop * self.transient),
            eqe=eqe, eta_x=eqe / (p.outcoupling * plqy), plqy=plqy, outcoupling=p.outcoupling,
            ideality=self._diode.ideality, turn_on_v=p.turn_on_v.at(self._progress),
            r_shunt_ohm_cm2=self._diode.r_shunt_ohm_cm2,
            cv_onset_v=p.cv_onset_v.at(self._progress),
            hidden={k: span.at(self._progress) for k, span in p.hidden.items()},
        )
