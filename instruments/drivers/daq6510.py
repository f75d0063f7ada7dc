"""Keithley DAQ6510 with a 7700 multiplexer card: the photodiodes of a rig read by one scan.

pymeasure's ``KeithleyDAQ6510`` measures on the front terminals or one closed channel. Here each
card channel (101–120) plays the photodetector role for one pixel: its photodiode drives a
transimpedance amplifier (``tia_gain_v_per_a``, V/A) into the channel, read as DC volts. The
channels' readings come from one scan of every channel in use, run by the meter into
``defbuffer1`` and read back with each reading's channel and the meter's own relative
timestamp: a channel that asks for a reading gets it from the next scan that begins after it
asked, so channels sampled on the same period share one scan.

A scanned channel cannot read in step with a source-meter's sweep: a J–V–L needs a photodetector
on the sweep's trigger (a 2400 on the trigger-link cable, or the other channel of the pixel's
2602B); with a scanner the J–V is taken without light, and the run file says so.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from pymeasure.instruments.keithley import KeithleyDAQ6510 as _PymeasureDAQ6510

from agelab.instruments.drivers.formats import completed, longer_timeout
from agelab.instruments.drivers.link import LinkHandle, SharedLinkMixin
from agelab.instruments.drivers.photodetectors import PHOTODIODE_NPLC

CARD = tuple(str(ch) for ch in range(101, 121))
OVERFLOW = 9.9e37


@dataclass
class Scan:
    """One scan: when it was asked for (monotonic), and each channel's reading when done."""

    began: float
    readings: dict[str, tuple[float, tuple[float, float]]] = field(default_factory=dict)
    error: BaseException | None = None
    done: bool = False


class KeithleyDAQ6510Scanner(SharedLinkMixin, _PymeasureDAQ6510):
    """The meter: one link, twenty photodiode channels, one scan for all."""

    CHANNELS = CARD

    def __init__(self, adapter, name: str = "Keithley DAQ6510", *,
                 tia_gain_v_per_a: float = 1e4, **kwargs) -> None:
        if not tia_gain_v_per_a > 0:
            raise ValueError(f"tia_gain_v_per_a must be > 0, got {tia_gain_v_per_a!r}")
        self._init_link(adapter)
        super().__init__(adapter, name, **kwargs)
        self.gain = float(tia_gain_v_per_a)
        self._channels = {ch: ScannedPhotodiode(self, ch) for ch in CARD}
        self._wanted: set[str] = set()  # the channels in use: the scan list
        self._configured: tuple[tuple[str, ...], int] | None = None  # (scan list, filter)
        self._average = 1
        self._cond = threading.Condition()
        self._scan: Scan | None = None  # the latest scan, done or under way
        # The longest scan seen, by (channels scanned, readings averaged): what a scan takes.
        self._scan_seen_s: dict[tuple[int, int], float] = {}

    def channel(self, letter: str) -> ScannedPhotodiode:
        return self._channels[letter]

    def identity(self) -> str:
        return self.ask("*IDN?").strip()

    # ---------------------------------------------------------------- the shared scan
    def reading(self, channel: str, average: int) -> tuple[float, tuple[float, float]]:
        """(volts, (monotonic start, end) of its integration) for ``channel``, from the first
        scan that begins after this call."""
        asked = time.monotonic()
        with self._cond:
            self._wanted.add(channel)
            self._average = max(1, min(int(average), 100))
            while True:
                scan = self._scan
                if scan is not None and scan.began >= asked:
                    self._cond.wait_for(lambda s=scan: s.done)
                    if scan.error is not None:
                        raise scan.error
                    return scan.readings[channel]
                if scan is not None and not scan.done:
                    self._cond.wait_for(lambda s=scan: s.done)  # begun before: the next one
                    continue
                scan = self._scan = Scan(time.monotonic())
                break
        try:
            scan.readings = self._run_scan()
        except BaseException as exc:
            scan.error = exc
        with self._cond:
            scan.done = True
            self._cond.notify_all()
        if scan.error is not None:
            raise scan.error
        return scan.readings[channel]

    def _scan_timeout_s(self, count: int) -> float:
        """How long a scan may take before its *OPC? is given up: at worst each channel's relay
        settling and integrations (two a reading, with autozero) with half again to spare; once
        a scan like it has been seen, twice its time (a lost reply then costs a scan's time,
        not the worst case's). The connection's own timeout stays the floor."""
        worst = count * (1e-3 + 2 * PHOTODIODE_NPLC / 50 * self._average) * 1.5 + 2
        seen = self._scan_seen_s.get((count, self._average))
        return worst if seen is None else min(worst, 2 * seen)

    def _run_scan(self) -> dict[str, tuple[float, tuple[float, float]]]:
        channels = tuple(sorted(self._wanted))
        listed = ",".join(channels)
        with self.exchange():
            if self._configured != (channels, self._average):
                average = (f':SENS:VOLT:AVER:TCON REP, (@{listed});:SENS:VOLT:AVER:COUN '
                           f'{self._average}, (@{listed});:SENS:VOLT:AVER ON, (@{listed})'
                           if self._average > 1 else f":SENS:VOLT:AVER OFF, (@{listed})")
                completed(self, f':SENS:FUNC "VOLT:DC", (@{listed});:SENS:VOLT:NPLC '
                          f'{PHOTODIODE_NPLC:g}, (@{listed});:SENS:VOLT:RANG:AUTO ON, '
                          f'(@{listed});{average};:ROUT:SCAN:CRE (@{listed});'
                          f':ROUT:SCAN:COUN:SCAN 1;:FORM:DATA ASC;*OPC?')
                self._configured = (channels, self._average)
            sent = time.monotonic()
            with longer_timeout(self, self._scan_timeout_s(len(channels))):
                completed(self, ':TRAC:CLE "defbuffer1";:INIT;*WAI;*OPC?')
            done = time.monotonic()
            key = (len(channels), self._average)
            self._scan_seen_s[key] = max(done - sent, self._scan_seen_s.get(key, 0.0))
            reply = self.ask(f':TRAC:DATA? 1, {len(channels)}, "defbuffer1", READ, REL, CHAN'
                             ).strip().split(",")
        if len(reply) != 3 * len(channels):
            raise ValueError(f"{self.name}: a scan of {len(channels)} channels gave "
                             f"{len(reply)} fields, expected {3 * len(channels)}")
        values = [float(f) for f in reply]
        rows = [values[k:k + 3] for k in range(0, len(values), 3)]
        if [str(int(ch)) for _, _, ch in rows] != list(channels):
            raise ValueError(f"{self.name}: the scan read channels "
                             f"{[int(r[2]) for r in rows]}, expected {list(channels)}")
        # The meter stamps each reading relative to the first. The last ended about when *OPC?
        # answered; each took about the span's share (a lone channel: the whole scan).
        span = rows[-1][1]
        per = span / (len(rows) - 1) if len(rows) > 1 else done - sent
        first_end = done - span
        out = {}
        for volts, rel, ch in rows:
            if abs(volts) >= OVERFLOW:
                raise ValueError(f"{self.name}: channel {int(ch)} overflowed")
            end = first_end + rel
            out[str(int(ch))] = (volts, (end - per, end))
        return out


class ScannedPhotodiode:
    """One card channel: a pixel's photodiode through its transimpedance amplifier."""

    CAPABILITIES = frozenset()  # no output, no trigger link

    def __init__(self, meter: KeithleyDAQ6510Scanner, channel: str) -> None:
        self.meter = meter
        self.channel = channel
        self.name = f"{meter.name} channel {channel}"
        self.adapter = LinkHandle(meter)
        self.last_read_window = (0.0, 0.0)

    def identity(self) -> str:
        return (f"{self.meter.link_identity()} channel {self.channel} "
                f"(TIA {self.meter.gain:g} V/A)")

    @property
    def next_error(self) -> tuple[int, str]:
        return self.meter.next_error

    def read_photocurrent(self, average: int = 1) -> float:
        """The photocurrent (A) from the next scan, stamped where the meter says it was
        integrated."""
        volts, window = self.meter.reading(self.channel, average)
        self.last_read_window = window
        return volts / self.meter.gain

    def shutdown(self) -> None:
        """Nothing is sourced."""
