"""Placing a reading on the host's clock from its round trip and the instrument's own stamp."""

import random

import pytest

from agelab.instruments.drivers.photodetectors import Keithley2400Photodetector
from agelab.instruments.drivers.timestamps import ReadingClock, last_digit
from agelab.instruments.sim.bench import VirtualBench
from tests.bench_helpers import VISA

OFFSET = 1000.0  # host time - instrument time


def _reading(clock, taken, before, after, kind=1, resolution=0.0):
    """A reading taken at host time ``taken``, its query sent ``before`` s earlier and its reply
    received ``after`` s later."""
    return clock.locate(kind, taken - before, taken + after, taken - OFFSET, resolution)


def test_one_narrow_round_trip_places_every_later_reading():
    clock = ReadingClock()
    nothing_to_narrow_by = _reading(clock, 5.0, 2e-3, 1e-3)
    assert nothing_to_narrow_by == pytest.approx((5.0 - 2e-3, 5.0 + 1e-3), abs=1e-9)
    _reading(clock, 5.1, 5e-6, 5e-6)
    start, end = _reading(clock, 5.2, 3e-3, 1e-4)  # a slow query, its reply quick
    assert start <= 5.2 <= end and end - start <= 1e-5 + 1e-9
    # the middle of its own window was 1.45 ms early; the located one is within 5 us
    assert abs((start + end) / 2 - 5.2) < 5e-6


def test_random_round_trips_converge_on_the_moment_of_each_reading():
    rng = random.Random(3)
    clock, errors = ReadingClock(), []
    for k in range(200):
        taken = 10.0 + 0.01 * k
        start, end = _reading(clock, taken, rng.uniform(0, 2e-3), rng.uniform(0, 2e-3))
        assert start <= taken <= end
        errors.append(abs((start + end) / 2 - taken))
    assert max(errors[20:]) < 1e-4 < max(errors[:20])


def test_a_reset_clock_drops_the_older_bounds_and_never_leaves_the_window():
    clock = ReadingClock()
    for k in range(5):
        _reading(clock, 1.0 + k, 1e-5, 1e-5)
    # the instrument rebooted: its clock starts again from 0
    start, end = clock.locate(1, 9.0 - 1e-3, 9.0 + 1e-3, 0.002, 0.0)
    assert (start, end) == pytest.approx((9.0 - 1e-3, 9.0 + 1e-3), abs=1e-9)
    again = clock.locate(1, 9.5 - 1e-3, 9.5 + 1e-3, 0.502, 0.0)
    assert again[0] <= 9.5 <= again[1] and again[1] - again[0] <= 2e-3


def test_bounds_expire_and_kinds_are_kept_apart():
    clock = ReadingClock(horizon_s=60.0)
    _reading(clock, 0.0, 1e-6, 1e-6)
    assert _reading(clock, 100.0, 1e-3, 1e-3) == pytest.approx((100.0 - 1e-3, 100.0 + 1e-3),
                                                            abs=1e-9)  # expired
    _reading(clock, 101.0, 1e-6, 1e-6, kind=20)
    assert _reading(clock, 101.5, 1e-3, 1e-3, kind=1)[1] - 101.5 > 9e-4  # another kind's bound


def test_a_coarse_stamp_narrows_no_more_than_its_resolution():
    clock = ReadingClock()
    _reading(clock, 2.0, 1e-6, 1e-6, resolution=1e-3)
    start, end = _reading(clock, 3.0, 5e-3, 5e-3, resolution=1e-3)
    assert start <= 3.0 <= end and end - start == pytest.approx(2e-3 + 2e-6)


def test_last_digit_is_the_resolution_and_garbage_is_refused():
    assert last_digit("+1.234567E+02") == pytest.approx(1e-4)
    assert last_digit(" 12.5") == pytest.approx(0.1)
    for bad in ("nan", "+INF", "#1E3", ""):
        with pytest.raises(ValueError):
            last_digit(bad)


def test_the_photodiode_meter_places_its_readings_on_the_bench():
    """Over a real socket: the located window of each reading holds the moment the virtual meter
    took it, and after a few readings it is narrower than the reading's own round trip."""
    with VirtualBench("blue-znsete", pixels=1, seed=2) as bench:
        pd = Keithley2400Photodetector(bench.resources["pd1"], **VISA)
        meter = bench.devices["pd1"]
        widths = []
        for _ in range(30):
            pd.read_photocurrent(average=20)
            start, end = pd.last_read_window
            taken = meter._t_on + meter.last[-1][3]
            assert start - 1e-6 <= taken <= end + 1e-6
            widths.append(end - start)
        assert max(widths[15:]) < min(widths[:2])
