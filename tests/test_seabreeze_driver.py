"""The seabreeze spectrometer driver against a stand-in for python-seabreeze's Spectrometer API
(USB hardware cannot be reached here; seabreeze itself is an optional extra)."""

import sys
import types

import numpy as np
import pytest

from agelab.instruments.drivers.spectrometer import SeabreezeSpectrometer


class FakeSeabreezeSpectrometer:
    """The part of seabreeze.spectrometers.Spectrometer the driver uses."""

    model, serial_number, max_intensity = "QE-PRO", "QEP01234", 200000.0

    def __init__(self, peak=150000.0):
        self.peak, self.micros, self.dark_flags, self.closed = peak, None, [], False

    @classmethod
    def from_first_available(cls):
        return cls()

    @classmethod
    def from_serial_number(cls, serial):
        inst = cls()
        inst.serial_number = serial
        return inst

    def integration_time_micros(self, micros):
        self.micros = micros

    def wavelengths(self):
        return np.linspace(400, 700, 301)

    def intensities(self, correct_dark_counts=False):
        self.dark_flags.append(correct_dark_counts)
        wl = self.wavelengths()
        return self.peak * np.exp(-0.5 * ((wl - 626) / 12.7) ** 2)

    def close(self):
        self.closed = True


@pytest.fixture
def fake_seabreeze(monkeypatch):
    package = types.ModuleType("seabreeze")
    module = types.ModuleType("seabreeze.spectrometers")
    module.Spectrometer = FakeSeabreezeSpectrometer
    monkeypatch.setitem(sys.modules, "seabreeze", package)
    monkeypatch.setitem(sys.modules, "seabreeze.spectrometers", module)


def test_seabreeze_spectrum_averages_and_dark_corrects(fake_seabreeze):
    spec = SeabreezeSpectrometer("QEP01234")
    assert spec.identity() == "Ocean Insight,QE-PRO,QEP01234"
    s = spec.spectrum(0.25, averages=3, dark=True)
    assert spec.device.micros == 250000 and spec.device.dark_flags == [True] * 3
    assert s.counts.max() == pytest.approx(150000.0, rel=1e-3) and not s.saturated
    spec.device.peak = 250000.0
    assert spec.spectrum(0.25).saturated
    spec.shutdown()
    assert spec.device.closed


def test_seabreeze_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "seabreeze", None)
    monkeypatch.setitem(sys.modules, "seabreeze.spectrometers", None)
    with pytest.raises(RuntimeError, match=r"pip install 'agelab\[seabreeze\]'"):
        SeabreezeSpectrometer()
