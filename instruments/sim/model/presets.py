"""The two virtual QLEDs, with every number either taken from a paper or marked as a model choice.

``pristine`` → ``aged`` spans are interpolated along the aging law's progress (0 → 1): for the red
device the reference "aged" point is the end of the efficiency elevation, for the blue one T50.

Red, CdSe QDs / c-ZnO / Ag (He et al., Nat. Commun. 2023, the `001` seed):
  EL 626 nm / 30 nm → 623 nm / 24 nm; ideality 3.45 → 4.14; C–V onset 1.4 → 1.9 V; PL +5 % while
  EL +90 %; TFB parasitic band reduced; area 4 mm². Model choices: the pristine EL is a neutral
  exciton band (623 nm / 24 nm, the aged spectrum) plus a trion X⁻ band at 636.4 nm / 30 nm carrying
  43 % of the photons, which reproduces 626 nm / 30 nm exactly and vanishes as the elevation ends;
  the TFB band at 430 nm carries 0.5 % of photons, falling to 0.1 %; the injection barrier grows by
  0.30 eV; turn-on (diode at 1 µA/cm²) moves 1.80 → 1.95 V; peak EQE ~20 % after the elevation.

Blue, ZnSeTe QDs / ZnMgO / Al (Tan et al., the `000` seed):
  EL 465 nm / 36 nm; EQE 16.2 %; 61,000 cd/m²; T50 = 16,683 h at 100 cd/m² with n = 1.8;
  O_vac:O_latt 1.34 → 2.79 at T50; turn-on falls and leakage rises. Model choices: peak shifts
  +0.2 nm by T50; a weak TFB band at 430 nm grows 0.3 → 0.5 % of photons (more electron leakage);
  ideality 2.8 → 2.5 (easier electron injection); C–V onset 2.0 → 1.7 V; turn-on 2.45 → 2.30 V;
  shunt 1e7 → 2e6 Ω·cm².
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agelab.instruments.sim.model.aging import AcceleratedDecayLaw, AgingLaw, ElevationLaw
from agelab.instruments.sim.model.spectra import Band


@dataclass(frozen=True)
class Span:
    """A parameter that moves from its pristine to its aged value as progress goes 0 → 1."""

    pristine: float
    aged: float

    def at(self, progress: float) -> float:
        return self.pristine + (self.aged - self.pristine) * progress


@dataclass(frozen=True)
class LogSpan(Span):
    """A positive parameter that changes by factors (a resistance): interpolated geometrically."""

    def at(self, progress: float) -> float:
        return self.pristine * (self.aged / self.pristine) ** progress


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    area_cm2: float
    law: AgingLaw
    # J–V: a diode parametrised by its voltage at J_REF (see diode.DiodeParams.from_reference)
    ideality: Span
    turn_on_v: Span
    r_series_ohm_cm2: float
    r_shunt_ohm_cm2: LogSpan
    # optics: EQE = outcoupling · η_X · PLQY; roll-off 1 / (1 + (J/J_droop)²)
    eqe_peak_pristine: float
    max_luminance_cd_m2: float
    outcoupling: float
    plqy_pristine: float
    bands: tuple[Band, ...]
    band_weights: tuple[Span, ...]
    pl_band: Band
    # C–V: geometric capacitance, a logistic accumulation rise with a tangent onset, Debye roll-off
    c_geometric_nf_cm2: float
    c_accumulation_rel: float
    cv_onset_v: Span
    # hidden states (ground truth only)
    hidden: dict[str, Span] = field(default_factory=dict)
    transient_drop: float = 0.0
    transient_voltage_drop_v: float = 0.0
    figures: dict[str, str] = field(default_factory=dict)
    # Temperature (model choices, not from the papers, which report room temperature only):
    # the dose rate scales as exp(-Ea/k (1/T - 1/T_ref)), T_ref the pixel's 300 K; the
    # turn-on voltage shifts by its temperature coefficient; J·V heats the pixel through its
    # thermal resistance to the stage.
    activation_energy_ev: float = 0.0
    turn_on_tempco_v_per_k: float = -2e-3
    thermal_resistance_k_per_w: float = 100.0


J_REF_A_CM2 = 1e-6  # the diode current density at which ``turn_on_v`` is defined

_red_law = ElevationLaw()

RED_CDSE = Preset(
    activation_energy_ev=0.35,
    name="red-cdse",
    title="Red CdSe QDs / c-ZnO / Ag (efficiency elevation, He et al. 2023)",
    area_cm2=0.04,
    law=_red_law,
    ideality=Span(3.45, 4.14),
    turn_on_v=Span(1.80, 1.95),
    r_series_ohm_cm2=1.5,
    r_shunt_ohm_cm2=LogSpan(1e7, 1e7),
    eqe_peak_pristine=0.105,
    max_luminance_cd_m2=150_000.0,
    outcoupling=0.25,
    plqy_pristine=0.85,
    bands=(Band("exciton X", 623.0, 24.0), Band("trion X-", 636.4, 30.0), Band("TFB", 430.0, 40.0)),
    band_weights=(Span(0.565, 0.999), Span(0.430, 0.0), Span(0.005, 0.001)),
    pl_band=Band("exciton X", 623.0, 24.0),
    c_geometric_nf_cm2=31.0,
    c_accumulation_rel=0.6,
    cv_onset_v=Span(1.4, 1.9),
    hidden={"injection_barrier_eV": Span(0.0, 0.30)},
    transient_drop=_red_law.transient_drop,
    transient_voltage_drop_v=0.03,
    figures={
        "EL peak / FWHM, pristine": "626 nm / 30 nm",
        "EL after elevation": "623 nm / 24 nm",
        "luminance at constant current": "rises to ~1.9 x L0 (photodiode), then decays",
        "elevation duration": "~60 h @30, ~20 h @50, ~10 h @100 mA/cm2; +90 % in ~1000 h @10",
        "T95 from Lmax": "~50 h @50 mA/cm2",
        "minimum ideality factor": "3.45 -> 4.14",
        "C-V capacitance-rise onset": "1.4 V -> 1.9 V",
        "PL (lock-in)": "+5 % while EL rises +90 %",
        "parasitic TFB emission": "present, reduced after elevation",
        "first minutes of stress": "V and L drop, recover after rest",
        "peak EQE": "~20 % (model choice)",
    },
)

BLUE_ZNSETE = Preset(
    activation_energy_ev=0.45,
    name="blue-znsete",
    title="Blue ZnSeTe QDs / ZnMgO / Al (oxygen vacancies, Tan et al.)",
    area_cm2=0.04,
    law=AcceleratedDecayLaw(),
    ideality=Span(2.8, 2.5),
    turn_on_v=Span(2.45, 2.30),
    r_series_ohm_cm2=1.5,
    r_shunt_ohm_cm2=LogSpan(1e7, 2e6),
    eqe_peak_pristine=0.162,
    max_luminance_cd_m2=61_000.0,
    outcoupling=0.20,
    plqy_pristine=0.90,
    bands=(Band("ZnSeTe exciton", 465.0, 36.0), Band("ZnSeTe exciton, aged", 465.2, 36.0),
           Band("TFB", 430.0, 40.0)),
    band_weights=(Span(0.997, 0.0), Span(0.0, 0.995), Span(0.003, 0.005)),
    pl_band=Band("ZnSeTe exciton", 465.0, 36.0),
    c_geometric_nf_cm2=31.0,
    c_accumulation_rel=0.5,
    cv_onset_v=Span(2.0, 1.7),
    hidden={"o_vac_ratio": Span(1.34, 2.79)},
    figures={
        "EL peak / FWHM, pristine": "465 nm / 36 nm",
        "EL after aging": "peak within 1 nm",
        "luminance at constant current": "decays: T90, then T50",
        "T50 scaling": "L0^1.8 * T50 = const; 16,683 h @100 cd/m2 (~264 h @1000)",
        "turn-on voltage, leakage": "turn-on falls, leakage rises",
        "PL (lock-in)": "falls between T90 and T50",
        "peak EQE / max luminance": "16.2 % / 61,000 cd/m2",
        "O_vac:O_latt (hidden)": "1.34 -> 2.79 at T50",
    },
)

PRESETS: dict[str, Preset] = {p.name: p for p in (RED_CDSE, BLUE_ZNSETE)}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown QLED preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}"
        ) from None
