"""Spectral figures: peak, FWHM, centroid, CIE 1931 xy, band fractions, and EQE from luminance.

Spectra are photon counts per detector pixel (a dark-corrected CCD reading), so colour is computed
from the radiant spectrum (photons × hc/λ) with the CIE 1931 2° colour-matching functions of
colour-science.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.signal import savgol_filter

from agelab.protocols.analysis.photometry import (
    ELEMENTARY_C,
    KM_LM_PER_W,
    photon_energy_j,
    photopic_v,
)


def peak_and_fwhm(wavelength_nm: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Peak wavelength and full width at half maximum, robust to shot noise.

    The spectrum is smoothed (Savitzky–Golay, quadratic, ~2 nm), the peak is the vertex of a
    least-squares parabola through the raw points above 90 % of the maximum, and the half-maximum
    crossings are read on the smoothed curve. On a 0.22 nm/pixel CCD at 2–8·10⁴ counts this is
    within 0.2 nm of the noise-free peak, where the raw maximum wanders by ±1–2 nm.
    """
    x = np.asarray(wavelength_nm, dtype=float)
    y = np.asarray(counts, dtype=float)
    step = float(np.median(np.diff(x))) if x.size > 1 else 1.0
    window = max(5, round(2.0 / step) | 1)
    s = savgol_filter(y, window, 2) if y.size > window else y
    i = int(np.argmax(s))
    top = s[i]
    lo, hi = i, i
    while lo > 0 and s[lo - 1] >= 0.9 * top:
        lo -= 1
    while hi < len(s) - 1 and s[hi + 1] >= 0.9 * top:
        hi += 1
    peak, height = float(x[i]), float(top)
    if hi - lo >= 2:
        a, b, c = np.polyfit(x[lo: hi + 1] - x[i], y[lo: hi + 1], 2)
        if a < 0 and abs(b / (2 * a)) <= x[hi] - x[lo]:
            peak, height = float(x[i] - b / (2 * a)), float(c - b * b / (4 * a))
    half = height / 2
    left = i
    while left > 0 and s[left] > half:
        left -= 1
    right = i
    while right < len(s) - 1 and s[right] > half:
        right += 1
    if s[left] > half or s[right] > half:
        raise ValueError("the spectrum does not fall to half maximum on both sides of its peak")
    x_left = np.interp(half, [s[left], s[left + 1]], [x[left], x[left + 1]])
    x_right = np.interp(half, [s[right], s[right - 1]], [x[right], x[right - 1]])
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
    v = photopic_v(x)
    lumens_per_photon = KM_LM_PER_W * np.trapezoid(s * v * photon_energy_j(x), x)
    photons_m2_s = luminance_cd_m2 * math.pi / lumens_per_photon
    electrons_m2_s = j_ma_cm2 * 10.0 / ELEMENTARY_C
    return float(photons_m2_s / electrons_m2_s)


def centroid(wavelength_nm: np.ndarray, counts: np.ndarray, span_fwhm: float = 3.0,
             peak_fwhm: tuple[float, float] | None = None) -> float:
    """Photon-weighted mean wavelength within ``span_fwhm`` FWHMs of the peak (so the noise of the
    far baseline does not pull it); pass ``peak_fwhm`` when already known."""
    x = np.asarray(wavelength_nm, dtype=float)
    y = np.asarray(counts, dtype=float)
    peak, fwhm = peak_fwhm or peak_and_fwhm(x, y)
    sel = np.abs(x - peak) <= span_fwhm * fwhm
    w = np.clip(y[sel], 0.0, None)
    return float(np.sum(x[sel] * w) / np.sum(w))


@lru_cache(maxsize=1)
def _cmfs() -> tuple[np.ndarray, np.ndarray]:
    from colour import MSDS_CMFS

    cmfs = MSDS_CMFS["CIE 1931 2 Degree Standard Observer"]
    return np.asarray(cmfs.wavelengths, dtype=float), np.asarray(cmfs.values, dtype=float)


def cie_xy(wavelength_nm: np.ndarray, photon_counts: np.ndarray) -> tuple[float, float]:
    """CIE 1931 chromaticity of a photon spectrum."""
    x = np.asarray(wavelength_nm, dtype=float)
    power = np.clip(np.asarray(photon_counts, dtype=float), 0.0, None) / x
    wl, cmf = _cmfs()
    xyz = [np.trapezoid(power * np.interp(x, wl, cmf[:, k], left=0, right=0), x)
           for k in range(3)]
    total = sum(xyz)
    if total <= 0:
        raise ValueError("a spectrum without signal has no colour")
    return float(xyz[0] / total), float(xyz[1] / total)


@dataclass(frozen=True)
class SpectrumFigures:
    t_h: float
    peak_nm: float | None
    fwhm_nm: float | None
    centroid_nm: float | None
    cie_x: float | None
    cie_y: float | None
    band_fraction: float | None     # the parasitic band's share of photons, None if it overlaps
    rate: float                     # integrated counts per second of integration


def spectrum_figures(t_h: float, wavelength_nm: np.ndarray, counts: np.ndarray,
                     integration_s: float, band_nm: tuple[float, float] = (400.0, 460.0)
                     ) -> SpectrumFigures:
    """The figures of one spectrum. The parasitic band (TFB near 430 nm by default) is counted
    only when it lies clear of the main emission (more than two FWHMs below its peak)."""
    x = np.asarray(wavelength_nm, dtype=float)
    y = np.asarray(counts, dtype=float)
    rate = float(np.trapezoid(np.clip(y, 0, None), x) / integration_s) if integration_s else 0.0
    try:
        peak, fwhm = peak_and_fwhm(x, y)
        cx, cy = cie_xy(x, y)
        mean = centroid(x, y, peak_fwhm=(peak, fwhm))
    except ValueError:
        return SpectrumFigures(t_h, None, None, None, None, None, None, rate)
    band = (band_fraction(x, np.clip(y, 0, None), *band_nm)
            if peak - band_nm[1] > 2 * fwhm else None)
    return SpectrumFigures(t_h, peak, fwhm, mean, cx, cy, band, rate)
