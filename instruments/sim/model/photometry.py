"""Photometric and radiometric constants the virtual QLED needs.

The CIE 1924 photopic luminous-efficiency function comes from colour-science (a maintained
table); it is imported lazily because importing colour costs about two seconds.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import constants

PLANCK_J_S = constants.h
LIGHT_M_S = constants.c
ELEMENTARY_C = constants.e
BOLTZMANN_J_K = constants.k
KM_LM_PER_W = 683.002  # maximum luminous efficacy of photopic vision

#: The wavelength grid (nm) on which every spectrum in the model is evaluated.
WAVELENGTH_NM = np.arange(360.0, 830.0 + 0.5, 0.5)

# Quantum efficiency of a typical UV-enhanced Si photodiode (electrons per photon). A model
# choice: smooth values in the range data sheets give; only ratios across the visible matter.
_SI_QE_NM = np.array([350, 400, 450, 500, 550, 600, 650, 700, 800, 900, 1000], dtype=float)
_SI_QE = np.array([0.30, 0.48, 0.60, 0.67, 0.72, 0.76, 0.79, 0.80, 0.78, 0.70, 0.35])


@lru_cache(maxsize=1)
def photopic_v() -> np.ndarray:
    """V(λ) of the CIE 1924 2° observer on :data:`WAVELENGTH_NM`."""
    from colour.colorimetry import SDS_LEFS_PHOTOPIC

    sd = SDS_LEFS_PHOTOPIC["CIE 1924 Photopic Standard Observer"]
    return np.interp(WAVELENGTH_NM, sd.wavelengths, sd.values, left=0.0, right=0.0)


def si_quantum_efficiency(wavelength_nm: np.ndarray) -> np.ndarray:
    """Electrons per incident photon of the Si photodiode at each wavelength."""
    return np.interp(wavelength_nm, _SI_QE_NM, _SI_QE, left=0.0, right=0.0)


def photon_energy_j(wavelength_nm: np.ndarray | float) -> np.ndarray | float:
    return PLANCK_J_S * LIGHT_M_S / (np.asarray(wavelength_nm) * 1e-9)


def thermal_voltage(temperature_k: float) -> float:
    return BOLTZMANN_J_K * temperature_k / ELEMENTARY_C
