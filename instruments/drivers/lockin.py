"""SRS SR830 and SR860 lock-ins: pymeasure's drivers plus a settled reading for the PL role."""

from __future__ import annotations

import bisect
import time

from pymeasure.instruments.srs import SR830 as _SR830
from pymeasure.instruments.srs import SR860 as _SR860

# Time for the output to settle to 99 % after a step (SRS manuals), in time constants.
SETTLE_TAU = {6: 5.0, 12: 7.0, 18: 9.0, 24: 10.0}


def _at_least(value: float, allowed: list[float]) -> float:
    """The smallest allowed setting that is >= value (or the largest there is)."""
    ordered = sorted(allowed)
    i = bisect.bisect_left(ordered, value * (1 - 1e-9))
    return ordered[min(i, len(ordered) - 1)]


class _LockInRole:
    """The ``LockIn`` role on top of a pymeasure SRS driver."""

    _slope_db = 12

    def identity(self) -> str:
        return self.ask("*IDN?").strip()

    def configure(self, frequency_hz: float, sensitivity_v: float, time_constant_s: float,
                  slope_db: int = 12) -> None:
        if slope_db not in SETTLE_TAU:
            raise ValueError(f"filter slope must be one of 6, 12, 18, 24 dB/oct, got {slope_db}")
        if not 0.001 <= frequency_hz <= self.MAX_FREQUENCY_HZ:
            # pymeasure would silently clamp (103 kHz becomes 102 kHz on an SR830): refuse.
            raise ValueError(f"{self.name} cannot lock at {frequency_hz:g} Hz "
                             f"(0.001 Hz to {self.MAX_FREQUENCY_HZ:g} Hz)")
        self.frequency = frequency_hz
        self.sensitivity = _at_least(sensitivity_v, self.SENSITIVITIES)
        self.time_constant = _at_least(time_constant_s, self.TIME_CONSTANTS)
        self._set_slope(slope_db)
        self._slope_db = slope_db

    def settle_time_s(self) -> float:
        return SETTLE_TAU[self._slope_db] * float(self.time_constant)

    def read_settled(self) -> tuple[float, float]:
        time.sleep(self.settle_time_s())
        x, y = self._snap_xy()
        return float(x), float(y)

    @property
    def next_error(self) -> tuple[int, str]:
        """SRS lock-ins keep no SCPI error queue: the standard event status register (IEEE
        488.2, cleared by reading) says whether a command or execution error happened."""
        esr = int(self.ask("*ESR?").strip())
        bits = esr & 0b0011_1100  # query, device, execution, command error
        return (bits, f"event status register {esr}") if bits else (0, "No error")

    def read_aux_in(self, index: int) -> float:
        """AUX input 1..4 (V)."""
        return float(getattr(self, f"aux_in_{index}"))

    def shutdown(self) -> None:
        """A lock-in sources only its reference; nothing to make safe."""


class SR830(_LockInRole, _SR830):
    MAX_FREQUENCY_HZ = 102_000.0
    def _set_slope(self, slope_db: int) -> None:
        self.filter_slope = slope_db

    def _snap_xy(self) -> tuple[float, float]:
        return tuple(self.snap("X", "Y"))


class SR860(_LockInRole, _SR860):
    MAX_FREQUENCY_HZ = 500_000.0
    def _set_slope(self, slope_db: int) -> None:
        self.filter_slope = {6: 0, 12: 1, 18: 2, 24: 3}[slope_db]

    def _snap_xy(self) -> tuple[float, float]:
        return tuple(self.snap("X", "Y"))
