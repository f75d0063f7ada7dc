"""The config's model: station, safety limits, measurements and channels, with units and ranges.

Field validators (pydantic, quantities through pint) see one field at a time; what needs the
whole study (safety limits, names that must exist) is in ``checks``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agelab.instruments.roles import channel_role
from agelab.instruments.station import StationSpec
from agelab.protocols.config.sampling import SamplingSchedule
from agelab.protocols.config.units import (
    AreaCm2,
    Celsius,
    CurrentDensity,
    Hertz,
    Hours,
    Kelvins,
    Seconds,
    Voltage,
    Watts,
)


class ConfigError(ValueError):
    """A config problem, already phrased for the user: ``file:line: field: what is wrong``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------- measurements
class JVSpec(_Strict):
    """A J–V–L sweep run by the source-meter, the photodiode meter reading on its trigger link.

    J–V–L needs a photodetector that reads in step with the sweep: a 2400 on the trigger-link
    cable of a 2400, or the other channel of the pixel's 2602B. A photodiode on a scanning meter
    (DAQ6510) or a lock-in cannot follow a sweep: the J–V is then taken without light, and its
    record says so."""

    kind: Literal["jv"]
    start: Voltage = 0.0
    stop: Voltage
    points: int = Field(61, ge=2, le=2500)
    nplc: float = Field(0.1, ge=0.01, le=10)
    delay: Seconds = Field(0.0, ge=0)
    max_current_density: CurrentDensity = Field(200.0, gt=0)  # the sweep's current compliance


class CVSpec(_Strict):
    """A DC-bias C–V sweep on the shared LCR meter, the pixel routed to it by the relay box."""

    kind: Literal["cv"]
    start: Voltage = -1.0
    stop: Voltage = 3.0
    points: int = Field(41, ge=2, le=201)
    frequency: Hertz = Field(1000.0, gt=0)
    level: Voltage = Field(0.05, gt=0, le=2)


class ELSpec(_Strict):
    """An EL spectrum taken during stress (no interruption)."""

    kind: Literal["el"]
    integration: Seconds = Field(0.1, gt=0, le=60)
    averages: int = Field(1, ge=1, le=100)


class PLSpec(_Strict):
    """Lock-in PL during stress: the laser on this pixel, demodulated at its frequency."""

    kind: Literal["pl"]
    laser_power: Watts = Field(1e-3, gt=0, le=0.1)
    frequency: Hertz = Field(1000.0, gt=0, le=100e3)
    time_constant: Seconds = Field(0.1, gt=0, le=30)
    sensitivity: Voltage = Field(1e-3, gt=0, le=1)


Measurement = Annotated[JVSpec | CVSpec | ELSpec | PLSpec, Field(discriminator="kind")]
EXCLUSIVE_KINDS = ("jv", "cv")  # these interrupt the stress; el and pl run during it


# ---------------------------------------------------------------------------- milestones
_MILESTONE = re.compile(r"^\s*T(\d{1,2})\s*(?:from\s+(L0|Lmax))?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Milestone:
    """Luminance falling to ``fraction`` of L0 (initial) or of Lmax (the running maximum)."""

    fraction: float
    reference: Literal["L0", "Lmax"]

    @classmethod
    def parse(cls, text: str) -> Milestone:
        m = _MILESTONE.match(str(text))
        if not m or not 1 <= int(m.group(1)) <= 99:
            raise ValueError(f"{text!r} is not a milestone; write e.g. 'T90', 'T95 from Lmax'")
        ref = "Lmax" if (m.group(2) or "").lower() == "lmax" else "L0"
        return cls(int(m.group(1)) / 100.0, ref)

    @property
    def key(self) -> str:
        """Its name in run files and reports: T95, T95_from_max."""
        name = f"T{round(self.fraction * 100)}"
        return name if self.reference == "L0" else f"{name}_from_max"


# ---------------------------------------------------------------------------- channel parts
class LuminanceHold(_Strict):
    """Constant-luminance stress: the current is adjusted at each sample to hold the
    photodiode reading at its first (L0) level, within ``band`` (a fraction of L0), never above
    ``safety.max_current_density``. The milestones are then read from the drive: "T90" is
    reached when the efficiency has fallen to 90 %, i.e. the current has risen by 1/0.9."""

    band: float = Field(0.01, gt=0, le=0.2)


class StressSpec(_Strict):
    """Constant current density (``current_density``) or constant voltage (``voltage``, with
    its ``current_limit``): exactly one of the two. With ``hold_luminance`` the current
    density is the starting drive, adjusted from then on to hold the luminance."""

    current_density: CurrentDensity | None = Field(None, gt=0)
    voltage: Voltage | None = Field(None, gt=0)
    compliance: Voltage = Field(8.0, gt=0)  # voltage limit while sourcing current
    current_limit: CurrentDensity | None = Field(None, gt=0)  # while sourcing voltage
    nplc: float = Field(1.0, ge=0.01, le=10)
    ramp_steps: int = Field(10, ge=1, le=1000)
    ramp_dwell: Seconds = Field(0.005, ge=0, le=10)  # wall time between ramp steps
    hold_luminance: LuminanceHold | None = None

    @property
    def mode(self) -> Literal["current", "voltage"]:
        return "voltage" if self.voltage is not None else "current"


class LogSpacing(_Strict):
    first: Hours = Field(gt=0)
    last: Hours = Field(gt=0)
    per_decade: int = Field(4, ge=1, le=100)


class LogSampling(_Strict):
    """A log-spaced start of sampling: every ``first``, then ``per_decade`` samples a decade
    of stress time, until the interval reaches the channel's ``sampling``."""

    first: Hours = Field(gt=0)
    per_decade: int = Field(100, ge=5, le=1000)


class CheckpointSpec(_Strict):
    at_start: bool = True
    every: Hours | None = Field(None, gt=0)
    log: LogSpacing | None = None
    at: list[Hours] = Field(default_factory=list)
    measure: list[str] = Field(default_factory=list)

    def times(self, horizon_h: float) -> list[float]:
        """Checkpoint times up to ``horizon_h`` (device hours), sorted, without duplicates."""
        times = set()
        if self.at_start:
            times.add(0.0)
        times.update(t for t in self.at if t <= horizon_h)
        if self.every:
            k = 1
            while k * self.every <= horizon_h and k < 1_000_000:
                times.add(k * self.every)
                k += 1
        if self.log:
            decades = math.log10(self.log.last / self.log.first)
            count = max(1, round(decades * self.log.per_decade))
            for k in range(count + 1):
                t = self.log.first * 10 ** (decades * k / count)
                if t <= horizon_h:
                    times.add(round(t, 9))
        return sorted(times)


class StopRules(_Strict):
    at: str | None = None                    # a milestone, e.g. 'T50'
    max_time: Hours | None = Field(None, gt=0)
    max_voltage: Voltage | None = Field(None, gt=0)   # runaway: V above this
    min_voltage: Voltage = Field(0.3, ge=0)           # a short: V below this under stress
    voltage_jump: Voltage | None = Field(1.0, gt=0)   # runaway: V rises this much in one sample
    # Under a voltage stress the voltage is held, so an open circuit shows as the current
    # collapsing below this (a short, as the current limit reached).
    min_current_density: CurrentDensity = Field(0.01, ge=0)
    on_compliance: bool = True               # stop when the source-meter reports compliance


class InstrumentChannel(_Strict):
    """One channel of a multi-channel instrument: ``{instrument: k2602, channel: a}``."""

    instrument: str = Field(min_length=1)
    channel: str = Field(pattern=r"^([a-z]|[0-9]{3})$")  # a 2602B's a/b, a scanner's 101...

    @property
    def role_name(self) -> str:
        """Its name on the station (``k2602a``, ``daq1:101``)."""
        return channel_role(self.instrument, self.channel)


class TemperatureSpec(_Strict):
    """The pixel's stage held at ``setpoint`` by a temperature controller. The run waits until
    it has stayed within ``tolerance`` for ``settle`` before any stress; every sample then
    reads it, and a reading outside the band is handled as ``on_excursion`` says: ``log`` it,
    ``pause`` the stress until it is back, or ``stop`` the channel."""

    controller: str | None = None  # default: the virtual bench's TEC under the pixel
    setpoint: Celsius = Field(ge=-40, le=150)
    tolerance: Kelvins = Field(0.5, gt=0, le=20)
    settle: Seconds = Field(300.0, ge=0)
    timeout: Seconds = Field(3600.0, gt=0)  # longest wait for the stage to settle
    on_excursion: Literal["log", "pause", "stop"] = "log"


_LABEL = r"^[^\x00-\x1f]*$"  # printable: no control characters


class SampleSpec(_Strict):
    """What the pixel is, for comparing runs: its batch, substrate, device, recipe, who made or
    mounted it, and free ``tags``. Every field is optional."""

    batch: str | None = Field(None, min_length=1, max_length=64, pattern=_LABEL)
    substrate: str | None = Field(None, min_length=1, max_length=64, pattern=_LABEL)
    device: str | None = Field(None, min_length=1, max_length=64, pattern=_LABEL)
    recipe: str | None = Field(None, min_length=1, max_length=128, pattern=_LABEL)
    operator: str | None = Field(None, min_length=1, max_length=64, pattern=_LABEL)
    tags: dict[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")],
               Annotated[str, Field(max_length=256, pattern=_LABEL)]] = Field(
        default_factory=dict, max_length=32)

    def fields(self) -> dict[str, Any]:
        """The fields given, as stored in the run file."""
        return self.model_dump(exclude_none=True, exclude_defaults=True)


class ChannelSpec(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.+-]+$")
    pixel: int = Field(ge=1)
    area: AreaCm2 = Field(gt=0)
    # The station's names for the pixel's source-meter and photodetector (a channel of a
    # two-channel box as 'smu1a' or {instrument: smu1, channel: a}); by default, as the
    # virtual bench wires pixel ``pixel`` (smu<pixel> and pd<pixel> on a rack).
    source_meter: str | InstrumentChannel | None = None
    photodetector: str | InstrumentChannel | None = None
    cd_m2_per_A: float = Field(gt=0)         # photodiode calibration, luminance per photocurrent
    # The device type; the acceleration fit groups channels by it (default: the virtual preset).
    device: str | None = Field(None, min_length=1, max_length=64)
    stress: StressSpec
    sampling: Hours = Field(1 / 60, gt=0)
    log_sampling: LogSampling | None = None  # dense early samples, for the early T-values
    # Readings the photodiode meter averages for each sample (its repeat filter): the sample's
    # noise falls as 1/sqrt(n), and a T97 on an early decay is noise-limited.
    light_average: int = Field(1, ge=1, le=100)
    smoothing: int = Field(5, ge=1, le=101)  # samples in the milestone smoother
    settle: Hours = Field(1 / 6, ge=0)       # milestones are not armed before this
    holdoff: Hours = Field(1 / 6, ge=0)      # after an interruption, Lmax is not raised
    checkpoints: CheckpointSpec = Field(default_factory=CheckpointSpec)
    milestones: dict[str, list[str]] = Field(default_factory=dict)
    stop: StopRules = Field(default_factory=StopRules)
    temperature: TemperatureSpec | None = None
    sample: SampleSpec = Field(default_factory=SampleSpec)

    @property
    def smu_name(self) -> str:
        return _role_name(self.source_meter) or f"smu{self.pixel}"

    @property
    def pd_name(self) -> str:
        return _role_name(self.photodetector) or f"pd{self.pixel}"

    @property
    def schedule(self) -> SamplingSchedule:
        log = self.log_sampling
        return SamplingSchedule(self.sampling, log.first if log else None,
                                log.per_decade if log else 100)

    @property
    def current_a(self) -> float:
        return (self.stress.current_density or 0.0) * self.area * 1e-3


def _role_name(given: str | InstrumentChannel | None) -> str | None:
    return given.role_name if isinstance(given, InstrumentChannel) else given


class Safety(_Strict):
    max_current_density: CurrentDensity = Field(300.0, gt=0)
    max_voltage: Voltage = Field(12.0, gt=0)


class RunConfig(_Strict):
    study: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.+-]+$")
    station: StationSpec
    safety: Safety = Field(default_factory=Safety)
    measurements: dict[str, Measurement] = Field(default_factory=dict)
    defaults: dict[str, Any] = Field(default_factory=dict)
    channels: list[ChannelSpec] = Field(min_length=1)
    # Device time per wall time. A virtual station sets it itself; give it only for a virtual bench
    # that runs elsewhere (``agelab sim``) and is listed as plain instruments.
    speedup: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _wired(self) -> RunConfig:
        """A channel that names no source-meter or photodetector gets the ones the virtual
        bench wires to its pixel."""
        virtual = self.station.virtual
        if virtual is not None:
            for ch in self.channels:
                smu, pd = virtual.wiring(ch.pixel)
                ch.source_meter = ch.source_meter or smu
                ch.photodetector = ch.photodetector or pd
                if ch.temperature is not None and ch.temperature.controller is None:
                    ch.temperature.controller = virtual.temperature_controller(ch.pixel)
        return self

    @property
    def device_speedup(self) -> float:
        if self.speedup is not None:
            return self.speedup
        return self.station.virtual.speedup if self.station.virtual else 1.0

    def milestones_of(self, channel: ChannelSpec) -> dict[str, Milestone]:
        names = list(channel.milestones)
        if channel.stop.at:
            names.append(channel.stop.at)
        return {n: Milestone.parse(n) for n in dict.fromkeys(names)}
