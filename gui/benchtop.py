"""Benchtop work by hand: the station of a config, one pixel at a time, saved as a run file.

``BenchtopSession`` owns a ``Station`` (the virtual bench or the rack) outside any study. Every
level is checked against the config's safety limits before an instrument is touched; the output
goes on and off only through the ramp; a J–V or C–V taken with the output on ramps it off first
and back to its level after, as the engine does. Each result (a reading, a sweep, a spectrum, a PL
reading) is written to a benchtop run file that ``agelab report`` reads like any other run.

Its methods do instrument I/O: the window calls them on its worker thread (``TaskRunner``), one
at a time.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pint

from agelab.instruments.resilience import FaultEvent
from agelab.instruments.station import Station
from agelab.protocols.config import (
    EXCLUSIVE_KINDS,
    ChannelSpec,
    CVSpec,
    ELSpec,
    JVSpec,
    PLSpec,
    RunConfig,
)
from agelab.protocols.config.units import unit_registry
from agelab.protocols.engine.bus import fault_record
from agelab.protocols.engine.clock import EngineClock
from agelab.protocols.engine.steps import STEPS, SharedLocks, StepContext
from agelab.protocols.engine.stress import StressDrive
from agelab.protocols.store import RunWriter
from agelab.protocols.store.records import EventRecord, Record, Sample


@dataclass(frozen=True)
class Level:
    """What the operator asked the source-meter for."""

    mode: str         # "current" or "voltage"
    value: float      # A or V
    text: str         # as typed, for the log

    def describe(self, area_cm2: float) -> str:
        if self.mode == "voltage":
            return f"{self.value:g} V"
        return f"{self.value * 1e3:g} mA ({self.value / area_cm2 * 1e3:.4g} mA/cm²)"


def parse_level(text: str, channel: ChannelSpec, config: RunConfig) -> Level:
    """'10 mA/cm^2', '2 mA' or '3.5 V', checked against the safety limits (a ValueError that
    says which limit, before anything is touched)."""
    ureg = unit_registry()
    try:
        q = ureg.Quantity(text.strip())
    except Exception:
        raise ValueError(f"cannot read {text!r}; write e.g. '10 mA/cm^2', '2 mA' or '3 V'"
                         ) from None
    if not isinstance(q, pint.Quantity) or q.dimensionless:
        raise ValueError(f"{text!r} has no unit; write e.g. '10 mA/cm^2', '2 mA' or '3 V'")
    safety = config.safety
    try:
        if q.check("[current] / [length] ** 2"):
            j = float(q.to("mA/cm^2").magnitude)
            amps = j * channel.area * 1e-3
        elif q.check("[current]"):
            amps = float(q.to("A").magnitude)
            j = amps / channel.area * 1e3
        elif q.check("[electric_potential]"):
            volts = float(q.to("V").magnitude)
            if not 0 <= volts <= safety.max_voltage:
                raise ValueError(f"{volts:g} V is outside 0 … safety.max_voltage "
                                 f"{safety.max_voltage:g} V")
            return Level("voltage", volts, text)
        else:
            raise ValueError(f"{text!r} is neither a current, a current density nor a voltage")
    except pint.errors.DimensionalityError:
        raise ValueError(f"{text!r} is neither a current nor a voltage") from None
    if not 0 <= j <= safety.max_current_density:
        raise ValueError(f"{j:.4g} mA/cm^2 is outside 0 … safety.max_current_density "
                         f"{safety.max_current_density:g} mA/cm^2")
    return Level("current", amps, text)


class BenchtopSession:
    def __init__(self, config: RunConfig, config_text: str, out_dir: Path) -> None:
        self.config = config
        self.config_text = config_text
        self.out_dir = Path(out_dir)
        self.faults: Counter[str] = Counter()
        self.station = Station(config.station, listener=self._on_fault)
        self.locks = SharedLocks()
        self.clock = EngineClock(config.device_speedup)
        self.levels: dict[str, Level] = {}   # channels whose output is on, and at what
        self.writer: RunWriter | None = None
        self.path: Path | None = None
        self._lock = threading.Lock()
        self._opened = False

    # ---------------------------------------------------------------- station
    def channel(self, name: str) -> ChannelSpec:
        for ch in self.config.channels:
            if ch.name == name:
                return ch
        raise ValueError(f"no channel {name!r} in the config")

    def open(self) -> None:
        if not self._opened:
            self.station.open()
            self._opened = True

    def connect(self, instrument: str | None = None) -> dict[str, str]:
        """Connect one instrument (or all); returns each identity."""
        self.open()
        names = [instrument] if instrument else list(self.station.instruments)
        return {n: self.station[n].identity() for n in names}

    def disconnect(self, instrument: str | None = None) -> None:
        """Make safe, then release one instrument (or all). A source-meter with its output on
        is ramped off first."""
        if not self._opened:
            return
        if instrument is None:
            self.all_off()
            self.station.close()
            self._opened = False
            self.station = Station(self.config.station, listener=self._on_fault)
            return
        for ch in self.config.channels:
            if ch.smu_name == instrument and ch.name in self.levels:
                self.output_off(ch.name)
        inst = self.station[instrument]
        if inst.connected:
            inst.shutdown()
        inst.close()

    def rows(self) -> list[dict[str, object]]:
        """What the station panel shows (no I/O: cached identity and link state)."""
        specs = self.station.resolved_specs() if self._opened else {}
        out = []
        for name, spec in specs.items():
            inst = self.station.instruments.get(name)
            out.append({"name": name, "driver": spec.driver, "resource": spec.resource,
                        "identity": inst.cached_identity if inst else "",
                        "connected": bool(inst and inst.connected),
                        "faults": self.faults.get(name, 0)})
        return out

    def _on_fault(self, event: FaultEvent) -> None:
        self.faults[event.instrument] += 1
        self._write(fault_record(event, self._owner(event.instrument)))

    def _owner(self, instrument: str) -> str | None:
        for ch in self.config.channels:
            if instrument in (ch.smu_name, ch.pd_name) and self.writer is not None:
                self._ensure_channel(ch)
                return ch.name
        return None

    # ---------------------------------------------------------------- the run file
    def _ensure_writer(self) -> RunWriter:
        if self.writer is None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self.path = self.out_dir / f"benchtop-{stamp}.sqlite"
            writer = RunWriter.new_run(
                self.path, study=f"benchtop {self.config.study}", kind="benchtop",
                config_yaml=self.config_text, config=self.config.model_dump(mode="json"),
                speedup=self.clock.speedup, status="running", engine_pid=os.getpid())
            self.writer = writer.start()
            if self._opened:
                self.writer.update_meta(identities={
                    n: i.cached_identity for n, i in self.station.instruments.items()})
        return self.writer

    def _ensure_channel(self, ch: ChannelSpec) -> None:
        writer = self._ensure_writer()
        writer.add_channel(ch.name, ch.pixel, ch.area, ch.stress.current_density or 0.0,
                           ch.sample.fields())

    def _write(self, record: Record) -> None:
        if self.writer is not None:
            self.writer.write(record)

    def _save(self, ch: ChannelSpec, record: Record) -> Record:
        with self._lock:
            self._ensure_channel(ch)
            self.writer.write(record)
        return record

    def now_h(self) -> float:
        return self.clock.hours()

    # ---------------------------------------------------------------- source
    def set_level(self, name: str, text: str) -> Level:
        """Source ``text`` on the channel's pixel (output on through the ramp)."""
        ch = self.channel(name)
        level = parse_level(text, ch, self.config)  # refused here, before any I/O
        self.open()
        smu = self.station[ch.smu_name]
        previous = self.levels.get(name)
        if previous is not None and previous.mode != level.mode:
            self.output_off(name)  # never switch the source function with the output on
        drive = self._drive(ch, level)
        drive.configure(smu)  # compliance first, output untouched
        drive.ramp_on(smu)
        self.levels[name] = level
        self._save(ch, EventRecord(name, "operator", {"action": "set", "level": level.text,
                                                      "mode": level.mode, "value": level.value},
                                   self.now_h()))
        return level

    def _drive(self, ch: ChannelSpec, level: Level) -> StressDrive:
        """The engine's stress drive for an operator's level: a current with the channel's
        compliance, a voltage with the safety limit's current as its compliance."""
        compliance = (ch.stress.compliance if level.mode == "current"
                      else self.config.safety.max_current_density * ch.area * 1e-3)
        return StressDrive.at_level(ch, level.mode, level.value, compliance)

    def output_off(self, name: str) -> None:
        ch = self.channel(name)
        if not self._opened:
            return
        level = self.levels.get(name) or Level("current", 0.0, "0 A")
        self._drive(ch, level).ramp_off(self.station[ch.smu_name])
        self.levels.pop(name, None)
        if self.writer is not None:
            self._save(ch, EventRecord(name, "output-off", {"by": "operator"}, self.now_h()))

    def all_off(self) -> list[str]:
        """Every output this session switched on, ramped off; returns the channels. One that
        fails does not keep the others on."""
        done, errors = [], []
        for name in list(self.levels):
            try:
                self.output_off(name)
                done.append(name)
            except Exception as exc:
                errors.append(f"{name}: {exc}")
        if errors:
            raise RuntimeError("could not switch off " + "; ".join(errors))
        return done

    # ---------------------------------------------------------------- measurements
    def read(self, name: str) -> Sample:
        """V and I from the source-meter and L from the photodiode, saved as a sample."""
        ch = self.channel(name)
        self.open()
        smu, pd = self.station[ch.smu_name], self.station[ch.pd_name]
        t = self.now_h()
        if name in self.levels:
            v, i, _ = smu.read_vi()
        else:
            v, i = float("nan"), 0.0
        i_pd = pd.read_photocurrent()
        sample = Sample(name, t, i / ch.area * 1e3, v, i_pd * ch.cd_m2_per_A, i_pd)
        return self._save(ch, sample)

    def measure(self, name: str, kind: str) -> Record:
        """One J–V–L sweep, C–V sweep, EL spectrum or PL reading with the config's settings
        for that kind (or sensible ones if the config has none)."""
        ch = self.channel(name)
        self.open()
        spec = self.spec(kind)
        ctx = StepContext(self.station, ch, self.locks, self.now_h)
        label = f"benchtop {kind}"
        level = self.levels.get(name)
        interrupts = kind in EXCLUSIVE_KINDS and level is not None
        if interrupts:
            self.output_off(name)  # the sweep needs the pixel; the level comes back after
        try:
            record = STEPS[kind](ctx, spec, label)
        finally:
            if interrupts:
                with contextlib.suppress(Exception):
                    self.set_level(name, level.text)
        return self._save(ch, record)

    def spec(self, kind: str) -> JVSpec | CVSpec | ELSpec | PLSpec:
        for m in self.config.measurements.values():
            if m.kind == kind:
                return m
        safety = self.config.safety
        defaults = {
            "jv": lambda: JVSpec(kind="jv", stop=min(4.0, safety.max_voltage),
                                 max_current_density=min(200.0, safety.max_current_density)),
            "cv": lambda: CVSpec(kind="cv", stop=min(3.0, safety.max_voltage)),
            "el": lambda: ELSpec(kind="el"),
            "pl": lambda: PLSpec(kind="pl"),
        }
        if kind not in defaults:
            raise ValueError(f"no measurement kind {kind!r}")
        return defaults[kind]()

    # ---------------------------------------------------------------- the way out
    def close(self) -> None:
        """Every output ramped off, every instrument made safe, the file closed."""
        try:
            if self._opened:
                with contextlib.suppress(Exception):
                    self.all_off()
                self.station.close()
                self._opened = False
        finally:
            if self.writer is not None:
                self.writer.update_meta(status="finished", ended=time.time())
                self.writer.close()
                self.writer = None
