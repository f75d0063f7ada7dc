"""A run file turned into results: per-channel figures and the study's acceleration fit.

``analyse(run)`` reads what exists and computes what it can; anything that cannot be computed (no
C–V taken, no EL spectrum, a level not reached yet) is None and named in ``missing``, so a report of
a run killed early, or one still being written, says what it lacks instead of failing.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agelab.protocols.analysis.acceleration import (
    AccelerationFit,
    AccelerationPoint,
    JointFit,
    ThermalPoint,
    fit_acceleration,
    fit_joint,
    fixed_n_acceleration,
)
from agelab.protocols.analysis.censored import CensoredFit, FitError, LifetimePoint, fit_censored
from agelab.protocols.analysis.cv import CVFigures, cv_figures
from agelab.protocols.analysis.jv import JVFigures, jv_figures
from agelab.protocols.analysis.l0 import L0_AT_H
from agelab.protocols.analysis.lifetime import DEFAULT_FRACTIONS, Lifetimes, lifetimes
from agelab.protocols.analysis.spectra import SpectrumFigures, spectrum_figures
from agelab.protocols.store import RunFile
from agelab.protocols.store.records import L0_AVERAGE

ACCELERATION_METRICS = (0.5, 0.9, 0.95)
# A first light reading later than this into the stress is said to be late: it is normally
# seconds in (a minute or two on the bench at a high speed-up, where a retried one can land an
# hour in).
L0_LATE_H = 0.1
# A first reading whose retries made up more than this share of its stress time came late (a
# retry costs a timeout, seconds on hardware; the ms of an attempt that went through at once
# are not lateness). Every L0 is read at ``L0_AT_H`` off the early trace where it allows; a
# late one is said so in the report, and where it cannot be read back it compromises L0.
L0_LATE_SHARE = 0.2


@dataclass(frozen=True)
class Options:
    fixed_n: float = 1.8                        # the blue paper's exponent, for a second estimate
    band_nm: tuple[float, float] = (400.0, 460.0)  # the parasitic band (TFB near 430 nm)
    leakage_bias_v: float = 1.0
    reference_j: float = 10.0                   # mA/cm², for "V at J"
    extrapolate_to: tuple[float, ...] = (100.0, 1000.0)


@dataclass
class ELPLPoint:
    """One checkpoint's EL (spectrum) and PL (lock-in), relative to the first such checkpoint."""

    t_h: float
    el_rel: float | None
    pl_rel: float | None
    ege_rel: float | None  # exciton-generation efficiency trend: EL / (J·PL), relative


@dataclass
class ChannelAnalysis:
    name: str
    device: str
    j_ma_cm2: float
    status: str
    stop_reason: str | None
    samples: np.ndarray                  # (n, 4): t_h, J, V, L
    lifetimes: Lifetimes | None
    duty_cycle: float | None
    jv: list[JVFigures] = field(default_factory=list)
    jv_sweeps: list[dict[str, Any]] = field(default_factory=list)
    cv: list[CVFigures] = field(default_factory=list)
    cv_sweeps: list[dict[str, Any]] = field(default_factory=list)
    el: list[SpectrumFigures] = field(default_factory=list)
    el_spectra: list[dict[str, Any]] = field(default_factory=list)
    pl: list[tuple[float, float]] = field(default_factory=list)   # (t_h, R in V)
    el_pl: list[ELPLPoint] = field(default_factory=list)
    milestones: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how a figure was obtained, where unusual
    # The stage temperature each sample read (t_h, °C, its set point °C), where one was set.
    temperatures: np.ndarray = field(default_factory=lambda: np.empty((0, 3)))

    @property
    def temperature_c(self) -> float | None:
        """The mean stage temperature over the stress, if it was recorded."""
        return float(np.mean(self.temperatures[:, 1])) if len(self.temperatures) else None

    def t_value(self, fraction: float, from_max: bool = False) -> float | None:
        if self.lifetimes is None:
            return None
        return (self.lifetimes.from_max if from_max else self.lifetimes.from_l0).get(fraction)


@dataclass
class StudyAnalysis:
    study: str
    status: str
    meta: dict[str, Any]
    channels: list[ChannelAnalysis]
    # "T50" → the fitted n, for the main group (censored channels counted: a CensoredFit)
    fits: dict[str, AccelerationFit | CensoredFit]
    fixed: dict[str, AccelerationFit]            # "T50" → the same with the given n
    group: str | None                            # the device group the fits are for
    options: Options
    missing: list[str] = field(default_factory=list)
    # "T50" → n and Ea fitted together, where the group's channels ran at several temperatures
    joint: dict[str, JointFit] = field(default_factory=dict)


def _group(config: dict[str, Any], channel: dict[str, Any]) -> str:
    if channel.get("device"):
        return str(channel["device"])
    virtual = (config.get("station") or {}).get("virtual") or {}
    presets = virtual.get("pixels")
    if isinstance(presets, list) and 0 < channel.get("pixel", 0) <= len(presets):
        return str(presets[channel["pixel"] - 1])
    if isinstance(presets, int) and virtual.get("preset"):
        return str(virtual["preset"])
    return "all"


def _nearest(items: list[dict[str, Any]], t_h: float, label: str | None) -> dict | None:
    """The item with the same checkpoint label, else the one nearest in time."""
    if not items:
        return None
    same = [s for s in items if label is not None and s["label"] == label]
    pool = same or items
    return min(pool, key=lambda s: abs(s["t_h"] - t_h))


def el_pl_trend(el: list[dict], figures: list[SpectrumFigures], pl: list[dict]) -> list[ELPLPoint]:
    """Pair each EL spectrum with the PL reading of the same checkpoint; relative to the first."""
    out: list[ELPLPoint] = []
    base_el = base_pl = None
    for spectrum, fig in zip(el, figures, strict=True):
        reading = _nearest(pl, spectrum["t_h"], spectrum["label"])
        pl_r = math.hypot(reading["x"], reading["y"]) if reading else None
        if base_el is None and fig.rate > 0:
            base_el = fig.rate
        if base_pl is None and pl_r:
            base_pl = pl_r
        el_rel = fig.rate / base_el if base_el else None
        pl_rel = pl_r / base_pl if (pl_r and base_pl) else None
        # At constant stress J the J term is constant; it matters for benchtop spectra.
        ege = el_rel / pl_rel if (el_rel is not None and pl_rel) else None
        out.append(ELPLPoint(spectrum["t_h"], el_rel, pl_rel, ege))
    return out


def lifetimes_of_run(run: RunFile, name: str, t_h: np.ndarray, luminance: np.ndarray,
                     cfg_channel: dict, live: dict[str, float] | None = None) -> Lifetimes:
    """A channel's lifetimes from its trace (``luminance`` at ``t_h``, the run's own or a
    replay of it), with the hold-offs and sweep steps the run's events mark."""
    holdoff = float(cfg_channel.get("holdoff", 1 / 6))
    sweeps = [e["detail"].get("at_h", e["detail"].get("end_h"))
              for e in run.events(name, "interruption") if e["detail"].get("stress_was_on")]
    # A source-meter that rebooted under stress came back through the turn-on transient
    # (left out, like a sweep's), but no sweep aged the pixel meanwhile: no step.
    starts = sweeps + [e["t_h"] for e in run.events(name, "stress-lost")]
    exclude = np.zeros(len(t_h), dtype=bool)
    for t0 in starts:
        if t0 is not None:
            exclude |= (t_h > t0) & (t_h < t0 + holdoff)
    per_sample = int(cfg_channel.get("light_average", 1))
    return lifetimes(t_h, luminance, DEFAULT_FRACTIONS, exclude=exclude, live=live,
                     steps_h=[t for t in sweeps if t is not None],
                     l0_readings=max(L0_AVERAGE, per_sample) / per_sample,
                     l0_due_h=L0_AT_H)


def l0_late_h(run: RunFile, name: str, t_h: np.ndarray) -> float | None:
    """How late the first reading came, if it came late (None: on time). The engine's own
    record says (the retries it met); without one, a first reading past ``L0_LATE_H`` (a run
    that lost its first sample) was due at t = 0."""
    if not len(t_h):
        return None
    records = run.events(name, "l0")
    if not records:
        return float(t_h[0]) if t_h[0] > L0_LATE_H else None
    detail = records[0]["detail"]
    late, read = float(detail.get("late_h", 0.0)), detail.get("t_read_h", t_h[0])
    return late if late > L0_LATE_SHARE * read else None


def _analyse_channel(run: RunFile, info, config: dict, options: Options) -> ChannelAnalysis:
    cfg_channel = next((c for c in config.get("channels", []) if c.get("name") == info.name), {})
    state = info.state or {}
    data = run.samples(info.name)
    ch = ChannelAnalysis(
        name=info.name, device=_group(config, cfg_channel), j_ma_cm2=info.j_ma_cm2,
        status=state.get("status", "pending"), stop_reason=state.get("stop_reason"),
        samples=data, lifetimes=None, duty_cycle=None,
        milestones=[e["detail"] | {"t_h": e["t_h"]}
                    for e in run.events(info.name, "milestone")])
    t_state = state.get("t_h")
    if t_state:
        ch.duty_cycle = t_state / (t_state + state.get("interrupted_h", 0.0))
    lit = data[np.isfinite(data[:, 3])] if data.size else data
    if lit.shape[0] >= 2:
        ch.lifetimes = lifetimes_of_run(run, info.name, lit[:, 0], lit[:, 3], cfg_channel,
                                        {m["key"]: m["t_cross_h"] for m in ch.milestones
                                         if m.get("key") and m.get("t_cross_h") is not None})
        fit, kept = ch.lifetimes.l0_fit, ch.lifetimes.l0_kept
        late = l0_late_h(run, info.name, lit[:, 0])
        if late is not None and kept is not None:
            ch.missing.append(
                f"L0: the first reading came {lit[0, 0]:.3g} h into the stress (retried, or "
                f"lost), and could not be read back to {L0_AT_H * 3600:.0f} s: {kept}; every "
                "T-value from L0 is measured from a pixel already aged that long")
        elif late is not None and fit is not None:
            ch.notes.append(
                f"L0: the first reading came {late:.3g} h late (retried, or lost), "
                f"{lit[0, 0]:.3g} h into the stress; L0 is read back to {L0_AT_H * 3600:.0f} s "
                f"off a stretched-exponential fit (beta {fit.beta:.2f}) over the first {fit.n} "
                f"readings, to {fit.end_h:.3g} h: {fit.l0:.5g} +/- {fit.sigma:.2g} cd/m^2 where "
                f"the late reading was {lit[0, 3]:.5g}")
    else:
        ch.missing.append("lifetimes: fewer than two luminance samples")

    el_spectra = [s for s in run.spectra(info.name, "el") if s["counts"].size]
    ch.el_spectra = el_spectra
    ch.el = [spectrum_figures(s["t_h"], s["wavelength_nm"], s["counts"], s["integration_s"],
                              options.band_nm) for s in el_spectra]
    if not el_spectra:
        ch.missing.append("EL spectra: none taken")

    ch.jv_sweeps = run.sweeps(info.name, "jv")
    for sweep in ch.jv_sweeps:
        near = _nearest(el_spectra, sweep["t_h"], sweep["label"])
        spectrum = (near["wavelength_nm"], near["counts"]) if near else None
        ch.jv.append(jv_figures(sweep["t_h"], sweep["x"], sweep["y"], sweep["z"], spectrum,
                                leakage_bias_v=options.leakage_bias_v,
                                reference_j=options.reference_j))
    if not ch.jv_sweeps:
        ch.missing.append("J–V–L: no sweep taken")
    elif not el_spectra:
        ch.missing.append("EQE: needs an EL spectrum")

    ch.cv_sweeps = run.sweeps(info.name, "cv")
    ch.cv = [cv_figures(s["t_h"], s["x"], s["y"]) for s in ch.cv_sweeps]
    if not ch.cv_sweeps:
        ch.missing.append("C–V: no sweep taken")

    readings = run.readings(info.name, "pl")
    ch.pl = [(r["t_h"], math.hypot(r["x"], r["y"])) for r in readings]
    if not readings:
        ch.missing.append("PL: no lock-in reading taken")
    ch.el_pl = el_pl_trend(el_spectra, ch.el, readings)
    temps = run.readings(info.name, "temperature")
    if temps:
        ch.temperatures = np.array([(r["t_h"], r["x"], r["y"]) for r in temps], dtype=float)
    return ch


def analyse(run: RunFile, options: Options | None = None) -> StudyAnalysis:
    options = options or Options()
    meta = run.meta()
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    channels = [_analyse_channel(run, info, config, options) for info in run.channels()]
    study = StudyAnalysis(study=str(meta.get("study", run.path.stem)),
                          status=str(meta.get("status", "unknown")), meta=meta,
                          channels=channels, fits={}, fixed={}, group=None, options=options)
    if not channels:
        study.missing.append("channels: the run has none yet")
    _fit_study(study)
    return study


def _fit_study(study: StudyAnalysis) -> None:
    """Acceleration fits for the device group with the most channels that reached T50."""
    groups: dict[str, list[ChannelAnalysis]] = {}
    for ch in study.channels:
        groups.setdefault(ch.device, []).append(ch)

    def reached(chs: list[ChannelAnalysis], f: float) -> list[AccelerationPoint]:
        return [AccelerationPoint(c.name, c.lifetimes.l0, c.t_value(f)) for c in chs
                if c.lifetimes is not None and c.t_value(f) is not None]

    def stopped_short(chs: list[ChannelAnalysis], f: float) -> list[LifetimePoint]:
        """Channels that stopped before the level: T > their last stress time."""
        return [LifetimePoint(c.name, c.lifetimes.l0, c.lifetimes.t_end_h, False) for c in chs
                if c.lifetimes is not None and c.t_value(f) is None and c.lifetimes.t_end_h > 0]

    if not groups:
        return
    name, members = max(groups.items(), key=lambda kv: (len(reached(kv[1], 0.5)), len(kv[1])))
    study.group = name
    for f in ACCELERATION_METRICS:
        key = f"T{round(f * 100)}"
        points = reached(members, f)
        fit = fit_acceleration(key, points)
        censored = stopped_short(members, f)
        if censored and fit is not None:
            # Counted as T > t_end, not left out: leaving them out biases n low.
            with contextlib.suppress(FitError):
                fit = fit_censored(key, [LifetimePoint(p.channel, p.l0_cd_m2, p.t_h, True)
                                         for p in points] + censored)
        if fit is not None:
            study.fits[key] = fit
        fixed = fixed_n_acceleration(key, points, study.options.fixed_n)
        if fixed is not None:
            study.fixed[key] = fixed
    for f in ACCELERATION_METRICS:
        key = f"T{round(f * 100)}"
        thermal = [ThermalPoint(c.name, c.lifetimes.l0, c.temperature_c, c.t_value(f))
                   for c in members if c.lifetimes is not None and c.t_value(f) is not None
                   and c.temperature_c is not None]
        joint = fit_joint(key, thermal)
        if joint is not None:
            study.joint[key] = joint
    if "T50" not in study.fits:
        n = len(reached(members, 0.5))
        study.missing.append(f"acceleration fit: needs T50 on two or more channels at different "
                             f"L0 ({n} of group {name!r} reached it)")
