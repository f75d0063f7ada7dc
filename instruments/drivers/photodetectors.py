"""Photodetectors for the luminance monitor: a Si photodiode read by a source-meter at 0 V, or
through a transimpedance amplifier into a lock-in's AUX input."""

from __future__ import annotations

import numpy as np

from .formats import completed, numbers
from .keithley import (
    DEFAULT_ELEMENTS,
    POINT_MODE,
    SWEEP_ELEMENTS,
    Keithley2400,
    checked_reading,
    sweep_points,
)
from .lockin import _LockInRole

PHOTODIODE_NPLC = 1  # integration of a luminance reading, in power-line cycles


class Keithley2400Photodetector(Keithley2400):
    """A 2400 holding its photodiode at 0 V and reading the photocurrent (which flows out)."""

    def __init__(self, adapter, name: str = "Keithley 2400 photodiode meter", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)
        self._biased = False
        self.armed = False

    def read_photocurrent(self, average: int = 1) -> float:
        """One reading; ``average`` > 1 uses the meter's repeat filter (at most 100 integrations
        in one reading), e.g. for L0, whose noise sets the error of every T-value."""
        if not self._biased:
            # The whole read mode, not just the bias: a linked acquisition cut short (a fault, a
            # killed engine) leaves the meter armed on the trigger link, binary, filtered.
            self.write(f"{POINT_MODE};:SENS:AVER OFF;:SOUR:FUNC VOLT;:SOUR:VOLT 0;"
                       f":SENS:CURR:PROT 1e-3;:SENS:CURR:NPLC {PHOTODIODE_NPLC:g};:OUTP ON")
            self._biased = True
        if average <= 1:
            return self._photocurrent()
        count = min(int(average), 100)
        self.write(f":SENS:AVER:TCON REP;:SENS:AVER:COUN {count};:SENS:AVER ON")
        try:
            # `count` integrations of 1 PLC with autozero (three each) at 50 Hz, worst case: 6 s
            # for 100, longer than any sensible VISA timeout for a plain reading.
            with self._timeout(count * 3 * PHOTODIODE_NPLC / 50 * 1.5 + 2):
                return self._photocurrent()
        finally:
            self.write(":SENS:AVER OFF")

    def _photocurrent(self) -> float:
        v, i, *_ = numbers(self, ":READ?", len(DEFAULT_ELEMENTS.split(",")))
        return -checked_reading(float(v), float(i))[1]

    def arm_linked(self, points: int, nplc: float = 0.1) -> None:
        """Arm on the trigger link for ``points`` readings into the buffer, one per trigger from
        the pixel's source-meter (``Keithley2400.sweep(..., trigger_link=True)``)."""
        n = sweep_points(np.zeros(points)).size
        completed(self, f":SOUR:FUNC VOLT;:SOUR:VOLT 0;:SENS:CURR:PROT 1e-3;"
                  f":SENS:CURR:NPLC {nplc:g};:FORM:ELEM {SWEEP_ELEMENTS};:TRAC:CLE;"
                  f":TRAC:POIN {n};:TRAC:FEED SENS;:TRAC:FEED:CONT NEXT;:TRIG:COUN {n};"
                  f":TRIG:SOUR TLIN;:OUTP ON;*OPC?")
        self._biased = True
        self.write(":INIT")
        self.armed = True  # until fetched: the meter runs no other command meanwhile

    def fetch_linked(self, points: int, timeout_s: float = 30.0) -> np.ndarray:
        """The photocurrents (A) of an armed acquisition, once every trigger has come."""
        with self._timeout(timeout_s):
            completed(self)
        self._biased = False  # until the read mode is back, the next reading sets it up
        self.armed = False
        data = self._read_buffer_binary(points, elements=3)
        self.write(f":FORM:DATA ASC;:TRIG:SOUR IMM;:TRIG:COUN 1;:TRAC:FEED:CONT NEV;"
                   f":FORM:ELEM {DEFAULT_ELEMENTS}")
        self._biased = True
        return -data[:, 1]


class LockinAuxPhotodetector:
    """A photodiode through a transimpedance amplifier of ``gain_v_per_a`` into AUX IN n."""

    def __init__(self, lockin: _LockInRole, aux_input: int = 1, gain_v_per_a: float = 1e4
                 ) -> None:
        self.lockin = lockin
        self.aux_input = aux_input
        self.gain = gain_v_per_a

    def identity(self) -> str:
        return f"{self.lockin.identity()} AUX IN {self.aux_input} (TIA {self.gain:g} V/A)"

    def read_photocurrent(self, average: int = 1) -> float:
        readings = [self.lockin.read_aux_in(self.aux_input) for _ in range(max(1, average))]
        return sum(readings) / len(readings) / self.gain

    def shutdown(self) -> None:
        """Nothing is sourced."""
