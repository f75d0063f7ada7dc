"""The photometry the analysis needs: CIE V(λ), photon energy and the thermal voltage.

Constants come from scipy.constants (CODATA) and V(λ) from colour-science, so the analysis reads
a measured spectrum with the same tables as any other photometric program, whatever produced it.
colour is imported lazily: importing it costs about two seconds.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import constants

ELEMENTARY_C = constants.e
KM_LM_PER_W = 683.002  # maximum luminous efficacy of photopic vision (CIE)


@lru_cache(maxsize=1)
def _photopic_table() -> tuple[np.ndarray, np.ndarray]:
    from colour.colorimetry import SDS_LEFS_PHOTOPIC

    sd = SDS_LEFS_PHOTOPIC["CIE 1924 Photopic Standard Observer"]
    return np.asarray(sd.wavelengths, dtype=float), np.asarray(sd.values, dtype=float)


def photopic_v(wavelength_nm: np.ndarray) -> np.ndarray:
    """V(λ) of the CIE 1924 2° observer at each wavelength (0 outside its table)."""
    nm, v = _photopic_table()
    return np.interp(wavelength_nm, nm, v, left=0.0, right=0.0)


def photon_energy_j(wavelength_nm: np.ndarray | float) -> np.ndarray | float:
    return constants.h * constants.c / (np.asarray(wavelength_nm) * 1e-9)


def thermal_voltage(temperature_k: float) -> float:
    return constants.k * temperature_k / constants.e
