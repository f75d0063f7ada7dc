"""Spectral figures: peak, FWHM, band fractions, and EQE from luminance."""

from __future__ import annotations

import math

import numpy as np

from instruments.sim.photometry import (
    ELEMENTARY_C,
    KM_LM_PER_W,
    WAVELENGTH_NM,
    photon_energy_j,
    photopic_v,
)


def peak_and_fwhm(wavelength_nm: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Peak wavelength (parabolic refinement of the maximum) and full width at half maximum."""
    x = np.asarray(wavelength_nm, dtype=float)
    y = np.asarray(counts, dtype=float)
    i = int(np.argmax(y))
    peak = float(x[i])
    if 0 < i < len(y) - 1:
        y0, y1, y2 = y[i - 1], y[i], y[i + 1]
        denom = y0 - 2 * y1 + y2
        if denom != 0:
            peak = float(x[i] + 0.5 * (y0 - y2) / denom * (x[i + 1] - x[i - 1]) / 2)
    half = y[i] / 2
    left = i
    while left > 0 and y[left] > half:
        left -= 1
    right = i
    while right < len(y) - 1 and y[right] > half:
        right += 1
    if y[left] > half or y[right] > half:
        raise ValueError("the spectrum does not fall to half maximum on both sides of its peak")
    x_left = np.interp(half, [y[left], y[left + 1]], [x[left], x[left + 1]])
    x_right = np.interp(half, [y[right], y[right - 1]], [x[right], x[right - 1]])
    return peak, float(x_right - x_left)


def band_fraction(wavelength_nm: np.ndarray, counts: np.ndarray, lo_nm: float, hi_nm: float
                  ) -> float:
    """Fraction of the photons between ``lo_nm`` and ``hi_nm`` (e.g. a parasitic TFB band)."""
    x = np.asarray(wavelength_nm, dtype=float)
    y = np.asarray(counts, dtype=float)
    sel = (x >= lo_nm) & (x <= hi_nm)
    total = np.trapezoid(y, x)
    return float(np.trapezoid(y[sel], x[sel]) / total) if total > 0 else math.nan


def eqe_from_luminance(luminance_cd_m2: float, j_ma_cm2: float, wavelength_nm: np.ndarray,
                       photon_spectrum: np.ndarray) -> float:
    """EQE of a Lambertian emitter from its luminance, current and (photon) spectral shape."""
    x = np.asarray(wavelength_nm, dtype=float)
    s = np.asarray(photon_spectrum, dtype=float)
    s = s / np.trapezoid(s, x)
    v = np.interp(x, WAVELENGTH_NM, photopic_v())
    lumens_per_photon = KM_LM_PER_W * np.trapezoid(s * v * photon_energy_j(x), x)
    photons_m2_s = luminance_cd_m2 * math.pi / lumens_per_photon
    electrons_m2_s = j_ma_cm2 * 10.0 / ELEMENTARY_C
    return float(photons_m2_s / electrons_m2_s)
