"""Every driver method against the virtual bench, through the same transports as hardware."""

import time

import numpy as np
import pytest

from agelab.instruments.drivers.e4980 import AgilentE4980A
from agelab.instruments.drivers.keithley import Keithley2400
from agelab.instruments.drivers.lockin import SR830, SR860
from agelab.instruments.drivers.photodetectors import (
    Keithley2400Photodetector,
    LockinAuxPhotodetector,
)
from agelab.instruments.drivers.serial_devices import LaserDriver, RelayBox, SerialCommandError
from agelab.instruments.drivers.spectrometer import VirtualSpectrometer
from agelab.instruments.sim.bench import VirtualBench
from agelab.instruments.sim.model.diode import current_density
from agelab.protocols.analysis.cv import capacitance_onset
from agelab.protocols.analysis.spectra import peak_and_fwhm
from tests.bench_helpers import VISA, pixel_under_the_laser

AREA = 0.04


@pytest.fixture
def bench():
    with VirtualBench("red-cdse", pixels=2, seed=4) as b:
        yield b


@pytest.fixture
def smu(bench):
    return Keithley2400(bench.resources["smu1"], **VISA)


def test_hardware_sweep_matches_the_model(bench, smu):
    volts = np.linspace(0.0, 3.6, 61)
    sweep = smu.sweep("voltage", volts, compliance=0.1)
    truth = current_density(volts, bench.pixel(0)._diode) * AREA
    assert np.allclose(sweep.voltage_v, volts, atol=1e-3)
    assert np.allclose(sweep.current_a, truth, rtol=2e-3, atol=1e-10)
    assert not sweep.compliance.any()
    assert smu.output_enabled is False
    assert smu.ask(":SYST:ERR?").startswith("0,")


def test_long_non_linear_sweep_in_list_chunks_and_a_full_buffer(smu):
    volts = np.concatenate([np.linspace(-1, 1.5, 100, endpoint=False), np.geomspace(1.5, 3.5, 150)])
    sweep = smu.sweep("voltage", volts, compliance=0.1)
    assert np.allclose(sweep.voltage_v, volts, atol=1e-3)
    full = smu.sweep("current", np.linspace(0, 4e-3, 2500), compliance=10)
    assert full.current_a.size == 2500 and full.current_a[-1] == pytest.approx(4e-3, rel=1e-3)


def test_sweep_reports_compliance(smu):
    sweep = smu.sweep("voltage", np.array([2.0, 3.0, 4.5]), compliance=0.005)
    assert sweep.compliance.tolist() == [False, False, True]
    assert sweep.current_a[-1] == pytest.approx(0.005, rel=1e-3)


def test_ramp_never_overshoots_and_output_off_ramps_down(bench, smu):
    site = bench.rig.sites[0]
    smu.configure_current_source(compliance_v=8)
    smu.ramp_current(4e-3, step_a=5e-4, dwell_s=0)
    v, i, in_compliance = smu.read_vi()
    assert i == pytest.approx(4e-3, rel=1e-3) and 2 < v < 4 and not in_compliance
    levels = [j for _, j, _ in site.drive_history]
    assert max(levels) == pytest.approx(100.0)          # 4 mA on 4 mm²: never more
    assert np.all(np.diff(levels) >= 0) and len(levels) >= 8
    site.drive_history.clear()
    smu.output_off(step_a=5e-4)
    down = [j for _, j, _ in site.drive_history]
    assert np.all(np.diff(down) <= 0) and len(down) >= 8 and down[-1] == 0.0
    assert smu.output_enabled is False


def test_e4980_cv_sweep_finds_the_models_onset(bench):
    relay = RelayBox(bench.resources["relay"])
    relay.route(1, "LCR")
    lcr = AgilentE4980A(bench.resources["lcr"], **VISA)
    cv = lcr.cv_sweep(np.arange(-0.5, 2.6, 0.01), 1e3, 0.05)  # 310 points: two lists
    assert cv.capacitance_f.size == 310
    onset = capacitance_onset(cv.bias_v, cv.capacitance_f)
    assert onset == pytest.approx(bench.pixel(0).truth().cv_onset_v, abs=0.03)
    assert lcr.bias_enabled is False and lcr.bias_voltage == 0.0


@pytest.mark.parametrize(("model", "driver"), [("sr830", SR830), ("sr860", SR860)])
def test_lockin_configure_and_settled_pl(model, driver):
    with VirtualBench("red-cdse", lockin=model, seed=5) as bench:
        _, laser = pixel_under_the_laser(bench)
        li = driver(bench.resources["lockin"], **VISA)
        li.configure(10e3, sensitivity_v=1e-3, time_constant_s=0.003, slope_db=12)
        dark_x, _ = li.read_settled()
        laser.enable(True)
        x, y = li.read_settled()
        laser.shutdown()
        assert li.settle_time_s() == pytest.approx(7 * 0.003)
        assert abs(dark_x) < 5e-6 and 2e-4 < x < 1e-3 and abs(y) < 0.05 * x
        aux = LockinAuxPhotodetector(li, aux_input=1, gain_v_per_a=1e4)
        assert aux.read_photocurrent() == pytest.approx(
            bench.pixel(0).photodiode_current(100.0), rel=0.02)


def test_spectrometer_dark_corrected_spectrum(bench, smu):
    smu.configure_current_source(compliance_v=8)
    smu.ramp_current(4e-3, step_a=1e-3, dwell_s=0)
    spec = VirtualSpectrometer(bench.resources["spectrometer"], **VISA)
    s = spec.spectrum(0.05, averages=4, dark=True)
    peak, fwhm = peak_and_fwhm(s.wavelength_nm, s.counts)
    assert peak == pytest.approx(626.0, abs=0.5) and fwhm == pytest.approx(30.0, abs=1.0)
    assert abs(np.median(s.counts[:200])) < 5  # dark subtracted: ~0 away from the band
    assert s.saturated is False and spec.identity().startswith("AGELAB,VSPEC")


def test_relay_and_laser_drivers(bench):
    relay = RelayBox(bench.resources["relay"])
    assert relay.identity().startswith("AGELAB,RELAYBOX") and relay.pixel_count == 2
    relay.route(2, "OPEN")
    assert relay.routed(2) == "OPEN"
    with pytest.raises(SerialCommandError, match="no pixel 5"):
        relay.route(5, "SMU")
    laser = LaserDriver(bench.resources["laser"])
    laser.aim(2)
    laser.set_power(2e-3)
    laser.enable(True)
    assert bench.rig.optics_site == 1 and bench.rig.laser.emitting_w == pytest.approx(2e-3)
    assert laser.interlock_closed is True
    laser.shutdown()
    assert bench.rig.laser.emitting_w == 0.0


def test_smu_photodetector_reads_the_light(bench, smu):
    pd = Keithley2400Photodetector(bench.resources["pd1"], **VISA)
    assert abs(pd.read_photocurrent()) < 1e-9
    smu.configure_current_source(compliance_v=8)
    smu.ramp_current(4e-3, step_a=1e-3, dwell_s=0)
    assert pd.read_photocurrent() == pytest.approx(bench.pixel(0).photodiode_current(100.0),
                                                   rel=0.01)


def test_a_sweep_leaves_the_instrument_ready_for_single_readings(smu):
    """Regression: the sweep left :TRIG:COUN 61, so every later :MEAS? took 61 readings."""
    smu.sweep("voltage", np.linspace(0, 3, 61), compliance=0.1)
    assert smu.ask(":TRIG:COUN?") == "1"
    assert smu.ask(":SYST:AZER?") == "1"
    smu.source_enabled = True
    assert len(smu.values(":READ?")) == 5  # one reading, five elements


def test_keithley2450_driver_on_its_simulator():
    from agelab.instruments.drivers.keithley import Keithley2450

    with VirtualBench("red-cdse", smu="keithley2450", seed=9) as bench:
        smu = Keithley2450(bench.resources["smu1"], **VISA)
        assert "MODEL 2450" in smu.identity()
        volts = np.linspace(0.0, 3.6, 61)
        sweep = smu.sweep("voltage", volts, compliance=0.1)
        truth = current_density(volts, bench.pixel(0)._diode) * AREA
        assert np.allclose(sweep.current_a, truth, rtol=2e-3, atol=1e-10)
        smu.configure_current_source(compliance_v=8)
        smu.ramp_current(4e-3, step_a=5e-4, dwell_s=0)
        _, i, compliance = smu.read_vi()
        assert i == pytest.approx(4e-3, rel=1e-3) and not compliance
        levels = [j for _, j, _ in bench.rig.sites[0].drive_history if j]
        assert max(levels) == pytest.approx(100.0) and len(levels) >= 8
        smu.output_off(step_a=5e-4)
        assert smu.output_enabled is False and bench.rig.sites[0].present_j() == 0.0


def test_a_sweep_rests_the_pixel_to_the_end_of_its_message():
    """The driver switches the output off in the sweep's own message; on an instrument that is
    microseconds after the last point. A busy bench once took 57 ms there, the pixel at the
    sweep's top point, which at 6000x aged a blue pixel by 1.27 h of its stress before its L0.
    Here the bench is made that slow on purpose (0.3 s before the :OUTP OFF is applied, at
    3600x: 0.3 device-h at 3.6 V); the pixel must not age meanwhile."""
    with VirtualBench("blue-znsete", pixels=1, speedup=3600.0, seed=2) as bench:
        smu = Keithley2400(bench.resources["smu1"], **VISA)
        site = bench.rig.sites[0]
        apply = site.set_drive

        def slow_off(**drive):
            if drive.get("volts") is None and not drive.get("j_ma_cm2"):
                time.sleep(0.3)
            apply(**drive)

        site.set_drive = slow_off
        dose = site.sync().dose
        smu.sweep("voltage", np.linspace(0.0, 3.6, 31), compliance=0.05)
        assert site.sync().dose == dose
        assert smu.output_enabled is False
        # A source left on after a sweep still ages the pixel: the rest ends with the message.
        site.set_drive = apply
        smu.write(":SOUR:FUNC VOLT;:SENS:CURR:PROT 0.05;:SOUR:VOLT 3.6;:OUTP ON")
        time.sleep(0.3)
        assert site.sync().dose > dose
        smu.output_off()
