"""Photodetectors for the luminance monitor: a Si photodiode read by a source-meter at 0 V, or
through a transimpedance amplifier into a lock-in's AUX input."""

from __future__ import annotations

from .keithley import Keithley2400
from .lockin import _LockInRole


class Keithley2400Photodetector(Keithley2400):
    """A 2400 holding its photodiode at 0 V and reading the photocurrent (which flows out)."""

    def __init__(self, adapter, name: str = "Keithley 2400 photodiode meter", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)
        self._biased = False

    def read_photocurrent(self) -> float:
        if not self._biased:
            self.write(":SOUR:FUNC VOLT;:SOUR:VOLT 0;:SENS:CURR:PROT 1e-3;:SENS:CURR:NPLC 1;"
                       ":OUTP ON")
            self._biased = True
        return -float(self.values(":READ?")[1])


class LockinAuxPhotodetector:
    """A photodiode through a transimpedance amplifier of ``gain_v_per_a`` into AUX IN n."""

    def __init__(self, lockin: _LockInRole, aux_input: int = 1, gain_v_per_a: float = 1e4
                 ) -> None:
        self.lockin = lockin
        self.aux_input = aux_input
        self.gain = gain_v_per_a

    def identity(self) -> str:
        return f"{self.lockin.identity()} AUX IN {self.aux_input} (TIA {self.gain:g} V/A)"

    def read_photocurrent(self) -> float:
        return self.lockin.read_aux_in(self.aux_input) / self.gain

    def shutdown(self) -> None:
        """Nothing is sourced."""
