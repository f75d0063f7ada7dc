"""The acceleration fit with right-censored channels (T > t_end), on synthetic lifetimes whose
truth is known: it is the least-squares fit when nothing is censored, and over many draws its
interval holds the true n about 95 % of the time, where dropping the censored channels biases n
low and its interval misses. The fleet test (tests/test_fleet.py) does the same on virtual runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agelab.protocols.analysis.acceleration import AccelerationPoint, fit_acceleration
from agelab.protocols.analysis.censored import FitError, LifetimePoint, fit_censored

N_TRUE = 1.8
CURRENTS = (10, 14, 20, 28, 40, 56)


def t90_h(j: float) -> tuple[float, float]:
    """The blue preset's T90 (h) and L0 (cd/m²) at J (mA/cm²), at the bench's 25 °C."""
    l0 = 82.7 * j
    return 16683 * (100 / l0) ** N_TRUE * 0.0948 / 0.897, l0


def draw(rng: np.random.Generator, per_current: int, sigma: float, t_max: float
         ) -> list[LifetimePoint]:
    points = []
    for j in CURRENTS:
        t, l0 = t90_h(j)
        for k in range(per_current):
            life = t * math.exp(sigma * rng.standard_normal())
            points.append(LifetimePoint(f"J{j}-{k}", l0, min(life, t_max), life <= t_max))
    return points


def test_with_nothing_censored_it_is_the_least_squares_fit():
    rng = np.random.default_rng(5)
    points = draw(rng, 3, 0.3, 1e9)
    assert all(p.reached for p in points)
    ours = fit_censored("T90", points)
    ols = fit_acceleration("T90", [AccelerationPoint(p.channel, p.l0_cd_m2, p.t_h)
                                   for p in points])
    assert ours.n == pytest.approx(ols.n, abs=1e-5)
    assert ours.n_ci == pytest.approx(ols.n_ci, abs=2e-3)
    assert ours.t_at(100) == pytest.approx(ols.t_at(100), rel=1e-4)
    assert ours.t_ci_at(100) == pytest.approx(ols.t_ci_at(100), rel=5e-3)


def test_counting_the_censored_recovers_n_where_dropping_them_does_not():
    """72 channels a draw (a few runs' worth), 12 at each current, σ = 0.5 in ln T, stopped at
    12 h: the low currents are mostly censored."""
    rng = np.random.default_rng(2026)
    kept, dropped = [], []
    for _ in range(200):
        points = draw(rng, 12, 0.5, 12.0)
        kept.append(fit_censored("T90", points))
        dropped.append(fit_censored("T90", [p for p in points if p.reached]))
    covered = np.mean([f.n_ci[0] <= N_TRUE <= f.n_ci[1] for f in kept])
    covered_dropped = np.mean([f.n_ci[0] <= N_TRUE <= f.n_ci[1] for f in dropped])
    bias = np.mean([f.n for f in kept]) - N_TRUE
    bias_dropped = np.mean([f.n for f in dropped]) - N_TRUE
    print(f"censored counted: coverage {covered:.2f}, bias {bias:+.3f}; "
          f"dropped: coverage {covered_dropped:.2f}, bias {bias_dropped:+.3f}")
    assert covered >= 0.90 and abs(bias) < 0.05
    assert covered_dropped <= 0.5 and bias_dropped < -0.25
    assert np.mean([f.censored for f in kept]) > 15


def test_too_few_channels_say_what_is_missing():
    points = [LifetimePoint("a", 1000, 10, True), LifetimePoint("b", 2000, 3, False),
              LifetimePoint("c", 500, 30, False)]
    with pytest.raises(FitError, match="1 of 3 did"):
        fit_censored("T50", points)
