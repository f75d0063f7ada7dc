"""The study a user writes: one validated model of station, channels and protocol.

``load_config(path)`` reads YAML, merges ``defaults`` into every channel, validates units and
ranges (pydantic + pint), then checks everything against the safety limits and the station. Any
problem is one ``ConfigError`` line naming the file, its line and the field; nothing here touches
an instrument, so an unsafe study is refused before anything is sourced.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agelab.instruments.station import StationSpec
from agelab.instruments.station.virtual import get_preset
from agelab.protocols.config.sampling import SamplingSchedule
from agelab.protocols.config.units import (
    AreaCm2,
    CurrentDensity,
    Hertz,
    Hours,
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
    """A J–V–L sweep run by the source-meter, the photodiode meter reading on its trigger link."""

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
class StressSpec(_Strict):
    """Constant current density (``current_density``) or constant voltage (``voltage``, with
    its ``current_limit``): exactly one of the two."""

    current_density: CurrentDensity | None = Field(None, gt=0)
    voltage: Voltage | None = Field(None, gt=0)
    compliance: Voltage = Field(8.0, gt=0)  # voltage limit while sourcing current
    current_limit: CurrentDensity | None = Field(None, gt=0)  # while sourcing voltage
    nplc: float = Field(1.0, ge=0.01, le=10)
    ramp_steps: int = Field(10, ge=1, le=1000)
    ramp_dwell: Seconds = Field(0.005, ge=0, le=10)  # wall time between ramp steps

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


class ChannelSpec(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.+-]+$")
    pixel: int = Field(ge=1)
    area: AreaCm2 = Field(gt=0)
    source_meter: str | None = None
    photodetector: str | None = None
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

    @property
    def smu_name(self) -> str:
        return self.source_meter or f"smu{self.pixel}"

    @property
    def pd_name(self) -> str:
        return self.photodetector or f"pd{self.pixel}"

    @property
    def schedule(self) -> SamplingSchedule:
        log = self.log_sampling
        return SamplingSchedule(self.sampling, log.first if log else None,
                                log.per_decade if log else 100)

    @property
    def current_a(self) -> float:
        return (self.stress.current_density or 0.0) * self.area * 1e-3


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


# ---------------------------------------------------------------------------- loading
def load_config(path: Path | str) -> RunConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "<config>") -> RunConfig:
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}{line}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: a config is a mapping with study, station and channels")
    data = _merge_defaults(data)
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(_where(source, root, first["loc"], data) + _message(first)) from None
    for loc, message in check_study(config):
        raise ConfigError(_where(source, root, loc, data) + message)
    return config


def _merge_defaults(data: dict) -> dict:
    defaults = data.get("defaults") or {}
    channels = data.get("channels")
    if not isinstance(defaults, dict) or not isinstance(channels, list):
        return data
    merged = []
    for ch in channels:
        merged.append(_deep_merge(defaults, ch) if isinstance(ch, dict) else ch)
    return {**data, "channels": merged}


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _message(error: dict) -> str:
    msg = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        msg = "unknown field (check its spelling)"
    elif error["type"] == "missing":
        msg = "required field is missing"
    return msg


def _where(source: str, root: yaml.Node | None, loc: tuple, data: dict) -> str:
    """``file:line: dotted.path: `` for a validation location, the line found in the YAML (a
    channel field that came from ``defaults`` points at the defaults)."""
    if loc[:1] == ("measurements",) and len(loc) > 2 and loc[2] in ("jv", "cv", "el", "pl"):
        loc = loc[:2] + loc[3:]  # pydantic's discriminator tag is not a YAML key
    node, found = _walk(root, loc)
    if not found and len(loc) > 2 and loc[0] == "channels":
        from_defaults, in_defaults = _walk(root, ("defaults", *loc[2:]))
        if in_defaults:
            node = from_defaults
    line = f":{node.start_mark.line + 1}" if node is not None else ""
    path = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc)
    path = path.replace(".[", "[")
    if loc[:1] == ("channels",) and len(loc) > 1 and isinstance(loc[1], int):
        name = _channel_name(data, loc[1])
        if name:
            path = path.replace(f"channels[{loc[1]}]", f"channels[{loc[1]}] ({name})", 1)
    return f"{source}{line}: {path}: " if path else f"{source}{line}: "


def _channel_name(data: dict, index: int) -> str | None:
    channels = data.get("channels")
    if isinstance(channels, list) and index < len(channels) and isinstance(channels[index], dict):
        name = channels[index].get("name")
        return str(name) if name is not None else None
    return None


def _child(node: yaml.Node | None, part: object) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if str(key.value) == str(part):
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def _walk(root: yaml.Node | None, loc: tuple) -> tuple[yaml.Node | None, bool]:
    """The YAML node at ``loc``, or the deepest one on the way; and whether all of ``loc`` was
    found."""
    node = root
    for part in loc:
        child = _child(node, part)
        if child is None:
            return node, False
        node = child
    return node, True


# ---------------------------------------------------------------------------- cross-checks
def check_study(config: RunConfig) -> list[tuple[tuple, str]]:
    """Every problem the field validators cannot see: safety limits, names that must exist,
    pixels and instruments that must be on the station. Nothing here touches an instrument."""
    problems: list[tuple[tuple, str]] = []
    safety = config.safety
    pixels, instruments = _station_inventory(config)
    seen_names: set[str] = set()
    seen_pixels: dict[int, str] = {}
    for name, m in config.measurements.items():
        where = ("measurements", name)
        if m.kind == "jv":
            worst = max(abs(m.start), abs(m.stop))
            if worst > safety.max_voltage:
                problems.append(((*where, "stop"), f"{worst:g} V exceeds safety.max_voltage "
                                                   f"{safety.max_voltage:g} V"))
            if m.max_current_density > safety.max_current_density:
                problems.append(((*where, "max_current_density"),
                                 f"{m.max_current_density:g} mA/cm^2 exceeds "
                                 f"safety.max_current_density {safety.max_current_density:g}"))
        if m.kind == "cv" and max(abs(m.start), abs(m.stop)) > safety.max_voltage:
            problems.append(((*where, "stop"), f"bias beyond safety.max_voltage "
                                               f"{safety.max_voltage:g} V"))
    for i, ch in enumerate(config.channels):
        where = ("channels", i)
        if ch.name in seen_names:
            problems.append(((*where, "name"), f"channel name {ch.name!r} is used twice"))
        seen_names.add(ch.name)
        if ch.pixel in seen_pixels:
            problems.append(((*where, "pixel"), f"pixel {ch.pixel} is already channel "
                                                f"{seen_pixels[ch.pixel]!r}"))
        seen_pixels.setdefault(ch.pixel, ch.name)
        if pixels is not None and ch.pixel > len(pixels):
            problems.append(((*where, "pixel"), f"the virtual station has {len(pixels)} "
                                                f"pixel(s); there is no pixel {ch.pixel}"))
        elif pixels is not None:
            area = _preset_area(pixels[ch.pixel - 1])
            if abs(ch.area - area) > 1e-9 * area:
                problems.append(((*where, "area"), f"{ch.area:g} cm^2 is not the virtual "
                                                   f"pixel's area ({area:g} cm^2)"))
        for role, inst in (("source_meter", ch.smu_name), ("photodetector", ch.pd_name)):
            if instruments is not None and inst not in instruments:
                problems.append(((*where, role), f"no instrument {inst!r} on the station"))
        s = ch.stress
        if s.current_density is None and s.voltage is None:
            problems.append(((*where, "stress", "current_density"), "give the stress current "
                                                                     "density, e.g. 50 mA/cm^2"))
        elif s.current_density is not None and s.voltage is not None:
            problems.append(((*where, "stress", "voltage"), "give current_density or voltage, "
                                                             "not both"))
        elif s.voltage is not None:
            problems += _voltage_stress_problems(s, safety, (*where, "stress"))
        elif s.current_density > safety.max_current_density:
            problems.append(((*where, "stress", "current_density"),
                             f"{s.current_density:g} mA/cm^2 exceeds safety.max_current_density "
                             f"{safety.max_current_density:g} mA/cm^2"))
        if s.compliance > safety.max_voltage:
            problems.append(((*where, "stress", "compliance"),
                             f"{s.compliance:g} V exceeds safety.max_voltage "
                             f"{safety.max_voltage:g} V"))
        for j, m in enumerate(ch.checkpoints.measure):
            if m not in config.measurements:
                problems.append(((*where, "checkpoints", "measure", j),
                                 f"no measurement named {m!r}"))
        for key, actions in ch.milestones.items():
            try:
                Milestone.parse(key)
            except ValueError as exc:
                problems.append(((*where, "milestones", key), str(exc)))
            for action in actions:
                if action != "stop" and action not in config.measurements:
                    problems.append(((*where, "milestones", key),
                                     f"{action!r} is neither 'stop' nor a measurement"))
        if ch.stop.at is not None:
            try:
                Milestone.parse(ch.stop.at)
            except ValueError as exc:
                problems.append(((*where, "stop", "at"), str(exc)))
        if ch.stop.at is None and ch.stop.max_time is None and not any(
                "stop" in a for a in ch.milestones.values()):
            problems.append(((*where, "stop"), "give a stop rule: 'at' a milestone or a "
                                               "'max_time'"))
        if ch.sampling <= 0:
            problems.append(((*where, "sampling"), "must be > 0"))
        if ch.log_sampling is not None and ch.log_sampling.first >= ch.sampling:
            problems.append(((*where, "log_sampling", "first"),
                             f"{ch.log_sampling.first * 3600:g} s is not shorter than the "
                             f"sampling interval ({ch.sampling * 3600:g} s)"))
    return problems


def _voltage_stress_problems(s: StressSpec, safety: Safety, where: tuple
                             ) -> list[tuple[tuple, str]]:
    problems = []
    if s.voltage > safety.max_voltage:
        problems.append(((*where, "voltage"), f"{s.voltage:g} V exceeds safety.max_voltage "
                                              f"{safety.max_voltage:g} V"))
    if s.current_limit is None:
        problems.append(((*where, "current_limit"), "a voltage stress needs its current limit "
                                                    "(the compliance), e.g. 150 mA/cm^2"))
    elif s.current_limit > safety.max_current_density:
        problems.append(((*where, "current_limit"),
                         f"{s.current_limit:g} mA/cm^2 exceeds safety.max_current_density "
                         f"{safety.max_current_density:g} mA/cm^2"))
    return problems


def _station_inventory(config: RunConfig) -> tuple[list[str] | None, set[str] | None]:
    """(pixel presets of a virtual station or None, instrument names or None if unknown)."""
    st = config.station
    names = set(st.instruments)
    if st.virtual is None:
        return None, names
    presets = st.virtual.presets
    n = len(presets)
    names |= {f"smu{i}" for i in range(1, n + 1)} | {f"pd{i}" for i in range(1, n + 1)}
    names |= {"lcr", "lockin", "spectrometer", "relay", "laser"}
    return presets, names


def _preset_area(name: str) -> float:
    return get_preset(name).area_cm2
