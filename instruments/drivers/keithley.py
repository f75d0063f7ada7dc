"""Keithley 2400 and 2450 source-meters: pymeasure's drivers plus hardware sweeps into the buffer.

pymeasure's ``Keithley2400`` sources and reads point by point. A J–V sweep that way costs one bus
round trip and one trigger setup per point; the instrument can instead step through a source list
(``:SOUR:LIST``, up to 100 points) or a linear sweep (``:SOUR:SWE``, up to 2500) on its own, store
the readings in its 2500-point buffer, and hand them over in one binary transfer.
"""

from __future__ import annotations

import itertools
import math
import struct
import time
from collections.abc import Callable
from typing import Literal

import numpy as np
from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley import Keithley2400 as _PymeasureKeithley2400
from pymeasure.instruments.keithley import Keithley2450 as _PymeasureKeithley2450
from pymeasure.instruments.validators import strict_discrete_set, strict_range
from pyvisa.util import from_ieee_block

from agelab.instruments.drivers.formats import completed, numbers, read_block_verified, scpi_list
from agelab.instruments.roles import Capability, RampTiming, Sweep

BUFFER_MAX = 2500
LIST_MAX = 100
STATUS_COMPLIANCE = 1 << 3
POWER_ON = 1 << 7  # PON, in IEEE 488.2's standard event status register
SWEEP_ELEMENTS = "VOLT,CURR,STAT"
DEFAULT_ELEMENTS = "VOLT,CURR,RES,TIME,STAT"  # what pymeasure's own properties expect
_MODES = {"fixed": "FIX", "list": "LIST", "sweep": "SWE"}
_SOURCE_FUNCS = {"CURR": "current", "CURRENT": "current", "VOLT": "voltage", "VOLTAGE": "voltage"}
_FUNCS = {"current": "CURR", "voltage": "VOLT"}
# One reading per trigger, in ASCII: what point-by-point use needs. A sweep cut short (a fault, a
# killed engine) leaves the meter binary, listed, armed; configuring a source starts from this, and
# the resilience layer replays that configuration after every reconnect.
POINT_MODE = (f":ABOR;:FORM:DATA ASC;:FORM:ELEM {DEFAULT_ELEMENTS};:SOUR:CURR:MODE FIX;"
              f":SOUR:VOLT:MODE FIX;:TRIG:SOUR IMM;:TRIG:COUN 1;:TRAC:FEED:CONT NEV;"
              f":SYST:AZER ON;:TRIG:OUTP NONE")


def checked_reading(volts: float, amps: float, status: float = 0.0) -> tuple[float, float, int]:
    """A source-meter reading, refused (as garbled) when no source-meter could have sent it."""
    if not (math.isfinite(volts) and math.isfinite(amps) and abs(volts) <= 211.0
            and abs(amps) <= 1.06 and float(status).is_integer() and 0 <= status < 2**24):
        raise ValueError(f"implausible reading V={volts!r} I={amps!r} status={status!r}")
    return volts, amps, int(status)


class SteppedSource:
    """The source-meter ramps, whatever the command set: on at 0 if off, then in steps never
    past the target, refused until the compliance of that source mode was set; and down in
    steps before the output goes off. A driver gives ``source_state`` and four commands:
    ``_apply_level``, ``_turn_on_at_zero``, ``_level_applied`` and ``_switch_off``."""

    _compliance_for: str | None

    def ramp_current(self, target_a: float, step_a: float, dwell_s: float) -> RampTiming:
        return self._ramp_source("current", target_a, step_a, dwell_s)

    def ramp_voltage(self, target_v: float, step_v: float, dwell_s: float) -> RampTiming:
        return self._ramp_source("voltage", target_v, step_v, dwell_s)

    def _ramp_source(self, mode: str, target: float, step: float, dwell_s: float
                     ) -> RampTiming:
        if self._compliance_for != mode:
            raise RuntimeError(f"compliance must be set (configure_{mode}_source) before the "
                               "output goes on")
        if not step > 0:
            raise ValueError(f"ramp step must be > 0, got {step!r}")
        began = time.monotonic()
        on, _, level = self.source_state()
        if not on:
            self._turn_on_at_zero(mode)
            level = 0.0
        one_step = ramp(lambda value: self._apply_level(mode, value), level, target, step,
                        dwell_s)
        self._level_applied()
        return RampTiming(began, time.monotonic(), one_step, found=level)

    def output_off(self, step_a: float = 1e-4, dwell_s: float = 0.0) -> RampTiming:
        """Ramp to 0 (a current in ``step_a`` steps, a voltage in 0.1 V steps), then off."""
        began = time.monotonic()
        on, mode, level = self.source_state()
        one_step = None
        if on:
            step, dwell = (step_a, dwell_s) if mode == "current" else (0.1, 0.0)
            one_step = ramp(lambda value: self._apply_level(mode, value), level, 0.0, step,
                            dwell)
        self._switch_off()
        return RampTiming(began, time.monotonic(), one_step, found=level if on else 0.0)


class Keithley2400(SteppedSource, _PymeasureKeithley2400):
    """A 2400 that also runs sweeps in hardware and satisfies the ``SourceMeter`` role."""

    CAPABILITIES = frozenset({Capability.OUTPUT})

    source_voltage_mode = Instrument.control(
        ":SOUR:VOLT:MODE?", ":SOUR:VOLT:MODE %s", "Voltage source mode: fixed, list or sweep.",
        validator=strict_discrete_set, values=_MODES, map_values=True)
    source_current_mode = Instrument.control(
        ":SOUR:CURR:MODE?", ":SOUR:CURR:MODE %s", "Current source mode: fixed, list or sweep.",
        validator=strict_discrete_set, values=_MODES, map_values=True)
    source_voltage_list = Instrument.control(
        ":SOUR:LIST:VOLT?", ":SOUR:LIST:VOLT %s", "Voltage source list (1 to 100 points, V).",
        set_process=scpi_list)
    source_current_list = Instrument.control(
        ":SOUR:LIST:CURR?", ":SOUR:LIST:CURR %s", "Current source list (1 to 100 points, A).",
        set_process=scpi_list)
    source_voltage_start = Instrument.control(
        ":SOUR:VOLT:STAR?", ":SOUR:VOLT:STAR %g", "Linear voltage sweep start (V).")
    source_voltage_stop = Instrument.control(
        ":SOUR:VOLT:STOP?", ":SOUR:VOLT:STOP %g", "Linear voltage sweep stop (V).")
    source_current_start = Instrument.control(
        ":SOUR:CURR:STAR?", ":SOUR:CURR:STAR %g", "Linear current sweep start (A).")
    source_current_stop = Instrument.control(
        ":SOUR:CURR:STOP?", ":SOUR:CURR:STOP %g", "Linear current sweep stop (A).")
    sweep_points = Instrument.control(
        ":SOUR:SWE:POIN?", ":SOUR:SWE:POIN %d", "Points of a linear sweep (1 to 2500).",
        validator=strict_range, values=[1, BUFFER_MAX], cast=int)
    data_elements = Instrument.control(
        ":FORM:ELEM?", ":FORM:ELEM %s", "Reading elements, e.g. 'VOLT,CURR,STAT'.")
    data_format = Instrument.control(
        ":FORM:DATA?", ":FORM:DATA %s", "Data format: ascii or binary (IEEE-754 single).",
        validator=strict_discrete_set, values={"ascii": "ASC", "binary": "SRE"}, map_values=True)
    byte_order = Instrument.control(
        ":FORM:BORD?", ":FORM:BORD %s", "Binary byte order: normal (big-endian) or swapped.",
        validator=strict_discrete_set, values={"normal": "NORM", "swapped": "SWAP"},
        map_values=True)
    buffer_feed_control = Instrument.control(
        ":TRAC:FEED:CONT?", ":TRAC:FEED:CONT %s", "Buffer storage: next (on) or never (off).",
        validator=strict_discrete_set, values={"next": "NEXT", "never": "NEV"}, map_values=True)
    buffer_points_stored = Instrument.measurement(
        ":TRAC:POIN:ACT?", "Readings stored in the buffer.", cast=int)

    def __init__(self, adapter, name: str = "Keithley 2400 SourceMeter", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)
        self._compliance_for: str | None = None  # the source mode whose compliance is set

    # ---------------------------------------------------------------- the SourceMeter role
    def identity(self) -> str:
        return self.id

    def configure_current_source(self, compliance_v: float, nplc: float = 1.0) -> None:
        """Current-source mode with the voltage compliance set, output untouched: one program
        message (each costs the instrument a parse, and this one runs after every J–V)."""
        self.write(f"{POINT_MODE};:SOUR:FUNC CURR;:SENS:VOLT:PROT {compliance_v:g};"
                   f":SENS:VOLT:NPLC {nplc:g};:SOUR:CURR:RANG:AUTO 1")
        self._compliance_for = "current"

    def configure_voltage_source(self, compliance_a: float, nplc: float = 1.0) -> None:
        """Voltage-source mode with the current compliance set, output untouched."""
        self.write(f"{POINT_MODE};:SOUR:FUNC VOLT;:SENS:CURR:PROT {compliance_a:g};"
                   f":SENS:CURR:NPLC {nplc:g};:SOUR:VOLT:RANG:AUTO 1")
        self._compliance_for = "voltage"

    # The stepped ramps (SteppedSource) in this instrument's commands.
    def _apply_level(self, mode: str, value: float) -> None:
        self.write(f":SOUR:{_FUNCS[mode]} {value:g}")

    def _turn_on_at_zero(self, mode: str) -> None:
        self.write(f":SOUR:{_FUNCS[mode]} 0;:OUTP ON")

    def _level_applied(self) -> None:
        completed(self)  # a write returns when sent: return only once the level is applied

    def _switch_off(self) -> None:
        completed(self, ":OUTP OFF;*OPC?")  # return only once the output is really off

    def source_state(self) -> tuple[bool, str, float]:
        """(output on, source mode, its present level) in one compound query."""
        reply = self.ask(":OUTP?;:SOUR:FUNC?;:SOUR:CURR?;:SOUR:VOLT?").strip().split(";")
        # Every field is checked, the level not in use too, so a garbled reply is never taken
        # for a state.
        fields = [f.strip() for f in reply]
        func = fields[1].strip('"').upper() if len(fields) == 4 else ""
        if len(fields) != 4 or fields[0] not in ("0", "1") or func not in _SOURCE_FUNCS:
            raise ValueError(f"{self.name}: source state reply {';'.join(reply)!r} is not "
                             "an output state, a source function and two levels")
        amps, volts = float(fields[2]), float(fields[3])
        mode = _SOURCE_FUNCS[func]
        return fields[0] == "1", mode, amps if mode == "current" else volts

    def read_vi(self) -> tuple[float, float, bool]:
        v, i, *_, status = numbers(self, ":READ?", len(DEFAULT_ELEMENTS.split(",")))
        v, i, status = checked_reading(float(v), float(i), float(status))
        return v, i, bool(status & STATUS_COMPLIANCE)

    def powered_on_since_asked(self) -> bool:
        """Whether the meter powered on since this was last asked: the power-on bit of its
        event status register, which the read clears. The *OPC? in the same message ends the
        reply with a known field, so a reply cut short is refused, not read as "no"."""
        fields = self.ask("*ESR?;*OPC?").strip().split(";")
        register = fields[0].strip()
        if len(fields) != 2 or fields[1].strip() != "1" or not register.isdigit() or (
                int(register) > 255):
            raise ValueError(f"{self.name}: event status reply {';'.join(fields)!r} is not a "
                             "register and 1")
        return bool(int(register) & POWER_ON)

    def uptime_s(self) -> float:
        """Seconds since the instrument powered on: a reading's TIME element, which counts
        from power-on (nothing here resets it). One reading, so only with the output on and
        its compliance set: after a reboot it dates the power cycle that switched it off."""
        v, i, _, seconds, status = numbers(self, ":READ?", len(DEFAULT_ELEMENTS.split(",")))
        checked_reading(v, i, status)
        if not 0.0 <= seconds < 1e9:
            raise ValueError(f"{self.name}: timestamp {seconds!r} s is no time since power-on")
        return seconds

    @property
    def output_enabled(self) -> bool:
        return bool(self.source_enabled)

    def shutdown(self) -> None:
        self.output_off()

    def sweep(self, mode: Literal["voltage", "current"], points: np.ndarray, compliance: float,
              nplc: float = 1.0, delay_s: float = 0.0, trigger_link: bool = False) -> Sweep:
        """Run a J–V (or I–V) sweep in the instrument; returns with the output off at 0.

        With ``trigger_link`` the 2400 puts a trigger on the trigger link after each source step,
        so a photodiode meter armed on the link (``arm_linked``) reads the light at every point.
        """
        points = sweep_points(points)
        n = points.size
        func, other = ("VOLT", "CURR") if mode == "voltage" else ("CURR", "VOLT")
        steps = np.diff(points)
        linear = n > 1 and np.allclose(steps, steps[0], rtol=1e-9, atol=1e-12)
        chunks = [points] if linear else [points[i:i + LIST_MAX] for i in range(0, n, LIST_MAX)]
        # Few bus messages: each one costs a transaction (and a parse) on the instrument.
        setup = (f":OUTP OFF;:SOUR:FUNC {func};:SENS:{other}:PROT {compliance:g};"
                 f":SENS:{other}:NPLC {nplc:g};:SOUR:DEL {delay_s:g};:FORM:ELEM {SWEEP_ELEMENTS};"
                 f":TRAC:CLE;:TRAC:POIN {n};:TRAC:FEED SENS;:TRAC:FEED:CONT NEXT"
                 + (";:TRIG:OUTP SOUR" if trigger_link else ""))
        budget = n * (delay_s + 3 * nplc / 50 + 0.01) + 5
        with self._timeout(budget):
            for chunk in chunks:
                if linear:
                    source = (f":SOUR:{func}:MODE SWE;:SOUR:{func}:STAR {chunk[0]:g};"
                              f":SOUR:{func}:STOP {chunk[-1]:g};:SOUR:SWE:POIN {chunk.size}")
                else:
                    source = f":SOUR:{func}:MODE LIST;:SOUR:LIST:{func} {scpi_list(chunk)}"
                # One autozero now, none per point: a third of the integrations (Keithley's
                # advice for speed; drift over a sweep of seconds is negligible). *OPC? answers
                # once the chunk is in the buffer.
                prefix = f"{setup};" if setup else ""
                # After the last chunk the output goes off in the same message: a 2400 holds
                # commands sent during a sweep and runs them the moment it ends, so the pixel
                # is not left at the sweep's top point for a round trip and the buffer read.
                off = ":OUTP OFF;" if chunk is chunks[-1] else ""
                completed(self, f"{prefix}{source};:TRIG:COUN {chunk.size};"
                          f":SYST:AZER ONCE;:OUTP ON;:INIT;{off}*OPC?")
                setup = ""  # later chunks add to the same buffer
        data = self._read_buffer_binary(n)
        # Leave the instrument as a point-by-point user expects it: one reading per trigger.
        self.write(f":FORM:DATA ASC;:OUTP OFF;:SOUR:{func}:MODE FIX;:SOUR:{func} 0;"
                   f":TRAC:FEED:CONT NEV;:TRIG:COUN 1;:SYST:AZER ON;"
                   f":FORM:ELEM {DEFAULT_ELEMENTS}" + (";:TRIG:OUTP NONE" if trigger_link else ""))
        return Sweep(voltage_v=data[:, 0], current_a=data[:, 1],
                     compliance=(data[:, 2].astype(int) & STATUS_COMPLIANCE) > 0)

    # ---------------------------------------------------------------- helpers
    def _read_buffer_binary(self, n: int, elements: str = SWEEP_ELEMENTS) -> np.ndarray:
        """Buffer as little-endian singles behind '#0': a known byte count, not a terminator. The
        elements are named in the query, not left to the sweep's set-up: a reconnect between the
        two (pymeasure's driver sets its own elements on connecting) made every read of the
        block misaligned, and a J-V's light readings were lost after 20 s of retries."""
        count = len(elements.split(","))
        raw = read_block_verified(
            self, f":FORM:ELEM {elements};:FORM:DATA SREAL;:FORM:BORD SWAP;:TRAC:DATA?",
            2 + 4 * n * count + 1)
        if raw[:2] != b"#0":
            raise ValueError(f"{self.name}: binary buffer did not start with '#0': {raw[:8]!r}")
        values = struct.unpack(f"<{n * count}f", raw[2:2 + 4 * n * count])
        return np.array(values, dtype=float).reshape(n, count)

    class _TimeoutScope:
        def __init__(self, inst: Keithley2400, seconds: float) -> None:
            self.inst, self.seconds = inst, seconds

        def __enter__(self) -> None:
            conn = getattr(self.inst.adapter, "connection", None)
            self.saved = getattr(conn, "timeout", None)
            if conn is not None and self.saved is not None:
                conn.timeout = max(self.saved, self.seconds * 1000)

        def __exit__(self, *exc: object) -> None:
            conn = getattr(self.inst.adapter, "connection", None)
            if conn is not None and self.saved is not None:
                conn.timeout = self.saved

    def _timeout(self, seconds: float) -> _TimeoutScope:
        return self._TimeoutScope(self, seconds)


def sweep_points(points) -> np.ndarray:
    """The points of a hardware sweep, refused if the buffer cannot hold them."""
    points = np.asarray(points, dtype=float)
    if not 1 <= points.size <= BUFFER_MAX:
        raise ValueError(f"a hardware sweep holds 1 to {BUFFER_MAX} points, got {points.size}")
    return points


def ramp(apply: Callable[[float], None], start: float, target: float, step: float,
         dwell_s: float) -> float:
    """Apply each level of ``ramp_levels`` in turn, ``dwell_s`` apart. The steps keep to absolute
    deadlines, so the time a command takes on the bus is part of the dwell, not added to it.
    Returns the moment (monotonic) at which one step from ``start`` to ``target`` would have
    passed the same charge: where a stress clock stops or starts for this ramp."""
    due = time.monotonic()
    applied: list[tuple[float, float]] = []  # (when sent, level)
    for level in ramp_levels(start, target, step):
        apply(level)
        applied.append((time.monotonic(), level))
        if dwell_s:
            due += dwell_s
            remaining = due - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
    return equivalent_step(start, applied)


def equivalent_step(start: float, applied: list[tuple[float, float]]) -> float:
    """When one step from ``start`` to the last level would pass the charge the levels
    ``applied`` (when, level) did: not the ramp's middle, since a loaded host can space the
    steps unevenly (a late first step leaves the pixel at full stress longer)."""
    t0, end = applied[0][0], applied[-1][1]
    if end == start:
        return t0
    charge = sum(level * (later - when)  # from t0 to the last level's application
                 for (when, level), (later, _) in itertools.pairwise(applied))
    span = applied[-1][0] - t0
    return t0 + (charge - end * span) / (start - end)


def ramp_levels(start: float, target: float, step: float) -> list[float]:
    """Levels from ``start`` to ``target`` (inclusive) no more than ``step`` apart, monotonic,
    never beyond the target: a ramp cannot overshoot."""
    if not step > 0:
        raise ValueError(f"ramp step must be > 0, got {step!r}")
    count = max(1, math.ceil(abs(target - start) / step - 1e-9))
    levels = [start + (target - start) * k / count for k in range(1, count + 1)]
    levels[-1] = target
    return levels


class Keithley2450(_PymeasureKeithley2450):
    """A 2450 (SCPI mode) satisfying the ``SourceMeter`` role, with hardware list sweeps read
    back from ``defbuffer1`` as a definite-length block of doubles."""

    source_voltage_list = Instrument.control(
        ":SOUR:LIST:VOLT?", ":SOUR:LIST:VOLT %s", "Voltage source list (V).",
        set_process=scpi_list)
    source_current_list = Instrument.control(
        ":SOUR:LIST:CURR?", ":SOUR:LIST:CURR %s", "Current source list (A).",
        set_process=scpi_list)
    buffer_count = Instrument.measurement(
        ':TRAC:ACT? "defbuffer1"', "Readings stored in defbuffer1.", cast=int)

    CAPABILITIES = frozenset({Capability.OUTPUT})

    def __init__(self, adapter, name: str = "Keithley 2450 SourceMeter", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)
        self._compliance_v: float | None = None
        self._compliance_a: float | None = None

    def identity(self) -> str:
        return self.ask("*IDN?").strip()

    def configure_current_source(self, compliance_v: float, nplc: float = 1.0) -> None:
        self.write(f':FORM:DATA ASC;:SOUR:FUNC CURR;:SOUR:CURR:VLIM {compliance_v:g};'
                   f':SENS:FUNC "VOLT";'
                   f":SENS:VOLT:NPLC {nplc:g};:SOUR:CURR:RANG:AUTO 1")
        self._compliance_v, self._compliance_a = compliance_v, None

    @property
    def output_enabled(self) -> bool:
        return bool(int(self.ask(":OUTP?")))

    def ramp_current(self, target_a: float, step_a: float, dwell_s: float) -> RampTiming:
        if self._compliance_v is None:
            raise RuntimeError("compliance must be set (configure_current_source) before the "
                               "output goes on")
        return self._ramp_to(target_a, step_a, dwell_s, "CURR", self._set_current)

    def _ramp_to(self, target: float, step: float, dwell_s: float, func: str,
                 apply: Callable[[float], None]) -> RampTiming:
        """Output on at 0 if it was off, then to ``target`` in steps, never past it."""
        began = time.monotonic()
        if not self.output_enabled:
            self.write(f":SOUR:{func} 0;:OUTP ON")
        found = float(self.ask(f":SOUR:{func}?"))
        one_step = ramp(apply, found, target, step, dwell_s)
        completed(self)
        return RampTiming(began, time.monotonic(), one_step, found=found)

    def _set_current(self, amps: float) -> None:
        self.write(f":SOUR:CURR {amps:g}")

    def configure_voltage_source(self, compliance_a: float, nplc: float = 1.0) -> None:
        self.write(f':FORM:DATA ASC;:SOUR:FUNC VOLT;:SOUR:VOLT:ILIM {compliance_a:g};'
                   f':SENS:FUNC "CURR";'
                   f":SENS:CURR:NPLC {nplc:g};:SOUR:VOLT:RANG:AUTO 1")
        self._compliance_v, self._compliance_a = None, compliance_a

    def ramp_voltage(self, target_v: float, step_v: float, dwell_s: float) -> RampTiming:
        if self._compliance_a is None:
            raise RuntimeError("compliance must be set (configure_voltage_source) before the "
                               "output goes on")
        return self._ramp_to(target_v, step_v, dwell_s, "VOLT", self._set_voltage)

    def _set_voltage(self, volts: float) -> None:
        self.write(f":SOUR:VOLT {volts:g}")

    def read_vi(self) -> tuple[float, float, bool]:
        v, i = numbers(self, ':READ? "defbuffer1", READ, SOUR', 2)
        v, i, _ = checked_reading(v, i)
        limit = self._compliance_v
        return v, i, bool(limit is not None and abs(v) >= 0.999 * limit)

    def output_off(self, step_a: float = 1e-4, dwell_s: float = 0.0) -> RampTiming:
        began, one_step, found = time.monotonic(), None, 0.0
        if self.output_enabled:
            if self.ask(":SOUR:FUNC?").strip().upper().startswith("CURR"):
                found = float(self.ask(":SOUR:CURR?"))
                one_step = ramp(self._set_current, found, 0.0, step_a, dwell_s)
            else:  # benchtop voltage sourcing: down in 0.1 V steps, never a jump
                found = float(self.ask(":SOUR:VOLT?"))
                one_step = ramp(self._set_voltage, found, 0.0, 0.1, 0.0)
        self.write(":OUTP OFF")
        completed(self)
        return RampTiming(began, time.monotonic(), one_step, found=found)

    def shutdown(self) -> None:
        self.output_off()

    def sweep(self, mode: Literal["voltage", "current"], points: np.ndarray, compliance: float,
              nplc: float = 1.0, delay_s: float = 0.0) -> Sweep:
        points = sweep_points(points)
        n = points.size
        func, other, limit = (("VOLT", "CURR", "ILIM") if mode == "voltage"
                              else ("CURR", "VOLT", "VLIM"))
        budget = n * (delay_s + 3 * nplc / 50 + 0.01) + 5
        with Keithley2400._TimeoutScope(self, budget):
            completed(self, f':OUTP OFF;:SOUR:FUNC {func};:SOUR:{func}:{limit} {compliance:g};'
                     f':SENS:FUNC "{other}";:SENS:{other}:NPLC {nplc:g};'
                     f':SOUR:LIST:{func} {scpi_list(points)};:TRAC:CLE "defbuffer1";'
                       f':SOUR:SWE:{func}:LIST 1, {delay_s:g};:OUTP ON;:INIT;*WAI;:OUTP OFF;'
                      f'*OPC?')  # off the moment the sweep ends, as on the 2400
            payload = 8 * 2 * n
            raw = read_block_verified(
                self, f':FORM:DATA REAL;:FORM:BORD SWAP;:TRAC:DATA? 1, {n}, "defbuffer1", SOUR, '
                f'READ', 2 + len(str(payload)) + payload + 1)
        self.write(f":FORM:DATA ASC;:OUTP OFF;:SOUR:{func} 0")
        data = np.array(from_ieee_block(raw[:-1], datatype="d", is_big_endian=False),
                        dtype=float).reshape(n, 2)
        source, reading = data[:, 0], data[:, 1]
        volts, amps = (source, reading) if mode == "voltage" else (reading, source)
        measured = amps if mode == "voltage" else volts
        return Sweep(voltage_v=volts, current_a=amps,
                     compliance=np.abs(measured) >= 0.999 * abs(compliance))
