"""The pixel model's mechanics: diode solution, photometry, state, noise and bad input."""

import math

import numpy as np
import pytest

from agelab.instruments.sim.model.diode import DiodeParams, current_density, voltage
from agelab.instruments.sim.model.qled import Condition, QledPixel
from agelab.protocols.analysis.spectra import eqe_from_luminance
from agelab.protocols.reliability.model_card import WAVELENGTHS

P = DiodeParams.from_reference(ideality=3.45, v_ref=1.8, j_ref_a_cm2=1e-6, r_series_ohm_cm2=1.5,
                               r_shunt_ohm_cm2=1e7, thermal_voltage_v=0.025852)


def test_diode_is_solved_stably_at_every_bias():
    v = np.linspace(-30.0, 12.0, 4201)
    j = current_density(v, P)
    assert np.all(np.isfinite(j))
    assert np.all(np.diff(j) > 0), "J(V) must be strictly increasing"
    assert j[0] == pytest.approx(-30.0 / (1e7 + 1.5), rel=1e-6)  # reverse: the shunt alone


def test_diode_inverse_round_trips():
    j = np.concatenate([-np.logspace(-9, -6.5, 20), np.logspace(-9, 1, 60)])
    v = voltage(j, P)
    assert np.allclose(current_density(v, P), j, rtol=1e-7, atol=1e-15)


def test_diode_rejects_nonsense():
    with pytest.raises(ValueError, match="r_series_ohm_cm2"):
        DiodeParams(3.0, 1e-15, 0.0, 1e7, 0.0258)


def test_luminance_is_photometric_and_consistent_with_eqe():
    px = QledPixel("red-cdse")
    for j in (1.0, 10.0, 100.0):
        eqe = eqe_from_luminance(px.luminance(j), j, WAVELENGTHS, px.el_spectrum(j, WAVELENGTHS))
        assert eqe == pytest.approx(px.eqe(j), rel=2e-3)


def test_truth_splits_eqe_into_outcoupling_eta_x_and_plqy():
    px = QledPixel("red-cdse")
    px.advance(5.0, 100.0)
    t = px.truth(100.0)
    assert t.eqe == pytest.approx(t.outcoupling * t.eta_x * t.plqy)
    assert 0 < t.eta_x <= 1 and 0 < t.plqy <= 1
    assert t.hidden["injection_barrier_eV"] > 0


def test_charge_and_current_density_both_matter():
    """Same charge, different J: a different amount of aging (the red elevation is not ∝ charge)."""
    slow, fast = QledPixel("red-cdse"), QledPixel("red-cdse")
    slow.advance(10.0, 30.0)
    fast.advance(3.0, 100.0)
    assert slow.charge_c_cm2 == pytest.approx(fast.charge_c_cm2)
    assert fast.dose > 1.5 * slow.dose


def test_rest_recovers_the_turn_on_transient_but_not_the_aging():
    px = QledPixel("red-cdse")
    px.advance(0.5, 50.0)
    stressed_dose, stressed_tr = px.dose, px.transient
    px.rest(2.0)
    assert stressed_tr > 0.9 and px.transient < 0.01
    assert px.dose == stressed_dose


def test_same_seed_same_noise_different_seed_different_noise():
    def readings(seed):
        px = QledPixel("blue-znsete", seed=seed)
        out = []
        for _ in range(20):
            px.advance(0.1, 20.0)
            out.append((px.read_photodiode(20.0), px.read_voltage(20.0)))
        return out

    assert readings(7) == readings(7)
    assert readings(7) != readings(8)


def test_photodiode_noise_is_about_a_tenth_of_a_percent():
    px = QledPixel("blue-znsete", seed=3)
    true = px.photodiode_current(20.0)
    rel = np.array([px.read_photodiode(20.0) / true - 1 for _ in range(4000)])
    assert 0.0008 < rel.std() < 0.0012
    assert abs(rel.mean()) < 1e-4


def test_pl_appears_only_with_the_laser():
    px = QledPixel("red-cdse")
    assert px.pl_photon_rate(0.0) == 0.0
    assert px.photodiode_current(0.0, 1e-3) > px.photodiode_current(0.0, 0.0) == 0.0


def test_open_and_short_faults_change_what_the_pixel_does():
    px = QledPixel("red-cdse")
    v_ok = px.voltage(10.0)
    px.set_condition(Condition.SHORT)
    assert px.voltage(10.0) < 0.05  # only the series resistance is left
    px.set_condition(Condition.OPEN)
    assert px.voltage(10.0) > 1e3  # a current source into an open circuit runs to compliance
    px.set_condition("ok")
    assert px.voltage(10.0) == pytest.approx(v_ok)


def test_capacitance_sees_geometric_c_at_reverse_bias_and_frequency_roll_off():
    px = QledPixel("red-cdse")
    c_rev, _ = px.impedance(-1.0, 1e3)
    assert float(c_rev) == pytest.approx(31e-9 * 0.04, rel=0.01)
    c_lo, _ = px.impedance(1.6, 1e3)
    c_hi, _ = px.impedance(1.6, 1e6)
    assert float(c_lo) > float(c_hi) > float(c_rev)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"preset": "green-inp"}, "unknown QLED preset 'green-inp'"),
     ({"preset": "red-cdse", "area_cm2": -0.04}, "area must be > 0"),
     ({"preset": "red-cdse", "area_cm2": math.nan}, "area_cm2 must be a finite number"),
     ({"preset": "red-cdse", "temperature_k": 0}, "temperature must be > 0")],
)
def test_bad_construction_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QledPixel(**kwargs)


@pytest.mark.parametrize(
    ("call", "message"),
    [(lambda px: px.advance(1.0, math.nan), "current density must be a finite number"),
     (lambda px: px.advance(math.inf, 10.0), "time step must be a finite number"),
     (lambda px: px.advance(-1.0, 10.0), "time step must be >= 0"),
     (lambda px: px.voltage(float("nan")), "current density must be a finite number"),
     (lambda px: px.advance(1.0, "ten"), "current density must be a number"),
     (lambda px: px.impedance(1.0, -5.0), "frequency must be > 0")],
)
def test_bad_input_to_the_model_is_a_clear_error(call, message):
    px = QledPixel("red-cdse")
    with pytest.raises(ValueError, match=message):
        call(px)
    assert px.t_h == 0.0  # nothing advanced


@pytest.mark.parametrize("preset", ["red-cdse", "blue-znsete"])
def test_stress_far_past_the_end_of_life_stays_physical(preset):
    """Regression: 1000 h at 200 mA/cm² once drove the blue shunt resistance negative."""
    px = QledPixel(preset)
    for _ in range(100):
        px.advance(10.0, 200.0)
    t = px.truth(200.0)
    assert np.isfinite([px.voltage(200.0), px.luminance(200.0), t.eqe, t.ideality]).all()
    assert t.r_shunt_ohm_cm2 > 0 and t.ideality > 1 and px.luminance(200.0) >= 0
    assert sum(px.el_weights().values()) == pytest.approx(1.0)
