"""Roles: what the engine needs from each kind of instrument, and nothing more.

The engine is written against these protocols. A Keithley 2400 over GPIB, a 2450 over USB and the
virtual bench all satisfy ``SourceMeter``; which one sits behind a pixel is the station's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol, runtime_checkable

import numpy as np


class Capability(str, Enum):
    """What a driver declares it can do, for the parts of AgeLab that rely on it (a driver
    class lists its own in ``CAPABILITIES``; subclasses inherit them)."""

    # It sources an output that can be found off or short of its level after a fault: the
    # resilience layer keeps the output's account (outages, stress lost or gained) for it.
    OUTPUT = "output"
    # A photodetector armed to read once per trigger of the source-meter's sweep, so a J–V–L
    # is one trigger-linked run (``arm_linked`` / ``fetch_linked``).
    TRIGGER_LINK = "trigger-link"


def capabilities(driver: object) -> frozenset[Capability]:
    """The capabilities a driver (an instance or its class) declares; none if it declares none."""
    cls = driver if isinstance(driver, type) else type(driver)
    return frozenset(getattr(cls, "CAPABILITIES", ()))


def channel_letters(driver: object) -> tuple[str, ...]:
    """The channels of a multi-channel instrument's driver (an instance or its class), each of
    which plays a role of its own (a 2602B's "a" and "b"); none for a single instrument."""
    cls = driver if isinstance(driver, type) else type(driver)
    return tuple(getattr(cls, "CHANNELS", ()))


def channel_role(instrument: str, channel: str) -> str:
    """A channel's role name on the station: ``smu1a`` for a lettered channel, ``daq1:101``
    for a numbered one."""
    return f"{instrument}{channel}" if channel.isalpha() else f"{instrument}:{channel}"


def trigger_linked(photodetector: object, source_meter: object) -> bool:
    """Whether ``photodetector`` can read once per step of ``source_meter``'s sweep: it
    declares the trigger link, and says that this source-meter can drive it."""
    return (Capability.TRIGGER_LINK in capabilities(photodetector)
            and photodetector.triggered_by(source_meter))


@dataclass(frozen=True)
class RampTiming:
    """When a ramp ran (``time.monotonic()`` seconds), as the driver timed its own levels.

    ``one_step_at`` is the moment one step from the start level to the target would have passed
    the same charge: where a stress clock stops or starts for this ramp (None for a ramp that
    had nothing to do). ``found`` is the level the ramp began from: a retried ramp that finds
    the output already driven shows the failed attempt left the pixel under stress meanwhile.
    """

    began: float
    ended: float
    one_step_at: float | None = None
    found: float = 0.0

    @property
    def stress_moment(self) -> float:
        """The one-step moment, or the middle of the ramp (a linear ramp passes half its
        time's charge) where the driver did not time its levels."""
        if self.one_step_at is not None and self.began <= self.one_step_at <= self.ended:
            return self.one_step_at
        return (self.began + self.ended) / 2


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

    def ramp_current(self, target_a: float, step_a: float, dwell_s: float) -> RampTiming:
        """Move the sourced current to ``target_a`` in steps, never past it; output on at the end
        (compliance is always set before the output goes on)."""

    def read_vi(self) -> tuple[float, float, bool]:
        """(voltage, current, in_compliance) at the present source level."""

    def sweep(self, mode: Literal["voltage", "current"], points: np.ndarray, compliance: float,
              nplc: float = 1.0, delay_s: float = 0.0) -> Sweep:
        """A list sweep run by the instrument into its buffer."""

    def output_off(self, step_a: float, dwell_s: float) -> RampTiming:
        """Ramp to zero, then switch the output off."""

    @property
    def output_enabled(self) -> bool: ...


@runtime_checkable
class Photodetector(Instrument, Protocol):
    last_read_window: tuple[float, float]  # monotonic start and end of the last reading

    def read_photocurrent(self, average: int = 1) -> float:
        """Photocurrent in A (positive for light); ``average`` readings' worth of integration."""


@runtime_checkable
class LinkedPhotodetector(Photodetector, Protocol):
    """A photodetector that declares ``Capability.TRIGGER_LINK``."""

    def triggered_by(self, source_meter: object) -> bool:
        """Whether this source-meter's sweep steps can trigger its readings."""

    def arm_linked(self, points: int, nplc: float = 0.1) -> None: ...
    def fetch_linked(self, points: int, timeout_s: float | None = None) -> np.ndarray: ...


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
class TemperatureController(Instrument, Protocol):
    def hold(self, celsius: float) -> None:
        """Regulate to ``celsius``."""

    def read_temperature(self) -> float:
        """The sensor's temperature, °C."""


@runtime_checkable
class Switch(Instrument, Protocol):
    def route(self, pixel: int, target: Literal["SMU", "LCR", "OPEN"]) -> None: ...


@runtime_checkable
class LightSource(Instrument, Protocol):
    def set_power(self, watts: float) -> None: ...
    def enable(self, on: bool) -> None: ...
    def aim(self, pixel: int) -> None: ...
