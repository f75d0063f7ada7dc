"""Each figure of DESIGN.md's virtual-QLED table, measured from the model's observables."""

import pytest

from agelab.protocols.reliability.model_card import blue_card, red_card

RED = {f.quantity: f for f in red_card(seed=1)}
BLUE = {f.quantity: f for f in blue_card(seed=1)}


@pytest.mark.parametrize("quantity", list(RED))
def test_red_preset_reproduces(quantity):
    fig = RED[quantity]
    assert fig.ok, f"{quantity}: measured {fig.measured} {fig.unit}, paper {fig.paper}"


@pytest.mark.parametrize("quantity", list(BLUE))
def test_blue_preset_reproduces(quantity):
    fig = BLUE[quantity]
    assert fig.ok, f"{quantity}: measured {fig.measured} {fig.unit}, paper {fig.paper}"


def test_cards_cover_the_design_table():
    red_needed = ["EL peak, pristine", "EL FWHM, pristine", "EL peak, after elevation",
                  "EL FWHM, after elevation", "T95 from Lmax at 50 mA/cm2",
                  "minimum ideality, pristine", "minimum ideality, after elevation",
                  "C-V onset, pristine", "C-V onset, after elevation",
                  "PL at the end of the elevation (lock-in)", "peak EQE after elevation"]
    red_needed += [f"elevation duration (t_peak) at {j} mA/cm2" for j in (10, 30, 50, 100)]
    blue_needed = ["EL peak, pristine", "EL FWHM, pristine", "peak EQE", "maximum luminance",
                   "T50 at L0 = 1000 cd/m2", "acceleration exponent n (L0^n * T50 = const)",
                   "PL at T50 (lock-in)", "O_vac:O_latt at T50 (ground truth)"]
    assert set(red_needed) <= set(RED)
    assert set(blue_needed) <= set(BLUE)


def test_blue_t50_at_1000_within_two_percent():
    fig = BLUE["T50 at L0 = 1000 cd/m2"]
    expected = 16683.0 * (100 / 1000) ** 1.8
    assert fig.measured == pytest.approx(expected, rel=0.02)
