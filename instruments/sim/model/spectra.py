"""Emission bands and the spectral weights that turn photon flux into lux, counts and amps.

A spectrum is a photon-fraction-weighted sum of Gaussian bands. Every quantity that is linear in
the spectrum (luminous efficacy per photon, photodiode quantum efficiency) is precomputed per band,
so a luminance reading costs a dot product, not an integral: that is what lets the model advance
1000 device-hours minute by minute in well under a second of arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from agelab.instruments.sim.model.photometry import (
    KM_LM_PER_W,
    WAVELENGTH_NM,
    photon_energy_j,
    photopic_v,
    si_quantum_efficiency,
)

_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@dataclass(frozen=True)
class Band:
    """A Gaussian emission band in wavelength, normalised to one photon."""

    name: str
    center_nm: float
    fwhm_nm: float

    def shape(self, wavelength_nm: np.ndarray) -> np.ndarray:
        """Photon spectral density (1/nm) integrating to 1 over all wavelengths."""
        sigma = self.fwhm_nm * _FWHM_TO_SIGMA
        z = (np.asarray(wavelength_nm) - self.center_nm) / sigma
        return np.exp(-0.5 * z * z) / (sigma * np.sqrt(2.0 * np.pi))

    @cached_property
    def lumens_per_photon_s(self) -> float:
        """Luminous flux (lm) carried by one photon per second of this band."""
        s = self.shape(WAVELENGTH_NM)
        watts = s * photon_energy_j(WAVELENGTH_NM)
        return float(np.trapezoid(watts * photopic_v(), WAVELENGTH_NM) * KM_LM_PER_W)

    @cached_property
    def si_quantum_efficiency(self) -> float:
        """Mean photodiode quantum efficiency over this band."""
        s = self.shape(WAVELENGTH_NM)
        return float(np.trapezoid(s * si_quantum_efficiency(WAVELENGTH_NM), WAVELENGTH_NM))


def mix(bands: tuple[Band, ...], weights: tuple[float, ...], wavelength_nm: np.ndarray
        ) -> np.ndarray:
    """Photon spectral density (1/nm) of a weighted mixture; weights are photon fractions."""
    out = np.zeros_like(np.asarray(wavelength_nm, dtype=float))
    for band, w in zip(bands, weights, strict=True):
        if w:
            out += w * band.shape(wavelength_nm)
    return out


def lumens_per_photon_s(bands: tuple[Band, ...], weights: tuple[float, ...]) -> float:
    return sum(w * b.lumens_per_photon_s for b, w in zip(bands, weights, strict=True))


def si_quantum_efficiency_of(bands: tuple[Band, ...], weights: tuple[float, ...]) -> float:
    return sum(w * b.si_quantum_efficiency for b, w in zip(bands, weights, strict=True))
