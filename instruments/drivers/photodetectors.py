"""Photodetectors for the luminance monitor: a Si photodiode read by a source-meter at 0 V, or
through a transimpedance amplifier into a lock-in's AUX input."""

from __future__ import annotations

import time

import numpy as np

from agelab.instruments.drivers.formats import completed, fields
from agelab.instruments.drivers.keithley import (
    DEFAULT_ELEMENTS,
    POINT_MODE,
    SWEEP_ELEMENTS,
    Keithley2400,
    checked_reading,
    sweep_points,
)
from agelab.instruments.drivers.lockin import _LockInRole
from agelab.instruments.drivers.timestamps import ReadingClock, last_digit
from agelab.instruments.roles import Capability

PHOTODIODE_NPLC = 1  # integration of a luminance reading, in power-line cycles


class AcquisitionLost(RuntimeError):
    """A linked acquisition that did not complete: reading its buffer again cannot help."""


class Keithley2400Photodetector(Keithley2400):
    """A 2400 holding its photodiode at 0 V and reading the photocurrent (which flows out)."""

    CAPABILITIES = frozenset({Capability.OUTPUT, Capability.TRIGGER_LINK})

    def __init__(self, adapter, name: str = "Keithley 2400 photodiode meter", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)
        self._biased = False
        self._filter = 1  # the repeat filter's count as last set (1: off)
        # Monotonic start and end of the last light reading's own query (not of the settings
        # written before it), narrowed by the meter's TIME stamp, so a sample is stamped at the
        # middle of its integration.
        self.last_read_window = (0.0, 0.0)
        self.clock = ReadingClock()
        self.armed = False
        # The longest a filtered reading has taken, per filter count (wall s): its timeout.
        self._filtered_s: dict[int, float] = {}
        self._linked_wait_s = 30.0  # a fetch's wait for its last reading (set by arm_linked)

    def read_photocurrent(self, average: int = 1) -> float:
        """One reading; ``average`` > 1 uses the meter's repeat filter (at most 100 integrations
        in one reading): for L0, whose noise sets the error of every T-value, and for samples
        whose channel averages. The filter is set only when the count changes."""
        if not self._biased:
            # The whole read mode, not just the bias: a linked acquisition cut short (a fault, a
            # killed engine) leaves the meter armed on the trigger link, binary, filtered.
            # Settings end in *OPC?, so the reading's own query is not queued behind them and
            # its stamp is its own: the L0 reading, right after them, is read on the steepest
            # part of a blue decay.
            completed(self, f"{POINT_MODE};:SENS:AVER OFF;:SOUR:FUNC VOLT;:SOUR:VOLT 0;"
                            f":SENS:CURR:PROT 1e-3;:SENS:CURR:NPLC {PHOTODIODE_NPLC:g};"
                            ":OUTP ON;*OPC?")
            self._biased, self._filter = True, 1
        count = max(1, min(int(average), 100))
        if count != self._filter:
            completed(self, f":SENS:AVER:TCON REP;:SENS:AVER:COUN {count};:SENS:AVER ON;*OPC?"
                      if count > 1 else ":SENS:AVER OFF;*OPC?")
            self._filter = count
        if count == 1:
            return self._photocurrent()
        with self._timeout(self._filtered_timeout_s(count)):
            began = time.monotonic()
            amps = self._photocurrent()
        took = time.monotonic() - began
        self._filtered_s[count] = max(took, self._filtered_s.get(count, 0.0))
        return amps

    def _filtered_timeout_s(self, count: int) -> float:
        """`count` integrations of 1 PLC with autozero (three each) at 50 Hz take 6 s for 100 at
        worst: longer than a sensible timeout for a plain reading. Once a reading at this count
        has been seen, twice its time (never more than the worst case), so a lost reply costs
        a retry about one reading's time, not the worst case's. The connection's own timeout
        stays the floor."""
        worst = count * 3 * PHOTODIODE_NPLC / 50 * 1.5 + 2
        seen = self._filtered_s.get(count)
        return worst if seen is None else min(worst, 2 * seen)

    def _photocurrent(self) -> float:
        started = time.monotonic()
        reply = fields(self, ":READ?", len(DEFAULT_ELEMENTS.split(",")))
        ended = time.monotonic()
        v, i, _, stamp, status = (float(f) for f in reply)
        amps = -checked_reading(v, i, status)[1]
        # Readings of one filter count share the meter's lag between its stamp and the middle
        # of the integration (instruments/drivers/timestamps.py).
        self.last_read_window = self.clock.locate(self._filter, started, ended, stamp,
                                                  last_digit(reply[3]))
        return amps

    def triggered_by(self, source_meter: object) -> bool:
        """A 2400 source-meter on the trigger-link cable drives it (a 2450 has no such link
        here)."""
        return isinstance(source_meter, Keithley2400)

    def arm_linked(self, points: int, nplc: float = 0.1) -> None:
        """Arm on the trigger link for ``points`` readings into the buffer, one per trigger from
        the pixel's source-meter (``Keithley2400.sweep(..., trigger_link=True)``)."""
        n = sweep_points(np.zeros(points)).size
        # The repeat filter off: each trigger is one reading of the sweep's own integration.
        completed(self, f":SENS:AVER OFF;:SOUR:FUNC VOLT;:SOUR:VOLT 0;:SENS:CURR:PROT 1e-3;"
                  f":SENS:CURR:NPLC {nplc:g};:FORM:ELEM {SWEEP_ELEMENTS};:TRAC:CLE;"
                  f":TRAC:POIN {n};:TRAC:FEED SENS;:TRAC:FEED:CONT NEXT;:TRIG:COUN {n};"
                  f":TRIG:SOUR TLIN;:OUTP ON;*OPC?")
        self._biased, self._filter = True, 1
        self.write(":INIT")
        self.armed = True  # until fetched: the meter runs no other command meanwhile
        # Fetched once the triggering sweep is over, the meter has at most its last reading
        # (three integrations with autozero, at 50 Hz) to finish.
        self._linked_wait_s = 3 * nplc / 50 * 1.5 + 2

    def fetch_linked(self, points: int, timeout_s: float | None = None) -> np.ndarray:
        """The photocurrents (A) of an armed acquisition, called once the source-meter's sweep
        that triggers it has returned (a wait of one reading, unless ``timeout_s`` says more).
        Raises ``AcquisitionLost`` (not retried) when the buffer holds fewer readings than
        that: an :INIT lost on the bus, or a meter rebooted meanwhile, left it short, and each
        retry of the read timed out on a block that never came, 20 s with the stress off.
        (pyvisa-py shows a link the instrument closed as a timeout, so this wait is what a
        dropped link costs here; it was 30 s.)"""
        wait = timeout_s if timeout_s is not None else self._linked_wait_s
        with self._timeout(wait):
            completed(self)
        self._biased = False  # until the read mode is back, the next reading sets it up
        self.armed = False
        stored = int(self.values(":TRAC:POIN:ACT?", cast=int)[0])
        if stored < points:
            raise AcquisitionLost(f"{self.name}: {stored} of {points} linked readings in the "
                                  "buffer (the acquisition was cut short)")
        data = self._read_buffer_binary(points)
        self.write(f":FORM:DATA ASC;:TRIG:SOUR IMM;:TRIG:COUN 1;:TRAC:FEED:CONT NEV;"
                   f":FORM:ELEM {DEFAULT_ELEMENTS}")
        self._biased = True
        return -data[:, 1]


class LockinAuxPhotodetector:
    """A photodiode through a transimpedance amplifier of ``gain_v_per_a`` into AUX IN n."""

    def __init__(self, lockin: _LockInRole, aux_input: int = 1, gain_v_per_a: float = 1e4
                 ) -> None:
        self.lockin = lockin
        self.last_read_window = (0.0, 0.0)
        self.aux_input = aux_input
        self.gain = gain_v_per_a

    def identity(self) -> str:
        return f"{self.lockin.identity()} AUX IN {self.aux_input} (TIA {self.gain:g} V/A)"

    def read_photocurrent(self, average: int = 1) -> float:
        started = time.monotonic()
        readings = [self.lockin.read_aux_in(self.aux_input) for _ in range(max(1, average))]
        self.last_read_window = (started, time.monotonic())
        return sum(readings) / len(readings) / self.gain

    def shutdown(self) -> None:
        """Nothing is sourced."""
