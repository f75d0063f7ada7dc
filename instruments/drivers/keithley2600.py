"""Keithley 2600B source-meters (2602B, 2636B: two SMU channels a box, TSP commands).

pymeasure's ``Keithley2600`` speaks to the box and gives each channel its controls
(``source_output``, ``compliance_voltage``...). Here each channel also plays a role of its own,
the source-meter or the photodetector: the stress ramp that never overshoots and refuses
output-on before the compliance is set, the J–V list sweep run by the channel's trigger model
into its buffers and read back as binary singles of a known byte count, and a photodiode on the
other channel read at every step of that sweep (its measure stimulus is the sweeping channel's
source-complete event), so a J–V–L is still one trigger-linked run.

The two channels share one link, held per exchange (``drivers.link``): calls of the two channels
interleave exchange by exchange and neither waits for the other's whole operation; after a
fault each channel reconnects, and puts back its own configuration, on its own.
"""

from __future__ import annotations

import struct
import time
from typing import Literal

import numpy as np
from pymeasure.instruments.generic_types import SCPIUnknownMixin
from pymeasure.instruments.keithley.keithley2600 import Channel as _PymeasureChannel
from pymeasure.instruments.keithley.keithley2600 import Keithley2600 as _PymeasureKeithley2600

from agelab.instruments.drivers.formats import longer_timeout, read_block_verified
from agelab.instruments.drivers.keithley import SteppedSource, checked_reading
from agelab.instruments.drivers.link import LinkHandle, SharedLinkMixin
from agelab.instruments.drivers.photodetectors import PHOTODIODE_NPLC, AcquisitionLost
from agelab.instruments.roles import Capability, Sweep

BUFFER_MAX = 60_000  # readings a dedicated buffer (nvbuffer1/2) holds
STATUS_COMPLIANCE = 64  # a buffer reading's status bit B6
POWER_ON = 1 << 7  # PON in status.standard.event
# A TSP message ends in this when the driver must know it ran to its end: "1", not a number
# (print(1) answers 1.00000e+00).
DONE = 'waitcomplete() print("1")'
BINARY = "format.data = format.REAL32 format.byteorder = format.LITTLEENDIAN"
ASCII = "format.data = format.ASCII"


class Keithley2600B(SharedLinkMixin, _PymeasureKeithley2600):
    """The box: one link, two channels, one lock per exchange."""

    CHANNELS = ("a", "b")

    def __init__(self, adapter, name: str = "Keithley 2600B SourceMeter", **kwargs) -> None:
        self._init_link(adapter)
        self._power_on_unseen: set[str] | None = None  # channels yet to hear of a power-on
        # Past pymeasure's Keithley2600.__init__ (its channels are replaced below) and the
        # mixin that warns it does not know whether a 2600 answers SCPI's common commands: a
        # 2600B answers *IDN?, *OPC? and *ESR?, all this driver relies on.
        super(SCPIUnknownMixin, self).__init__(adapter, name, **kwargs)
        self.ChA = Keithley2600Channel(self, "a")
        self.ChB = Keithley2600Channel(self, "b")
        self._channels = {"a": self.ChA, "b": self.ChB}

    def channel(self, letter: str) -> Keithley2600Channel:
        return self._channels[letter]

    # ---------------------------------------------------------------- shared facts
    def identity(self) -> str:
        return self.ask("*IDN?").strip()

    def power_on_seen_by(self, letter: str) -> bool:
        """Whether the box powered on since the last link asked, told once to each channel:
        ``status.standard.event`` is read (and so cleared) once per link."""
        with self.lock:
            if self._power_on_unseen is None:
                reply = self.ask("print(status.standard.event)").strip()
                try:
                    register = float(reply)
                except ValueError:
                    raise ValueError(f"{self.name}: event register reply {reply!r} is no "
                                     "number") from None
                if not (register.is_integer() and 0 <= register <= 255):
                    raise ValueError(f"{self.name}: event register {reply!r} out of range")
                self._power_on_unseen = set(self.CHANNELS) if int(register) & POWER_ON else set()
            seen = letter in self._power_on_unseen
            self._power_on_unseen.discard(letter)
            return seen


class Keithley2600Channel(SteppedSource, _PymeasureChannel):
    """One SMU channel of a 2600B: a ``SourceMeter`` and a ``Photodetector``."""

    CAPABILITIES = frozenset({Capability.OUTPUT, Capability.TRIGGER_LINK})

    def __init__(self, box: Keithley2600B, letter: str) -> None:
        super().__init__(box, letter)
        self.box = box
        self.letter = letter
        self.smu = f"smu{letter}"
        self.name = f"{box.name} channel {letter}"
        self.adapter = LinkHandle(box)
        self._compliance_for: str | None = None  # the source mode whose limit is set
        self._biased = False  # held at 0 V as a photodiode meter, in point mode
        self._filter = 1
        self.last_read_window = (0.0, 0.0)

    # ---------------------------------------------------------------- plumbing
    def identity(self) -> str:
        return f"{self.box.link_identity()} channel {self.letter}"

    def ask_text(self, command: str) -> str:
        return self.box.ask(command).strip()

    def completed(self, statements: str) -> None:
        """Run ``statements`` and check the box answered that it ran them to the end."""
        reply = self.ask_text(f"{statements} {DONE}")
        if reply != "1":
            raise ValueError(f"{self.name}: {statements[:40]}... answered {reply!r}")

    def printed_numbers(self, expressions: str, count: int) -> list[float]:
        """``print(expressions)``: exactly ``count`` tab-separated numbers, each checked."""
        reply = self.ask_text(f"print({expressions})")
        fields = reply.split("\t")
        if len(fields) != count:
            raise ValueError(f"{self.name}: print({expressions}) gave {reply!r}, expected "
                             f"{count} values")
        return [float(f) for f in fields]

    @property
    def next_error(self) -> tuple[int, str]:
        """The box's error queue (one for both channels)."""
        return self.box.next_error

    def powered_on_since_asked(self) -> bool:
        return self.box.power_on_seen_by(self.letter)

    def source_state(self) -> tuple[bool, str, float]:
        """(output on, source mode, its level) in one exchange."""
        p = self.smu
        try:
            on, func, amps, volts = self.printed_numbers(
                f"{p}.source.output, {p}.source.func, {p}.source.leveli, {p}.source.levelv", 4)
        except ValueError as exc:
            raise ValueError(f"{self.name}: source state: {exc}") from None
        if on not in (0.0, 1.0) or func not in (0.0, 1.0):
            raise ValueError(f"{self.name}: source state {on!r}, {func!r} is no output state "
                             "and source function")
        mode = "current" if func == 0.0 else "voltage"
        return on == 1.0, mode, amps if mode == "current" else volts

    # ---------------------------------------------------------------- the SourceMeter role
    def configure_current_source(self, compliance_v: float, nplc: float = 1.0) -> None:
        """Current-source mode with its voltage limit set, output untouched, point mode."""
        self._configure_source("current", compliance_v, nplc)

    def configure_voltage_source(self, compliance_a: float, nplc: float = 1.0) -> None:
        """Voltage-source mode with its current limit set, output untouched, point mode."""
        self._configure_source("voltage", compliance_a, nplc)

    def _configure_source(self, mode: str, limit: float, nplc: float) -> None:
        p = self.smu
        func, source, measured = (("DCAMPS", "i", "v") if mode == "current"
                                  else ("DCVOLTS", "v", "i"))
        self.completed(f"{p}.abort() {p}.source.func = {p}.OUTPUT_{func} "
                       f"{p}.source.limit{measured} = {limit:g} {p}.source.autorange{source} = 1 "
                       f"{p}.measure.nplc = {nplc:g} {p}.measure.autozero = {p}.AUTOZERO_AUTO "
                       f"{p}.measure.filter.enable = 0 {p}.measure.autorange{measured} = 1")
        self._compliance_for, self._biased = mode, False

    # The stepped ramps (SteppedSource) in TSP.
    def _apply_level(self, mode: str, value: float) -> None:
        self.box.write(f"{self.smu}.source.level{'i' if mode == 'current' else 'v'} = {value:g}")

    def _turn_on_at_zero(self, mode: str) -> None:
        self.box.write(f"{self.smu}.source.level{'i' if mode == 'current' else 'v'} = 0 "
                       f"{self.smu}.source.output = {self.smu}.OUTPUT_ON")

    def _level_applied(self) -> None:
        self.completed("")  # a write returns when sent: return once the level is applied

    def _switch_off(self) -> None:
        self.completed(f"{self.smu}.source.output = {self.smu}.OUTPUT_OFF")
        self._biased = False

    def read_vi(self) -> tuple[float, float, bool]:
        """One reading, and whether the source is in compliance, in one exchange."""
        p = self.smu
        reply = self.ask_text(f"ci, cv = {p}.measure.iv() print(ci, cv, {p}.source.compliance)")
        fields = reply.split("\t")
        if len(fields) != 3 or fields[2] not in ("true", "false"):
            raise ValueError(f"{self.name}: reading {reply!r} is not a current, a voltage and "
                             "a compliance state")
        volts, amps, _ = checked_reading(float(fields[1]), float(fields[0]))
        return volts, amps, fields[2] == "true"

    @property
    def output_enabled(self) -> bool:
        return self.printed_numbers(f"{self.smu}.source.output", 1)[0] == 1.0

    def shutdown(self) -> None:
        self.output_off()

    def sweep(self, mode: Literal["voltage", "current"], points: np.ndarray, compliance: float,
              nplc: float = 1.0, delay_s: float = 0.0, trigger_link: bool = False) -> Sweep:
        """A list sweep run by the channel's trigger model into nvbuffer1 (currents) and
        nvbuffer2 (voltages); returns with the output off at 0. A photodiode on the other
        channel, armed by ``arm_linked``, reads at every step whether or not
        ``trigger_link`` is set: the box's trigger events need no cable."""
        points = np.asarray(points, dtype=float)
        n = points.size
        if not 1 <= n <= BUFFER_MAX:
            raise ValueError(f"a sweep holds 1 to {BUFFER_MAX} points, got {n}")
        p = self.smu
        func, src, limit = (("DCVOLTS", "v", "i") if mode == "voltage" else ("DCAMPS", "i", "v"))
        steps = np.diff(points)
        if n > 1 and np.allclose(steps, steps[0], rtol=1e-9, atol=1e-12):
            source = f"{p}.trigger.source.linear{src}({points[0]:g}, {points[-1]:g}, {n})"
        else:
            source = f"{p}.trigger.source.list{src}({{{','.join(f'{v:.6g}' for v in points)}}})"
        budget = n * (delay_s + 3 * nplc / 50 + 0.01) + 5
        with self.box.exchange(), longer_timeout(self.box, budget):
            self.completed(
                f"{p}.abort() {p}.source.output = {p}.OUTPUT_OFF {p}.source.func = "
                f"{p}.OUTPUT_{func} {p}.source.level{src} = 0 {p}.source.limit{limit} = "
                f"{compliance:g} {p}.trigger.source.limit{limit} = {compliance:g} "
                f"{p}.measure.nplc = {nplc:g} {p}.measure.delay = {delay_s:g} "
                f"{p}.measure.filter.enable = 0 {p}.nvbuffer1.clear() {p}.nvbuffer2.clear() "
                f"{p}.nvbuffer1.collecttimestamps = 0 {source} "
                f"{p}.trigger.source.action = {p}.ENABLE "
                f"{p}.trigger.measure.iv({p}.nvbuffer1, {p}.nvbuffer2) "
                f"{p}.trigger.measure.action = {p}.ENABLE "
                f"{p}.trigger.endsweep.action = {p}.SOURCE_IDLE {p}.trigger.count = {n} "
                # One autozero now, none per point (drift over a sweep of seconds is
                # negligible); the output goes off in the same message, the moment it ends.
                f"{p}.measure.autozero = {p}.AUTOZERO_ONCE {p}.source.output = {p}.OUTPUT_ON "
                f"{p}.trigger.initiate() waitcomplete() {p}.source.output = {p}.OUTPUT_OFF")
            data = self._read_buffers(n, f"{p}.nvbuffer2.readings, {p}.nvbuffer1.readings, "
                                         f"{p}.nvbuffer1.statuses", 3)
        self.box.write(f"{p}.trigger.source.action = {p}.DISABLE "
                       f"{p}.trigger.measure.action = {p}.DISABLE "
                       f"{p}.measure.autozero = {p}.AUTOZERO_AUTO")
        self._compliance_for = mode  # the sweep set this mode's limit
        self._biased = False
        return Sweep(voltage_v=data[:, 0], current_a=data[:, 1],
                     compliance=(data[:, 2].astype(int) & STATUS_COMPLIANCE) > 0)

    def _read_buffers(self, n: int, columns: str, count: int) -> np.ndarray:
        """``n`` rows of ``count`` buffer columns as little-endian singles behind '#0' (a
        known byte count, not a terminator), ASCII restored in the same message."""
        with self.box.lock:  # the query and its block: one exchange
            raw = read_block_verified(self.box, f"{BINARY} printbuffer(1, {n}, {columns}) "
                                                f"{ASCII}", 2 + 4 * n * count + 1)
        if raw[:2] != b"#0":
            raise ValueError(f"{self.name}: binary buffer did not start with '#0': {raw[:8]!r}")
        values = struct.unpack(f"<{n * count}f", raw[2:2 + 4 * n * count])
        return np.array(values, dtype=float).reshape(n, count)

    @property
    def corrected(self) -> list[str] | None:
        """Faults the box's driver got past by itself (a garbled block read again), for the
        resilience layer to put on record."""
        return getattr(self.box, "corrected", None)

    # ---------------------------------------------------------------- the Photodetector role
    def read_photocurrent(self, average: int = 1) -> float:
        """The photodiode's photocurrent at 0 V (it flows out of the channel); ``average`` > 1
        uses the channel's repeat filter, set only when the count changes."""
        p = self.smu
        if not self._biased:
            self.completed(f"{p}.abort() {p}.source.func = {p}.OUTPUT_DCVOLTS "
                           f"{p}.source.levelv = 0 {p}.source.limiti = 1e-3 "
                           f"{p}.measure.nplc = {PHOTODIODE_NPLC:g} "
                           f"{p}.measure.autozero = {p}.AUTOZERO_AUTO "
                           f"{p}.measure.filter.enable = 0 {p}.source.output = {p}.OUTPUT_ON")
            self._biased, self._filter = True, 1
        count = max(1, min(int(average), 100))
        if count != self._filter:
            self.completed(f"{p}.measure.filter.type = {p}.FILTER_REPEAT_AVG "
                           f"{p}.measure.filter.count = {count} {p}.measure.filter.enable = 1"
                           if count > 1 else f"{p}.measure.filter.enable = 0")
            self._filter = count
        started = time.monotonic()
        amps = self.printed_numbers(f"{p}.measure.i()", 1)[0]
        self.last_read_window = (started, time.monotonic())
        return -checked_reading(0.0, amps)[1]

    def triggered_by(self, source_meter: object) -> bool:
        """A photodiode on this channel reads in step with a sweep of the other channel of the
        same box (its source-complete events), and with nothing else."""
        return (isinstance(source_meter, Keithley2600Channel)
                and source_meter.letter != self.letter
                and source_meter.box.resource == self.box.resource)

    def arm_linked(self, points: int, nplc: float = 0.1, source_meter: str = "") -> None:
        """Arm for ``points`` readings, one at each source step of the other channel's next
        sweep (``source_meter`` names it: 'a' or 'b'; the other one by default)."""
        if not 1 <= points <= BUFFER_MAX:
            raise ValueError(f"a linked acquisition holds 1 to {BUFFER_MAX} points")
        p = self.smu
        q = f"smu{source_meter or ('b' if self.letter == 'a' else 'a')}"
        self.completed(f"{p}.abort() {p}.source.func = {p}.OUTPUT_DCVOLTS "
                       f"{p}.source.levelv = 0 {p}.source.limiti = 1e-3 "
                       f"{p}.measure.nplc = {nplc:g} {p}.measure.filter.enable = 0 "
                       f"{p}.nvbuffer1.clear() {p}.trigger.source.action = {p}.DISABLE "
                       f"{p}.trigger.measure.i({p}.nvbuffer1) "
                       f"{p}.trigger.measure.action = {p}.ENABLE "
                       f"{p}.trigger.measure.stimulus = {q}.trigger.SOURCE_COMPLETE_EVENT_ID "
                       f"{p}.trigger.count = {points} {p}.source.output = {p}.OUTPUT_ON "
                       f"{p}.trigger.initiate()")
        self._biased = False  # until fetched: the next point reading sets the read mode up

    def fetch_linked(self, points: int, timeout_s: float | None = None) -> np.ndarray:
        """The photocurrents (A) of an armed acquisition, once the sweep that triggers it has
        returned. Raises ``AcquisitionLost`` (not retried) when the buffer holds fewer."""
        p = self.smu
        stored = self.printed_numbers(f"{p}.nvbuffer1.n", 1)[0]
        if stored < points:
            raise AcquisitionLost(f"{self.name}: {stored:g} of {points} linked readings in "
                                  "the buffer (the acquisition was cut short)")
        data = self._read_buffers(points, f"{p}.nvbuffer1.readings", 1)
        self.box.write(f"{p}.abort() {p}.trigger.measure.action = {p}.DISABLE "
                       f"{p}.trigger.measure.stimulus = 0")
        return -data[:, 0]
