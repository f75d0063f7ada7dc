"""Temperature controllers: a Keithley 2510 TEC SourceMeter holding a stage at a set point.

pymeasure's ``Keithley2510`` has the set point, the measured temperature and the output; this
adds the ``TemperatureController`` role: one exchange to set and switch on, a checked reading.
"""

from __future__ import annotations

import math

from pymeasure.instruments.keithley import Keithley2510 as _PymeasureKeithley2510

from agelab.instruments.drivers.formats import completed


class Keithley2510TEC(_PymeasureKeithley2510):
    def identity(self) -> str:
        return self.ask("*IDN?").strip()

    def hold(self, celsius: float) -> None:
        """Regulate the stage to ``celsius`` (set point first, then the output on)."""
        completed(self, f":SOUR:TEMP {celsius:g};:OUTP ON;*OPC?")

    def read_temperature(self) -> float:
        """The stage sensor's temperature, °C (refused when no sensor could have read it)."""
        reply = self.ask(":MEAS:TEMP?").strip()
        value = float(reply)
        if not (math.isfinite(value) and -100.0 <= value <= 300.0):
            raise ValueError(f"{self.name}: temperature reply {reply!r} is no stage temperature")
        return value

    def shutdown(self) -> None:
        """The TEC switched off: the stage drifts back to the room."""
        completed(self, ":OUTP OFF;*OPC?")
