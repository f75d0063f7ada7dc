"""A virtual Keithley 2602B: two SMU channels in one box, on one link, speaking TSP.

Each channel (``smua``, ``smub``) is wired to its own load: a pixel, or the photodiode facing a
pixel. What it answers follows the 2600B reference manual: ``source``, ``measure`` (with its
repeat filter), the two dedicated reading buffers ``nvbuffer1``/``nvbuffer2``, and the trigger
model (source list or linear sweep, measure action, end-of-sweep action, count, and a
measure stimulus that may be the other channel's source-complete event: a photodiode on
``smub`` read once per step of ``smua``'s sweep). ``printbuffer`` answers in ASCII or as
binary singles or doubles behind ``#0`` (``format.data``, ``format.byteorder``). A reboot
resets both channels (outputs off) and sets the power-on bit of ``status.standard.event``.
"""

from __future__ import annotations

import contextlib
import struct
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from agelab.instruments.sim.devices import smu_physics
from agelab.instruments.sim.devices.tsp import (
    POWER_ON,
    ErrorQueue,
    Interpreter,
    Node,
    TspError,
    format_number,
)
from agelab.instruments.sim.loads import Load
from agelab.instruments.sim.rig import Timing, TimingModel

IDN = "Keithley Instruments Inc., Model 2602B, {serial}, 3.3.5"
OUT_OF_RANGE = -222
SETTINGS_CONFLICT = -221
BUFFER_CAPACITY = 60_000
STATUS_COMPLIANCE = 64  # a buffer reading's status bit B6
OFF, ON = 0, 1
DCAMPS, DCVOLTS = 0, 1
AUTOZERO_OFF, AUTOZERO_ONCE, AUTOZERO_AUTO = 0, 1, 2
SOURCE_IDLE, SOURCE_HOLD = 0, 1
EVENTS = ("ARMED", "SWEEPING", "SOURCE_COMPLETE", "MEASURE_COMPLETE", "PULSE_COMPLETE",
          "SWEEP_COMPLETE", "IDLE")


def _in_range(value: Any, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TspError(-286, f"TSP Runtime error at line 1: {what} expects a number")
    if not low <= value <= high:
        raise TspError(OUT_OF_RANGE, f"Parameter data out of range: {what} {value:g}")
    return float(value)


def _choice(value: Any, allowed: tuple[int, ...], what: str) -> int:
    number = _in_range(value, min(allowed), max(allowed), what)
    if int(number) != number or int(number) not in allowed:
        raise TspError(OUT_OF_RANGE, f"Parameter data out of range: {what} {number:g}")
    return int(number)


class ReadingBuffer(Node):
    """``smuX.nvbuffer1``/``nvbuffer2``: readings with their timestamps, source values and
    statuses."""

    FIELDS = ("appendmode", "collecttimestamps", "collectsourcevalues", "timestampresolution",
              "fillmode")
    READ_ONLY = ("n", "capacity", "readings", "timestamps", "sourcevalues", "statuses",
                 "basetimestamp")
    CALLS = ("clear", "clearcache")

    def __init__(self) -> None:
        self.appendmode = 0
        self.collecttimestamps = 0
        self.collectsourcevalues = 0
        self.timestampresolution = 1e-6
        self.fillmode = 0
        self.capacity = BUFFER_CAPACITY
        self.basetimestamp = 0.0
        self.clear()

    def clear(self) -> None:
        self.readings: list[float] = []
        self.timestamps: list[float] = []
        self.sourcevalues: list[float] = []
        self.statuses: list[float] = []

    def clearcache(self) -> None:
        """Nothing is cached on the bench."""

    @property
    def n(self) -> int:
        return len(self.readings)

    def append(self, reading: float, stamp: float, source: float, status: int) -> None:
        if not self.appendmode and not self.readings:
            self.basetimestamp = stamp
        if len(self.readings) >= self.capacity:
            return
        self.readings.append(reading)
        self.timestamps.append(stamp - self.basetimestamp)
        self.sourcevalues.append(source)
        self.statuses.append(float(status))


class Filter(Node):
    FIELDS = ("count", "enable", "type")

    def __init__(self) -> None:
        self.count, self.enable, self.type = 1, 0, 1

    def set_count(self, value: Any) -> None:
        self.count = int(_in_range(value, 1, 100, "filter.count"))

    def set_enable(self, value: Any) -> None:
        self.enable = _choice(value, (0, 1), "filter.enable")

    def set_type(self, value: Any) -> None:
        self.type = _choice(value, (0, 1, 2), "filter.type")

    @property
    def readings_per_reading(self) -> int:
        return self.count if self.enable else 1


class Source(Node):
    FIELDS = ("output", "func", "levelv", "leveli", "limitv", "limiti", "rangev", "rangei",
              "autorangev", "autorangei", "offmode", "settling", "highc", "delay", "sink",
              "lowrangev", "lowrangei", "offlimiti", "offfunc")
    READ_ONLY = ("compliance",)

    def __init__(self, channel: SmuChannel) -> None:
        self._channel = channel
        self.output, self.func = OFF, DCVOLTS
        self.levelv = self.leveli = 0.0
        self.limitv, self.limiti = 20.0, 0.1
        self.rangev, self.rangei = 200e-3, 100e-9
        self.autorangev = self.autorangei = 1
        self.offmode, self.settling, self.highc, self.delay, self.sink = 0, 0, 0, 0.0, 0
        self.lowrangev, self.lowrangei = 0.0, 100e-9
        self.offlimiti, self.offfunc = 1e-3, DCVOLTS

    def set_output(self, value: Any) -> None:
        self.output = _choice(value, (OFF, ON, 2), "source.output")
        self._channel.output_written()

    def set_func(self, value: Any) -> None:
        self.func = _choice(value, (DCAMPS, DCVOLTS), "source.func")
        self._channel.apply()

    def set_levelv(self, value: Any) -> None:
        self.levelv = _in_range(value, -40.4, 40.4, "source.levelv")
        self._channel.apply()

    def set_leveli(self, value: Any) -> None:
        self.leveli = _in_range(value, -3.03, 3.03, "source.leveli")
        self._channel.apply()

    def set_limitv(self, value: Any) -> None:
        self.limitv = _in_range(value, 0.02, 40.4, "source.limitv")
        self._channel.limits_written.add("v")
        self._channel.apply()

    def set_limiti(self, value: Any) -> None:
        self.limiti = _in_range(value, 10e-9, 3.03, "source.limiti")
        self._channel.limits_written.add("i")
        self._channel.apply()

    @property
    def compliance(self) -> bool:
        return self._channel.read()[2]


class Measure(Node):
    FIELDS = ("nplc", "autozero", "autorangev", "autorangei", "rangev", "rangei", "delay",
              "count", "interval", "lowrangev", "lowrangei")
    READ_ONLY = ("filter",)
    CALLS = ("v", "i", "iv", "r", "p")

    def __init__(self, channel: SmuChannel) -> None:
        self._channel = channel
        self.nplc, self.autozero = 1.0, AUTOZERO_AUTO
        self.autorangev = self.autorangei = 1
        self.rangev, self.rangei = 200e-3, 100e-9
        self.delay, self.count, self.interval = 0.0, 1, 0.0
        self.lowrangev, self.lowrangei = 0.0, 100e-9
        self.filter = Filter()

    def set_nplc(self, value: Any) -> None:
        self.nplc = _in_range(value, 0.001, 25, "measure.nplc")

    def set_autozero(self, value: Any) -> None:
        self.autozero = _choice(value, (AUTOZERO_OFF, AUTOZERO_ONCE, AUTOZERO_AUTO),
                                "measure.autozero")
        if self.autozero == AUTOZERO_ONCE:  # one reference-and-zero now, then off
            self._channel.timing.wait(2 * self._channel.timing.integration_s(self.nplc))
            self.autozero = AUTOZERO_OFF

    def set_count(self, value: Any) -> None:
        self.count = int(_in_range(value, 1, BUFFER_CAPACITY, "measure.count"))

    def v(self, buffer: ReadingBuffer | None = None) -> float:
        return self._channel.measure_into((buffer,), lambda v, i: (v,))[0]

    def i(self, buffer: ReadingBuffer | None = None) -> float:
        return self._channel.measure_into((buffer,), lambda v, i: (i,))[0]

    def iv(self, ibuffer: ReadingBuffer | None = None, vbuffer: ReadingBuffer | None = None
           ) -> tuple[float, float]:
        return self._channel.measure_into((ibuffer, vbuffer), lambda v, i: (i, v))

    def r(self, buffer: ReadingBuffer | None = None) -> float:
        return self._channel.measure_into((buffer,), lambda v, i: (v / i if i else 9.91e37,))[0]

    def p(self, buffer: ReadingBuffer | None = None) -> float:
        return self._channel.measure_into((buffer,), lambda v, i: (v * i,))[0]


class TriggerSource(Node):
    FIELDS = ("action", "limitv", "limiti", "stimulus")
    CALLS = ("listv", "listi", "linearv", "lineari")

    def __init__(self) -> None:
        self.action, self.stimulus = 0, 0
        self.limitv: float | None = None
        self.limiti: float | None = None
        self.values: list[float] = []
        self.func: int | None = None  # what the list sources: DCVOLTS or DCAMPS

    def set_action(self, value: Any) -> None:
        self.action = _choice(value, (0, 1, 2), "trigger.source.action")

    def set_limitv(self, value: Any) -> None:
        self.limitv = _in_range(value, 0.02, 40.4, "trigger.source.limitv")

    def set_limiti(self, value: Any) -> None:
        self.limiti = _in_range(value, 10e-9, 3.03, "trigger.source.limiti")

    def _list(self, values: Any, func: int, low: float, high: float) -> None:
        if not isinstance(values, list) or not values:
            raise TspError(-286, "TSP Runtime error at line 1: a source list is a table of "
                                 "numbers")
        self.values = [_in_range(v, low, high, "source list value") for v in values]
        self.func = func

    def listv(self, values: Any) -> None:
        self._list(values, DCVOLTS, -40.4, 40.4)

    def listi(self, values: Any) -> None:
        self._list(values, DCAMPS, -3.03, 3.03)

    def _linear(self, start: Any, stop: Any, points: Any, func: int, high: float) -> None:
        a, b = _in_range(start, -high, high, "start"), _in_range(stop, -high, high, "stop")
        n = int(_in_range(points, 2, BUFFER_CAPACITY, "points"))
        self.values = [a + (b - a) * k / (n - 1) for k in range(n)]
        self.func = func

    def linearv(self, start: Any, stop: Any, points: Any) -> None:
        self._linear(start, stop, points, DCVOLTS, 40.4)

    def lineari(self, start: Any, stop: Any, points: Any) -> None:
        self._linear(start, stop, points, DCAMPS, 3.03)


class TriggerMeasure(Node):
    FIELDS = ("action", "stimulus")
    CALLS = ("v", "i", "iv", "r", "p")

    def __init__(self) -> None:
        self.action, self.stimulus = 0, 0
        self.buffers: tuple[ReadingBuffer | None, ...] = ()
        self.pick = lambda v, i: (i,)

    def set_action(self, value: Any) -> None:
        self.action = _choice(value, (0, 1, 2), "trigger.measure.action")

    def v(self, buffer: ReadingBuffer) -> None:
        self.buffers, self.pick = (buffer,), lambda v, i: (v,)

    def i(self, buffer: ReadingBuffer) -> None:
        self.buffers, self.pick = (buffer,), lambda v, i: (i,)

    def iv(self, ibuffer: ReadingBuffer, vbuffer: ReadingBuffer) -> None:
        self.buffers, self.pick = (ibuffer, vbuffer), lambda v, i: (i, v)

    def r(self, buffer: ReadingBuffer) -> None:
        self.buffers, self.pick = (buffer,), lambda v, i: (v / i if i else 9.91e37,)

    def p(self, buffer: ReadingBuffer) -> None:
        self.buffers, self.pick = (buffer,), lambda v, i: (v * i,)


class TriggerStage(Node):
    """``endpulse``, ``endsweep`` and ``arm``: an action or count, and a stimulus."""

    FIELDS = ("action", "stimulus", "count")

    def __init__(self, action: int = SOURCE_IDLE) -> None:
        self.action, self.stimulus, self.count = action, 0, 1


class Trigger(Node):
    FIELDS = ("count", "autoclear")
    READ_ONLY = ("source", "measure", "endpulse", "endsweep", "arm")
    CALLS = ("initiate", "abort")

    def __init__(self, channel: SmuChannel, event_base: int) -> None:
        self._channel = channel
        self.CONSTANTS = {f"{name}_EVENT_ID": event_base + k for k, name in enumerate(EVENTS)}
        self.count, self.autoclear = 1, 0
        self.source = TriggerSource()
        self.measure = TriggerMeasure()
        self.endpulse = TriggerStage(SOURCE_HOLD)
        self.endsweep = TriggerStage(SOURCE_IDLE)
        self.arm = TriggerStage()

    def set_count(self, value: Any) -> None:
        self.count = int(_in_range(value, 0, BUFFER_CAPACITY, "trigger.count"))

    def initiate(self) -> None:
        self._channel.initiate()

    def abort(self) -> None:
        self._channel.armed_remaining = 0


class SmuChannel(Node):
    FIELDS = ("sense",)
    READ_ONLY = ("source", "measure", "trigger", "nvbuffer1", "nvbuffer2")
    CALLS = ("reset", "abort", "makebuffer")
    CONSTANTS: ClassVar[Mapping[str, float]] = {
        "OUTPUT_OFF": OFF, "OUTPUT_ON": ON, "OUTPUT_HIGH_Z": 2, "OUTPUT_DCAMPS": DCAMPS,
        "OUTPUT_DCVOLTS": DCVOLTS, "ENABLE": 1, "DISABLE": 0, "ASYNC": 2,
        "AUTOZERO_OFF": AUTOZERO_OFF, "AUTOZERO_ONCE": AUTOZERO_ONCE,
        "AUTOZERO_AUTO": AUTOZERO_AUTO, "SOURCE_IDLE": SOURCE_IDLE, "SOURCE_HOLD": SOURCE_HOLD,
        "FILTER_OFF": 0, "FILTER_ON": 1, "FILTER_MOVING_AVG": 0, "FILTER_REPEAT_AVG": 1,
        "FILTER_MEDIAN": 2, "SENSE_LOCAL": 0, "SENSE_REMOTE": 1, "SENSE_CALA": 3,
        "AUTORANGE_OFF": 0, "AUTORANGE_ON": 1, "OUTPUT_NORMAL": 0, "OUTPUT_ZERO": 2,
    }

    def __init__(self, box: Keithley2602BSim, letter: str, load: Load, event_base: int) -> None:
        self.box, self.letter, self.load = box, letter, load
        self.timing = box.timing
        self.event_base = event_base
        self.reset()

    def reset(self) -> None:
        self.sense = 0
        self.source = Source(self)
        self.measure = Measure(self)
        self.trigger = Trigger(self, self.event_base)
        self.nvbuffer1, self.nvbuffer2 = ReadingBuffer(), ReadingBuffer()
        self.limits_written: set[str] = set()
        self.armed_remaining = 0  # readings still due to a stimulus from the other channel
        self.apply()

    def abort(self) -> None:
        self.armed_remaining = 0

    def makebuffer(self, size: Any) -> ReadingBuffer:
        buffer = ReadingBuffer()
        buffer.capacity = int(_in_range(size, 1, BUFFER_CAPACITY, "makebuffer size"))
        return buffer

    # ---------------------------------------------------------------- terminals
    @property
    def sourcing_current(self) -> bool:
        return self.source.func == DCAMPS

    def level(self) -> float:
        return self.source.leveli if self.sourcing_current else self.source.levelv

    def output_written(self) -> None:
        """Output on: the limit of the source function must have been written since the reset
        (a current source left at the default 20 V limit could drive a pixel to breakdown)."""
        needed = "v" if self.sourcing_current else "i"
        if self.source.output == ON and needed not in self.limits_written:
            kind = "current" if self.sourcing_current else "voltage"
            self.box.violations.append(f"smu{self.letter}: output on as a {kind} source "
                                       "before its limit was set")
        self.apply()

    def apply(self, limits: tuple[float, float] | None = None) -> None:
        v_lim, i_lim = limits or (self.source.limitv, self.source.limiti)
        smu_physics.force(self.load, self.source.output == ON, self.sourcing_current,
                          self.level(), v_lim, i_lim)

    def read(self, limits: tuple[float, float] | None = None) -> tuple[float, float, bool]:
        """(volts, amps, compliance) now; a channel with its output off measures nothing."""
        if self.source.output != ON:
            return 0.0, 0.0, False
        v_lim, i_lim = limits or (self.source.limitv, self.source.limiti)
        average = self.measure.filter.readings_per_reading
        return smu_physics.read_point(self.load, self.sourcing_current, self.level(), v_lim,
                                      i_lim, average)

    def _integrate(self) -> None:
        m = self.measure
        per = 3 if m.autozero == AUTOZERO_AUTO else 1
        self.timing.wait(self.timing.integration_s(m.nplc) * per
                         * m.filter.readings_per_reading)

    def measure_into(self, buffers: tuple[ReadingBuffer | None, ...], pick,
                     limits: tuple[float, float] | None = None) -> tuple[float, ...]:
        """One reading, stored in ``buffers`` where given; returns the values ``pick`` chose."""
        self._integrate()
        return self._store(buffers, pick, limits)

    def _store(self, buffers: tuple[ReadingBuffer | None, ...], pick,
               limits: tuple[float, float] | None = None) -> tuple[float, ...]:
        """Read now; each value ``pick`` chooses goes into its buffer (where one is given),
        stamped by the instrument's own clock."""
        volts, amps, compliance = self.read(limits)
        values = pick(volts, amps)
        stamp = time.monotonic() - self.box.powered_at
        for buffer, value in zip(buffers, values, strict=False):
            if buffer is not None:
                buffer.append(value, stamp, self.level(),
                              STATUS_COMPLIANCE if compliance else 0)
        return values

    # ---------------------------------------------------------------- the trigger model
    def initiate(self) -> None:
        """Run the sweep now (the bench answers when it ends), or, when the measure stimulus
        is another channel's event, wait armed for it."""
        t = self.trigger
        partner = self.box.event_owner(t.measure.stimulus)
        if partner is not None and partner is not self:
            self.armed_remaining = t.count
            return
        if t.source.action and t.source.func is not None and t.source.func != self.source.func:
            raise TspError(SETTINGS_CONFLICT, "Settings conflict: the source list's function "
                                              "is not the source function")
        if t.count > 1 and self.timing.mode is Timing.FAST:
            # A sweep in fast timing takes no modelled time: the pixel rests to the end of
            # the message (see Site.instant_sweep).
            self.box.rest_for_message(self.load)
        self._sweep()

    def _sweep(self) -> None:
        t, s = self.trigger, self.source
        idle_level = self.level()
        limits = (t.source.limitv or s.limitv, t.source.limiti or s.limiti)
        values = t.source.values or [idle_level]
        autozero = self.measure.autozero == AUTOZERO_AUTO
        per_point = (self.timing.smu_sequence_s(1, self.measure.nplc, 0.0, autozero)
                     - self.timing.smu_sequence_s(0, self.measure.nplc, 0.0, autozero))
        due = time.monotonic()
        for k in range(t.count):
            if t.source.action:
                level = values[k % len(values)]
                if self.sourcing_current:
                    s.leveli = level
                else:
                    s.levelv = level
                self.apply(limits)
            due += per_point
            self.timing.wait_until(due)
            self.box.fire(t.CONSTANTS["SOURCE_COMPLETE_EVENT_ID"])
            if t.measure.action:
                self._store(t.measure.buffers, t.measure.pick, limits)
                self.box.fire(t.CONSTANTS["MEASURE_COMPLETE_EVENT_ID"])
        if t.endsweep.action == SOURCE_IDLE:
            if self.sourcing_current:
                s.leveli = idle_level
            else:
                s.levelv = idle_level
        self.apply()
        self.box.fire(t.CONSTANTS["SWEEP_COMPLETE_EVENT_ID"])

    def stimulated(self, event: int) -> None:
        """One trigger from the other channel: a reading into the trigger model's buffers."""
        t = self.trigger
        if self.armed_remaining <= 0 or t.measure.stimulus != event:
            return
        self.armed_remaining -= 1
        if t.measure.action:
            self._store(t.measure.buffers, t.measure.pick)


class Format(Node):
    FIELDS = ("data", "byteorder", "asciiprecision")
    CONSTANTS: ClassVar[Mapping[str, float]] = {
        "ASCII": 1, "SREAL": 2, "REAL32": 2, "REAL": 3, "REAL64": 3, "NORMAL": 1,
        "BIGENDIAN": 1, "NETWORK": 1, "SWAPPED": 0, "LITTLEENDIAN": 0}

    def __init__(self) -> None:
        self.data, self.byteorder, self.asciiprecision = 1, 0, 6

    def set_data(self, value: Any) -> None:
        self.data = _choice(value, (1, 2, 3), "format.data")

    def set_byteorder(self, value: Any) -> None:
        self.byteorder = _choice(value, (0, 1), "format.byteorder")

    def set_asciiprecision(self, value: Any) -> None:
        self.asciiprecision = int(_in_range(value, 1, 16, "format.asciiprecision"))


class StandardStatus(Node):
    FIELDS = ("enable",)
    READ_ONLY = ("event", "condition")

    def __init__(self) -> None:
        self.enable, self.register, self.condition = 0, POWER_ON, 0

    @property
    def event(self) -> int:
        """The standard event register; reading it clears it (IEEE 488.2)."""
        value, self.register = self.register, 0
        return value


class Status(Node):
    READ_ONLY = ("standard", "condition")
    CALLS = ("reset",)

    def __init__(self) -> None:
        self.standard, self.condition = StandardStatus(), 0

    def reset(self) -> None:
        self.standard.enable = 0


class LocalNode(Node):
    FIELDS = ("linefreq", "prompts", "showerrors", "autolinefreq", "description")
    READ_ONLY = ("model", "serialno", "revision")

    def __init__(self, serial: str) -> None:
        self.linefreq, self.prompts, self.showerrors, self.autolinefreq = 50.0, 0, 0, 1
        self.description = ""
        self.model, self.serialno, self.revision = "2602B", serial, "3.3.5"


class Quiet(Node):
    """``beeper`` and ``display``: accepted, with nothing to simulate."""

    FIELDS = ("enable", "screen")
    CALLS = ("beep", "clear", "settext", "setcursor")

    def __init__(self) -> None:
        self.enable, self.screen = 1, 0

    def beep(self, *_: Any) -> None: ...
    def clear(self) -> None: ...
    def settext(self, *_: Any) -> None: ...
    def setcursor(self, *_: Any) -> None: ...


class Keithley2602BSim:
    """Two channels on one link; ``loads`` gives each channel's terminals ("a", "b")."""

    def __init__(self, loads: dict[str, Load], timing: TimingModel,
                 serial: str = "4000001") -> None:
        self.loads = loads
        self.timing = timing
        self.serial = serial
        self.violations: list[str] = []
        self.powered_at = time.monotonic()
        self.errors = ErrorQueue()
        self.tree = self  # the server pushes injected errors through ``tree.push_error``
        self._message: contextlib.ExitStack | None = None
        self._resting: set[int] = set()
        self._build()

    def _build(self) -> None:
        self.channels = {letter: SmuChannel(self, letter, load, 1 + 10 * k)
                         for k, (letter, load) in enumerate(sorted(self.loads.items()))}
        self.format = Format()
        self.status = Status()
        self.localnode = LocalNode(self.serial)
        self.globals: dict[str, Any] = {
            **{f"smu{letter}": channel for letter, channel in self.channels.items()},
            "errorqueue": self.errors, "format": self.format, "status": self.status,
            "localnode": self.localnode, "beeper": Quiet(), "display": Quiet(),
            "waitcomplete": lambda *_: None, "delay": self._delay, "reset": self.reset,
            "opc": lambda: None, "printbuffer": self._printbuffer,
            "collectgarbage": lambda *_: None,
        }
        self.interpreter = Interpreter(self.globals, self.errors, self._print)

    # ---------------------------------------------------------------- the server's side
    def handle(self, message: str) -> bytes | None:
        with contextlib.ExitStack() as self._message:
            try:
                text = message.strip()
                if text.startswith("*"):
                    return self._common(text)
                return self.interpreter.run(text)
            finally:
                self._message, self._resting = None, set()

    def is_query(self, message: str) -> bool:
        text = message.strip()
        return "?" in text if text.startswith("*") else "print" in text

    def push_error(self, error: tuple[int, str], detail: str = "") -> None:
        self.errors.push(error[0], error[1] + (f"; {detail}" if detail else ""))

    def power_on(self) -> None:
        """After a power cycle: both channels reset (outputs off), the power-on bit set, and
        the reading timestamps count from now."""
        self.reset()
        self.errors.clear()
        self.powered_at = time.monotonic()
        self.status.standard.register |= POWER_ON

    def reset(self) -> None:
        for channel in self.channels.values():
            channel.reset()
        self.format.__init__()

    # ---------------------------------------------------------------- for the channels
    def event_owner(self, event: int) -> SmuChannel | None:
        for channel in self.channels.values():
            if channel.event_base <= event < channel.event_base + len(EVENTS):
                return channel
        return None

    def fire(self, event: int) -> None:
        for channel in self.channels.values():
            channel.stimulated(event)

    def rest_for_message(self, load: Load) -> None:
        """The pixel behind ``load`` rests until this message has been handled."""
        if id(load) in self._resting or self._message is None:
            return
        self._message.enter_context(load.instant_sweep())
        self._resting.add(id(load))

    def _delay(self, seconds: Any) -> None:
        self.timing.wait(_in_range(seconds, 0, 1e4, "delay"))

    # ---------------------------------------------------------------- output
    def _print(self, args: list[Any]) -> str | bytes:
        """Tab-separated; numbers alone are printed in ``format.data`` (a binary format gives
        ``#0`` and the packed values, as the 2600B does)."""
        values: list[Any] = []
        for arg in args:
            values.extend(arg if isinstance(arg, tuple) else (arg,))
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if self.format.data != 1 and values and numeric:
            return self._packed([float(v) for v in values])
        return "\t".join(self._text(v) for v in values)

    def _packed(self, values: list[float]) -> bytes:
        order = "<" if self.format.byteorder == 0 else ">"
        code = "f" if self.format.data == 2 else "d"
        return b"#0" + struct.pack(f"{order}{len(values)}{code}", *values)

    def _text(self, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return format_number(float(value), self.format.asciiprecision)
        if value is None:
            return "nil"
        if isinstance(value, str):
            return value
        return f"table: 0x{id(value):08x}"

    def _printbuffer(self, start: Any, end: Any, *columns: Any) -> str | bytes:
        first, last = int(_in_range(start, 1, BUFFER_CAPACITY, "start")), int(
            _in_range(end, 1, BUFFER_CAPACITY, "end"))
        if not columns or not all(isinstance(c, list) for c in columns):
            raise TspError(-286, "TSP Runtime error at line 1: printbuffer needs buffer "
                                 "attributes")
        if last > min(len(c) for c in columns) or first > last:
            raise TspError(-286, "TSP Runtime error at line 1: printbuffer index out of range")
        flat = [float(c[k]) for k in range(first - 1, last) for c in columns]
        if self.format.data == 1:
            return ", ".join(format_number(v, self.format.asciiprecision) for v in flat)
        return self._packed(flat)

    def _common(self, text: str) -> bytes | None:
        head = text.split()[0].upper()
        if head == "*IDN?":
            return IDN.format(serial=self.serial).encode()
        if head == "*OPC?":
            return b"1"
        if head == "*ESR?":
            return str(self.status.standard.event).encode()
        if head == "*STB?":
            return b"0"
        if head == "*TST?":
            return b"0"
        if head == "*RST":
            self.reset()
        elif head == "*CLS":
            self.errors.clear()
            self.status.standard.register = 0
        elif head not in ("*OPC", "*WAI", "*TRG", "*ESE", "*SRE"):
            self.errors.push(-285, f"TSP Syntax error at line 1: unexpected symbol near "
                                   f"`{text[:1]}'")
            return None
        return None
