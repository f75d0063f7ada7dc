"""The measurements a channel takes: J–V–L and C–V (exclusive: the stress is off), EL spectra and
lock-in PL (concurrent: taken while the stress current flows).

Each step talks to instruments through their roles only, holds the lock of every shared
instrument it uses (the relay box with the LCR meter; the fibre switch, laser, lock-in and
spectrometer as one optics path), and leaves them safe whatever happens: no DC bias left on a pixel,
the pixel routed back to its source-meter, the laser off.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from agelab.instruments.drivers.photodetectors import AcquisitionLost
from agelab.instruments.roles import trigger_linked
from agelab.instruments.station import Station
from agelab.protocols.config import ChannelSpec, CVSpec, ELSpec, JVSpec, PLSpec
from agelab.protocols.store.records import ReadingRecord, SpectrumRecord, SweepRecord

MIN_INTEGRATION_S = 1e-3


@dataclass
class SharedLocks:
    """One lock per shared path: whoever holds it owns those instruments until released."""

    impedance: threading.Lock = field(default_factory=threading.Lock)  # relay box + LCR meter
    optics: threading.Lock = field(default_factory=threading.Lock)     # fibre/laser/lock-in/spec


@dataclass
class StepContext:
    station: Station
    channel: ChannelSpec
    locks: SharedLocks
    now_h: Callable[[], float]
    # Held while the laser shines on this pixel: its photodiode then sees PL too, so luminance
    # sampling waits for it.
    laser_on_pixel: threading.Lock = field(default_factory=threading.Lock)


def measure_jv(ctx: StepContext, spec: JVSpec, label: str) -> SweepRecord:
    """A J–V–L sweep in the source-meter's buffer; the photodiode meter reads on the trigger link.
    Called with the stress off; returns with the output off."""
    ch = ctx.channel
    smu, pd = ctx.station[ch.smu_name], ctx.station[ch.pd_name]
    volts = np.linspace(spec.start, spec.stop, spec.points)
    compliance_a = spec.max_current_density * ch.area * 1e-3
    t_h = ctx.now_h()
    linked = trigger_linked(pd.driver, smu.driver)
    if linked:
        pd.arm_linked(spec.points, nplc=spec.nplc)
    sweep = smu.sweep("voltage", volts, compliance_a, nplc=spec.nplc, delay_s=spec.delay,
                      **({"trigger_link": True} if linked else {}))
    params: dict = {"nplc": spec.nplc,
                    "compliance_points": int(np.count_nonzero(sweep.compliance))}
    luminance = np.full(spec.points, np.nan)  # a photodetector without a trigger link: J–V only
    if not linked:
        params["light"] = (f"not measured: {ch.pd_name} cannot read in step with "
                           f"{ch.smu_name}'s sweep")
    if linked:
        try:
            luminance = pd.fetch_linked(spec.points) * ch.cd_m2_per_A
        except AcquisitionLost as exc:  # the J–V stands; its light is on record as lost
            params["light_lost"] = str(exc)
    j = sweep.current_a / ch.area * 1e3
    return SweepRecord(ch.name, "jv", label, t_h, sweep.voltage_v, j, luminance, params=params)


def measure_cv(ctx: StepContext, spec: CVSpec, label: str) -> SweepRecord:
    """A DC-bias C–V sweep on the LCR meter. Called with the stress off; the pixel is routed to the
    LCR meter only for the sweep, and back to its source-meter whatever happens."""
    ch = ctx.channel
    relay, lcr = ctx.station["relay"], ctx.station["lcr"]
    bias = np.linspace(spec.start, spec.stop, spec.points)
    with ctx.locks.impedance:
        t_h = ctx.now_h()
        relay.route(ch.pixel, "LCR")
        try:
            result = lcr.cv_sweep(bias, spec.frequency, spec.level)
        finally:
            relay.route(ch.pixel, "SMU")
    return SweepRecord(ch.name, "cv", label, t_h, result.bias_v, result.capacitance_f,
                       result.conductance_s,
                       params={"frequency_hz": spec.frequency, "level_v": spec.level})


def measure_el(ctx: StepContext, spec: ELSpec, label: str) -> SpectrumRecord:
    """A dark-corrected EL spectrum of this pixel under its stress current. A saturated reading
    is retaken at half the integration time (a clipped peak would misplace the peak and FWHM)."""
    ch = ctx.channel
    laser, spectrometer = ctx.station["laser"], ctx.station["spectrometer"]
    integration = spec.integration
    with ctx.locks.optics:
        laser.aim(ch.pixel)  # the fibre switch: the spectrometer looks at this pixel
        t_h = ctx.now_h()
        spectrum = spectrometer.spectrum(integration, spec.averages, dark=True)
        while spectrum.saturated and integration > MIN_INTEGRATION_S:
            integration = max(integration / 2, MIN_INTEGRATION_S)
            spectrum = spectrometer.spectrum(integration, spec.averages, dark=True)
    return SpectrumRecord(ch.name, "el", label, t_h, spectrum.wavelength_nm, spectrum.counts,
                          integration)


def measure_pl(ctx: StepContext, spec: PLSpec, label: str) -> ReadingRecord:
    """Lock-in PL under the modulated laser, the DC EL rejected; the laser is on only for it."""
    ch = ctx.channel
    laser, lockin = ctx.station["laser"], ctx.station["lockin"]
    with ctx.locks.optics:
        laser.aim(ch.pixel)
        laser.set_power(spec.laser_power)
        lockin.configure(spec.frequency, spec.sensitivity, spec.time_constant)
        with ctx.laser_on_pixel:
            laser.enable(True)
            try:
                t_h = ctx.now_h()
                x, y = lockin.read_settled()
            finally:
                laser.enable(False)
    return ReadingRecord(ch.name, "pl", label, t_h, x, y,
                         params={"laser_power_w": spec.laser_power, "frequency_hz": spec.frequency,
                                 "time_constant_s": spec.time_constant})


STEPS = {"jv": measure_jv, "cv": measure_cv, "el": measure_el, "pl": measure_pl}
