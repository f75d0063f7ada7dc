"""Measurement noise with a seeded generator, so a virtual run is reproducible to the bit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class NoiseSpec:
    photodiode_rel: float = 1e-3        # ~0.1 % of the photocurrent
    photodiode_dark_a: float = 2e-12    # dark-current noise, A rms
    smu_voltage_rel: float = 2e-5       # Keithley 2400 class: tens of ppm of reading
    smu_voltage_abs_v: float = 5e-5
    smu_current_rel: float = 5e-5
    smu_current_abs_a: float = 1e-11
    lcr_rel: float = 5e-4               # E4980A basic accuracy 0.05 %


class Noise:
    """Adds instrument-like Gaussian noise. Same seed, same sequence of calls → same numbers."""

    def __init__(self, seed: int = 0, spec: NoiseSpec | None = None) -> None:
        self.spec = spec or NoiseSpec()
        self.rng = np.random.default_rng(seed)

    def _add(self, value: float, rel: float, abs_: float, average: int = 1) -> float:
        scale = ((rel * abs(value)) ** 2 + abs_ * abs_) / max(average, 1)
        return value + float(self.rng.standard_normal()) * scale ** 0.5

    def photodiode(self, current_a: float, average: int = 1) -> float:
        return self._add(current_a, self.spec.photodiode_rel, self.spec.photodiode_dark_a,
                         average)

    def smu_voltage(self, volts: float, average: int = 1) -> float:
        return self._add(volts, self.spec.smu_voltage_rel, self.spec.smu_voltage_abs_v, average)

    def lcr(self, value: float) -> float:
        return self._add(value, self.spec.lcr_rel, 0.0)

    def smu_current(self, amps: float, average: int = 1) -> float:
        return self._add(amps, self.spec.smu_current_rel, self.spec.smu_current_abs_a, average)
