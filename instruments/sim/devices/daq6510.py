"""A virtual Keithley DAQ6510 with a 7700 20-channel multiplexer card (channels 101–120).

Each wired channel reads a pixel's photodiode through a transimpedance amplifier (DC volts,
gain set by the bench). It answers, as the DAQ6510 reference manual has them (SCPI mode): the
functions and their settings per channel list (``:SENS:FUNC "VOLT:DC", (@101:116)``,
``:SENS:VOLT:NPLC``, ``:SENS:VOLT:RANG[:AUTO]``, ``:SENS:VOLT:AVER[:COUN|:TCON]``), scans
(``:ROUT:SCAN:CRE``, ``:ROUT:SCAN:COUN:SCAN``, ``:ROUT:SCAN:INT``), ``:INIT``, the reading
buffer ``defbuffer1`` with each reading's channel and its time relative to the first
(``:TRAC:DATA? 1, n, "defbuffer1", READ, REL, CHAN``), closing one channel and ``:READ?``, the
error queue, and what pymeasure's ``KeithleyDAQ6510`` sends.
"""

from __future__ import annotations

import re
import struct
import time

from agelab.instruments.sim.devices.scpi import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER,
    SETTINGS_CONFLICT,
    Call,
    CommandTree,
    ScpiError,
    add_common_commands,
    add_status_and_errors,
    one_of,
)
from agelab.instruments.sim.loads import PhotodiodeLoad
from agelab.instruments.sim.rig import TimingModel

IDN = "KEITHLEY INSTRUMENTS,MODEL DAQ6510,{serial},1.7.12b"
CARD = tuple(range(101, 121))
BUFFER_MAX = 100_000
FUNCTIONS = {"VOLT": "VOLT:DC", "VOLT:DC": "VOLT:DC", "CURR": "CURR:DC", "CURR:DC": "CURR:DC",
             "RES": "RES", "TEMP": "TEMP"}
RELAY_SETTLE_S = 1e-3  # a reed relay closes and settles


def channel_list(call: Call, start: int = 0) -> list[int]:
    """The channels of a ``(@101:105,107)`` list among a command's arguments (from ``start``);
    all card channels when none is given."""
    text = ",".join(call.args[start:])
    m = re.search(r"\(@([^)]*)\)", text)
    if m is None:
        return list(CARD)
    channels: list[int] = []
    for part in m.group(1).split(","):
        lo, _, hi = part.strip().partition(":")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise ScpiError(ILLEGAL_PARAMETER, f"channel list {m.group(0)}") from None
        if first not in CARD or last not in CARD or last < first:
            raise ScpiError(ILLEGAL_PARAMETER, f"channel list {m.group(0)}")
        channels.extend(range(first, last + 1))
    return channels


class DAQ6510Sim:
    """``wiring`` maps a card channel to the photodiode it reads and the TIA gain (V/A)."""

    def __init__(self, wiring: dict[int, tuple[PhotodiodeLoad, float]], timing: TimingModel,
                 serial: str = "04512345") -> None:
        self.wiring = wiring
        self.timing = timing
        self.serial = serial
        self.tree = CommandTree()
        self.powered_at = time.monotonic()
        self.scans = 0  # scans run since power-on (tests count them)
        self.settings: dict = {}
        self.reset()
        self._declare()

    def reset(self) -> None:
        self.settings.clear()
        self.settings.update(border="SWAP", precision=0)
        self.function = dict.fromkeys(CARD, "VOLT:DC")
        self.front_function = "VOLT:DC"
        self.nplc = dict.fromkeys(CARD, 1.0)
        self.range = dict.fromkeys(CARD, 10.0)
        self.autorange = dict.fromkeys(CARD, True)
        self.average = dict.fromkeys(CARD, 1)  # readings averaged (1: filter off)
        self.average_count = dict.fromkeys(CARD, 10)
        self.scan_list: list[int] = []
        self.scan_count = 1
        self.scan_interval = 0.0
        self.closed: list[int] = []
        self.buffer: list[tuple[float, float, int]] = []  # (reading, monotonic, channel)
        self.buffer_points = BUFFER_MAX
        self.data_format = "ASC"

    def power_on(self) -> None:
        self.reset()
        self.powered_at = time.monotonic()

    def handle(self, message: str) -> bytes | None:
        return self.tree.execute(message)

    # ------------------------------------------------------------------ the command set
    def _declare(self) -> None:
        t = self.tree
        add_common_commands(t, idn=lambda: IDN.format(serial=self.serial), reset=self.reset,
                            trigger=lambda: None, status_byte=lambda: 0)
        t.add("[:SENSe[1]]:FUNCtion[:ON]", write=self._set_function, query=self._function)
        for func in ("VOLTage", "CURRent", "RESistance"):
            t.add(f"[:SENSe[1]]:{func}[:DC]:NPLCycles", write=lambda c: self._per_channel(
                c, self.nplc, c.number(minimum=0.0005, maximum=15)),
                  query=lambda c: f"{self.nplc[self._one(c)]:g}")
            t.add(f"[:SENSe[1]]:{func}[:DC]:RANGe[:UPPer]", write=lambda c: (
                self._per_channel(c, self.range, c.number(minimum=0, maximum=1000)),
                self._per_channel(c, self.autorange, False)),
                  query=lambda c: f"{self.range[self._one(c)]:g}")
            t.add(f"[:SENSe[1]]:{func}[:DC]:RANGe:AUTO", write=lambda c: self._per_channel(
                c, self.autorange, c.boolean()),
                  query=lambda c: "1" if self.autorange[self._one(c)] else "0")
            t.add(f"[:SENSe[1]]:{func}[:DC]:AVERage[:STATe]", write=self._set_average_state,
                  query=lambda c: "1" if self.average[self._one(c)] > 1 else "0")
            t.add(f"[:SENSe[1]]:{func}[:DC]:AVERage:COUNt", write=lambda c: self._per_channel(
                c, self.average_count, int(c.number(minimum=1, maximum=100))),
                  query=lambda c: str(self.average_count[self._one(c)]))
            t.add(f"[:SENSe[1]]:{func}[:DC]:AVERage:TCONtrol", write=lambda c: c.choice(
                {"REPeat": "REP", "MOVing": "MOV"}), query=lambda c: "REP")
        t.add(":SENSe:FRESistance:OCOMpensated", write=lambda c: None, query=lambda c: "OFF")
        t.add(":ROUTe:SCAN[:CREate]", write=self._create_scan,
              query=lambda c: self._list_text(self.scan_list))
        t.add(":ROUTe:SCAN:COUNt:SCAN", write=lambda c: setattr(
            self, "scan_count", int(c.number(minimum=1, maximum=1000))),
              query=lambda c: str(self.scan_count))
        t.add(":ROUTe:SCAN:INTerval", write=lambda c: setattr(
            self, "scan_interval", c.number(minimum=0, maximum=1e5)),
              query=lambda c: f"{self.scan_interval:g}")
        t.add(":ROUTe:CLOSe", write=self._close, query=lambda c: self._list_text(self.closed))
        t.add(":ROUTe:OPEN", write=self._open)
        t.add(":ROUTe:OPEN:ALL", write=lambda c: self.closed.clear())
        t.add(":INITiate[:IMMediate]", write=lambda c: self._scan())
        t.add(":ABORt", write=lambda c: None)
        t.add(":READ", query=lambda c: self._read_closed())
        t.add(":MEASure:VOLTage[:DC]", query=lambda c: self._read_closed())
        t.add(":TRACe:CLEar", write=lambda c: self.buffer.clear())
        t.add(":TRACe:POINts", write=lambda c: setattr(self, "buffer_points", int(c.number(
            minimum=10, maximum=BUFFER_MAX))), query=lambda c: str(self.buffer_points))
        t.add(":TRACe:ACTual", query=lambda c: str(len(self.buffer)))
        t.add(":TRACe:DATA", query=self._trace_data)
        t.add(":FORMat[:DATA]", write=lambda c: setattr(self, "data_format", c.choice(
            {"ASCii": "ASC", "REAL": "REAL", "SREal": "SRE"})), query=lambda c: self.data_format)
        t.add(":SYSTem:BEEPer[:IMMediate]", write=lambda c: None)
        self._declare_status_and_format(t)

    def _declare_status_and_format(self, t: CommandTree) -> None:
        """What a driver reads at start-up: the command set, the line frequency, the error
        and status registers, the buffer's extent and the number format."""
        add_status_and_errors(t, self.settings)
        t.add("*LANG", query=lambda c: "SCPI")
        t.add(":SYSTem:LFRequency", query=lambda c: "50")
        t.add(":TRACe:ACTual:STARt", query=lambda c: "1" if self.buffer else "0")
        t.add(":TRACe:ACTual:END", query=lambda c: str(len(self.buffer)))
        t.setting(":FORMat:BORDer", self.settings, "border", one_of("NORMal", "SWAPped"))
        t.setting(":FORMat:ASCii:PRECision", self.settings, "precision",
                  lambda c: int(c.number(minimum=0, maximum=16)), str)

    def _per_channel(self, c: Call, table: dict, value: object) -> None:
        for ch in channel_list(c, 1):
            table[ch] = value

    def _one(self, c: Call) -> int:
        channels = channel_list(c, 0)
        return channels[0]

    def _set_function(self, c: Call) -> None:
        name = c.arg(0).strip().strip("'\"").upper()
        if name not in FUNCTIONS:
            raise ScpiError(ILLEGAL_PARAMETER, f":SENS:FUNC {name}")
        if "(@" in ",".join(c.args[1:]):
            self._per_channel(c, self.function, FUNCTIONS[name])
        else:
            self.front_function = FUNCTIONS[name]

    def _function(self, c: Call) -> str:
        """As the DAQ6510 answers: unquoted, e.g. ``VOLT:DC`` (one a channel for a list)."""
        if c.args:
            return ",".join(self.function[ch] for ch in channel_list(c, 0))
        return self.front_function

    def _set_average_state(self, c: Call) -> None:
        on = c.boolean()
        for ch in channel_list(c, 1):
            self.average[ch] = self.average_count[ch] if on else 1

    def _create_scan(self, c: Call) -> None:
        channels = channel_list(c, 0)
        if not channels:
            raise ScpiError(SETTINGS_CONFLICT, "empty scan list")
        self.scan_list = channels

    def _close(self, c: Call) -> None:
        self.closed = channel_list(c, 0)[:1]

    def _open(self, c: Call) -> None:
        for ch in channel_list(c, 0):
            if ch in self.closed:
                self.closed.remove(ch)

    @staticmethod
    def _list_text(channels: list[int]) -> str:
        return "(@" + ",".join(str(ch) for ch in channels) + ")"

    # ------------------------------------------------------------------ readings
    def _reading(self, ch: int) -> float:
        """One channel read through its TIA: V = gain · photocurrent (0 if nothing wired)."""
        count = self.average[ch]
        self.timing.wait(RELAY_SETTLE_S + self.timing.integration_s(self.nplc[ch]) * 2 * count)
        if self.function[ch] != "VOLT:DC" or ch not in self.wiring:
            return 0.0
        load, gain = self.wiring[ch]
        amps = load.photocurrent()
        noisy = load.site.pixel.noise.photodiode(amps, count)
        volts = gain * noisy
        limit = self.range[ch] * 1.2 if not self.autorange[ch] else 1000.0
        return 9.9e37 if abs(volts) > limit else volts

    def _scan(self) -> None:
        if not self.scan_list:
            raise ScpiError(SETTINGS_CONFLICT, "no scan list (:ROUT:SCAN:CRE)")
        self.scans += 1
        for k in range(self.scan_count):
            if k and self.scan_interval:
                self.timing.wait(self.scan_interval)
            for ch in self.scan_list:
                if len(self.buffer) >= self.buffer_points:
                    return
                self.buffer.append((self._reading(ch), time.monotonic(), ch))

    def _read_closed(self) -> str:
        if not self.closed:
            raise ScpiError((-221, "Settings conflict"), "no channel closed")
        ch = self.closed[0]
        value = self._reading(ch)
        self.buffer.append((value, time.monotonic(), ch))
        return f"{value:.9E}"

    def _trace_data(self, c: Call) -> str | bytes:
        """``start, end, "buffer", elements...``: each reading's elements in the order given
        (READ, REL, CHAN, TST...), REL in s from the first reading in the buffer."""
        if len(c.args) < 2:
            raise ScpiError((-109, "Missing parameter"), ":TRAC:DATA?")
        start, end = int(c.number(0, minimum=1)), int(c.number(1, minimum=1))
        if end > len(self.buffer) or start > end:
            raise ScpiError(DATA_OUT_OF_RANGE, f":TRAC:DATA? {start}, {end}: "
                                               f"{len(self.buffer)} readings stored")
        elements = [a.strip().upper() for a in c.args[3:]] or ["READ"]
        first = self.buffer[0][1] if self.buffer else 0.0
        values: list[float] = []
        for reading, stamp, ch in self.buffer[start - 1:end]:
            for element in elements:
                if element.startswith("READ"):
                    values.append(reading)
                elif element.startswith("REL"):
                    values.append(stamp - first)
                elif element.startswith("CHAN"):
                    values.append(float(ch))
                elif element.startswith("SEC") or element.startswith("TST"):
                    values.append(stamp - self.powered_at)
                else:
                    raise ScpiError(ILLEGAL_PARAMETER, f":TRAC:DATA? element {element}")
        if self.data_format == "ASC":
            return ",".join(f"{v:.9E}" for v in values)
        order = "<" if self.settings["border"] == "SWAP" else ">"
        payload = struct.pack(f"{order}{len(values)}{'d' if self.data_format == 'REAL' else 'f'}",
                              *values)
        return f"#{len(str(len(payload)))}{len(payload)}".encode() + payload
