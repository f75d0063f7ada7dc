"""The analysis functions on synthetic curves whose answers are known exactly."""

import numpy as np
import pytest

from protocols.analysis.cv import capacitance_onset
from protocols.analysis.jv import ideality_factor, minimum_ideality, voltage_at
from protocols.analysis.lifetime import lifetimes
from protocols.analysis.spectra import band_fraction, peak_and_fwhm

VT = 1.380649e-23 * 300 / 1.602176634e-19


def test_ideality_of_a_pure_exponential_is_exact():
    v = np.arange(0.5, 3.0, 0.02)
    j = 1e-9 * np.exp(v / (3.0 * VT))
    _, n = ideality_factor(v, j)
    assert np.allclose(n, 3.0, atol=1e-9)


def test_minimum_ideality_ignores_single_noisy_points():
    rng = np.random.default_rng(0)
    v = np.arange(1.0, 3.0, 0.02)
    j = 1e-9 * np.exp(v / (4.0 * VT)) * (1 + 0.01 * rng.standard_normal(v.size))
    assert minimum_ideality(v, j) == pytest.approx(4.0, abs=0.1)


def test_tangent_onset_of_a_ramp():
    v = np.arange(-1, 3, 0.01)
    c = 1.0 + np.clip(v - 1.5, 0, None) * 2.0  # baseline 1, ramp from 1.5 V
    c[v > 2.5] = 3.0 - (v[v > 2.5] - 2.5)      # and a fall after the peak
    assert capacitance_onset(v, c) == pytest.approx(1.5, abs=0.011)


def test_onset_refuses_a_flat_curve():
    with pytest.raises(ValueError, match="no capacitance rise"):
        capacitance_onset(np.linspace(0, 1, 50), np.ones(50))


def test_peak_and_fwhm_of_a_gaussian():
    wl = np.arange(400, 700, 0.5)
    y = np.exp(-4 * np.log(2) * ((wl - 523.3) / 31.0) ** 2)
    peak, fwhm = peak_and_fwhm(wl, y)
    assert peak == pytest.approx(523.3, abs=0.05)
    assert fwhm == pytest.approx(31.0, abs=0.05)
    assert band_fraction(wl, y, 400, 699.5) == pytest.approx(1.0, abs=1e-6)


def test_lifetimes_of_a_noisy_exponential_and_a_censored_level():
    rng = np.random.default_rng(1)
    t = np.linspace(0, 100, 6001)
    lum = 1000 * np.exp(-t / 100) * (1 + 1e-3 * rng.standard_normal(t.size))
    lt = lifetimes(t, lum)
    assert lt.from_l0[0.5] == pytest.approx(100 * np.log(2), rel=0.01)
    assert lt.from_l0[0.9] == pytest.approx(100 * np.log(1 / 0.9), rel=0.01)
    lt = lifetimes(t[:1000], lum[:1000])
    assert lt.from_l0[0.5] is None  # not reached: censored, never a number


def test_voltage_at_interpolates_in_log():
    v = np.array([1.0, 2.0])
    assert voltage_at(v, np.array([0.1, 10.0]), 1.0) == pytest.approx(1.5)
    assert voltage_at(v, np.array([0.1, 0.5]), 1.0) is None
