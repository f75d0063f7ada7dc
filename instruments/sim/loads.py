"""What a virtual source-meter's terminals are wired to: a pixel, or a pixel's photodiode.

A load answers in amps and volts, and is told what the source forces on it, so the source-meter
simulation knows nothing about QLEDs.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Protocol

from agelab.instruments.sim.rig import Rig, Route, Site

_OPEN_CONDUCTANCE_S = 1e-13  # what an SMU sees across open terminals (cable and fixture leakage)


class Load(Protocol):
    def current_at(self, volts: float) -> float: ...
    def voltage_at(self, amps: float) -> float: ...
    def force(self, *, amps: float | None = None, volts: float | None = None) -> None: ...
    def instant_sweep(self) -> contextlib.AbstractContextManager: ...
    def measurement_noise(self, volts: float, amps: float, average: int = 1
                          ) -> tuple[float, float]: ...


class PixelLoad:
    """A QLED pixel through the relay box: open circuit when routed away from this SMU."""

    def __init__(self, site: Site) -> None:
        self.site = site

    @property
    def connected(self) -> bool:
        return self.site.route is Route.SMU

    def current_at(self, volts: float) -> float:
        if not self.connected:
            return volts * _OPEN_CONDUCTANCE_S
        px = self.site.sync()
        return float(px.current_density(volts)) * px.area_cm2 * 1e-3

    def voltage_at(self, amps: float) -> float:
        if not self.connected:
            return math.copysign(math.inf, amps) if amps else 0.0
        px = self.site.sync()
        return px.voltage(amps / px.area_cm2 * 1e3)

    def force(self, *, amps: float | None = None, volts: float | None = None) -> None:
        px = self.site.pixel
        if volts is not None:
            self.site.set_drive(volts=volts)
        else:
            self.site.set_drive(j_ma_cm2=(amps or 0.0) / px.area_cm2 * 1e3)

    def measurement_noise(self, volts: float, amps: float, average: int = 1
                          ) -> tuple[float, float]:
        noise = self.site.pixel.noise
        return noise.smu_voltage(volts, average), noise.smu_current(amps, average)

    def instant_sweep(self) -> contextlib.AbstractContextManager:
        return self.site.instant_sweep()

    def trigger_out(self, amps_per_step: list[float]) -> None:
        """The source-meter's trigger-link output: one trigger per step, at these currents."""
        area = self.site.pixel.area_cm2
        self.site.link.publish([a / area * 1e3 for a in amps_per_step])


class PhotodiodeLoad:
    """The Si photodiode facing a pixel: a photocurrent source across a junction.

    Read at 0 V bias (a source-meter or picoammeter), it gives −I_ph: the photocurrent flows out.
    It sees the pixel's EL at its present drive, and its PL while the laser is on that pixel.
    """

    SATURATION_A = 1e-11
    THERMAL_V = 0.02585

    def __init__(self, site: Site, rig: Rig) -> None:
        self.site = site
        self.rig = rig
        self.linked_j: float | None = None  # the drive of the trigger-link step being read

    def photocurrent(self) -> float:
        px = self.site.sync()
        laser = self.rig.laser.emitting_w if self.rig.optics_site == self.site.index else 0.0
        j = self.site.present_j() if self.linked_j is None else self.linked_j
        return px.photodiode_current(max(j, 0.0), laser)

    def link_generation(self) -> int:
        return self.site.link.generation

    def trigger_in(self, after_generation: int, timeout_s: float,
                   cancelled: Callable[[], bool] = lambda: False) -> list[float] | None:
        """Wait for the source-meter's triggers: the drive (mA/cm²) at each."""
        return self.site.link.wait(after_generation, timeout_s, cancelled)

    def wake_link(self) -> None:
        self.site.link.wake()

    def current_at(self, volts: float) -> float:
        exponent = min(volts / self.THERMAL_V, 700.0)
        return self.SATURATION_A * math.expm1(exponent) - self.photocurrent()

    def voltage_at(self, amps: float) -> float:
        x = (amps + self.photocurrent()) / self.SATURATION_A + 1.0
        return self.THERMAL_V * math.log(x) if x > 0 else -math.inf

    def force(self, *, amps: float | None = None, volts: float | None = None) -> None:
        """A photodiode does not age: nothing to tell the model."""

    def instant_sweep(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def measurement_noise(self, volts: float, amps: float, average: int = 1
                          ) -> tuple[float, float]:
        noise = self.site.pixel.noise
        return noise.smu_voltage(volts, average), noise.photodiode(amps, average)


class OpenTerminals:
    """Nothing wired to a channel: the fixture's leakage, and no pixel to tell anything."""

    def current_at(self, volts: float) -> float:
        return volts * _OPEN_CONDUCTANCE_S

    def voltage_at(self, amps: float) -> float:
        return math.copysign(math.inf, amps) if amps else 0.0

    def force(self, *, amps: float | None = None, volts: float | None = None) -> None:
        """Nothing to tell."""

    def instant_sweep(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def measurement_noise(self, volts: float, amps: float, average: int = 1
                          ) -> tuple[float, float]:
        return volts, amps
