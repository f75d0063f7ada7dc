"""Roles: what the engine needs from each kind of instrument, and nothing more.

The engine is written against these protocols. A Keithley 2400 over GPIB, a 2450 over USB and the
virtual bench all satisfy ``SourceMeter``; which one sits behind a pixel is the station's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Sweep:
    """What a source-meter measured at each point of a hardware sweep."""

    voltage_v: np.ndarray
    current_a: np.ndarray
    compliance: np.ndarray  # True where the point hit compliance


@dataclass(frozen=True)
class ImpedanceSweep:
    bias_v: np.ndarray
    capacitance_f: np.ndarray
    conductance_s: np.ndarray
    frequency_hz: float


@dataclass(frozen=True)
class Spectrum:
    wavelength_nm: np.ndarray
    counts: np.ndarray          # dark-corrected when ``dark_corrected``
    integration_s: float
    dark_corrected: bool
    saturated: bool


@runtime_checkable
class Instrument(Protocol):
    """Every role: an identity, and a way to put the instrument in a safe state."""

    def identity(self) -> str: ...
    def shutdown(self) -> None: ...


@runtime_checkable
class SourceMeter(Instrument, Protocol):
    def configure_current_source(self, compliance_v: float, nplc: float = 1.0) -> None:
        """Current-source mode with the voltage compliance set, output untouched."""

    def ramp_current(self, target_a: float, step_a: float, dwell_s: float) -> None:
        """Move the sourced current to ``target_a`` in steps, never past it; output on at the end
        (compliance is always set before the output goes on)."""

    def read_vi(self) -> tuple[float, float, bool]:
        """(voltage, current, in_compliance) at the present source level."""

    def sweep(self, mode: Literal["voltage", "current"], points: np.ndarray, compliance: float,
              nplc: float = 1.0, delay_s: float = 0.0) -> Sweep:
        """A list sweep run by the instrument into its buffer."""

    def output_off(self, step_a: float, dwell_s: float) -> None:
        """Ramp to zero, then switch the output off."""

    @property
    def output_enabled(self) -> bool: ...


@runtime_checkable
class Photodetector(Instrument, Protocol):
    last_read_window: tuple[float, float]  # monotonic start and end of the last reading

    def read_photocurrent(self, average: int = 1) -> float:
        """Photocurrent in A (positive for light); ``average`` readings' worth of integration."""


@runtime_checkable
class ImpedanceMeter(Instrument, Protocol):
    def cv_sweep(self, bias_v: np.ndarray, frequency_hz: float, level_v: float
                 ) -> ImpedanceSweep: ...


@runtime_checkable
class LockIn(Instrument, Protocol):
    def configure(self, frequency_hz: float, sensitivity_v: float, time_constant_s: float,
                  slope_db: int = 12) -> None: ...

    def read_settled(self) -> tuple[float, float]:
        """(X, Y) in V rms, read after the output filter has settled to 99 %."""


@runtime_checkable
class SpectrometerRole(Instrument, Protocol):
    def spectrum(self, integration_s: float, averages: int = 1, dark: bool = True) -> Spectrum: ...


@runtime_checkable
class Switch(Instrument, Protocol):
    def route(self, pixel: int, target: Literal["SMU", "LCR", "OPEN"]) -> None: ...


@runtime_checkable
class LightSource(Instrument, Protocol):
    def set_power(self, watts: float) -> None: ...
    def enable(self, on: bool) -> None: ...
    def aim(self, pixel: int) -> None: ...
