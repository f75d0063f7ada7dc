"""The shared instruments: unmodified pymeasure drivers through pyvisa-py on the bench."""

import time

import numpy as np
import pytest
import serial
from pymeasure.instruments.agilent import AgilentE4980
from pymeasure.instruments.srs import SR830, SR860

from agelab.instruments.sim.bench import VirtualBench
from agelab.instruments.sim.devices.spectrometer import WAVELENGTH_NM
from agelab.protocols.analysis.cv import capacitance_onset
from agelab.protocols.analysis.spectra import peak_and_fwhm
from tests.bench_helpers import VISA, open_smu, stress


@pytest.fixture
def bench():
    with VirtualBench("red-cdse", pixels=2, seed=11) as b:
        yield b


def route(bench, pixel: int, where: str) -> None:
    with serial.Serial(bench.resources["relay"], 115200, timeout=2) as relay:
        relay.write(f"ROUTE {pixel} {where}\n".encode())
        assert relay.readline() == b"OK\n"


def laser(bench, *commands: str) -> None:
    with serial.Serial(bench.resources["laser"], 115200, timeout=2) as port:
        for command in commands:
            port.write(command.encode() + b"\n")
            assert port.readline() == b"OK\n", command


# ------------------------------------------------------------------ E4980A
def test_routing_decides_what_the_lcr_sees(bench):
    lcr = AgilentE4980(bench.resources["lcr"], **VISA)
    lcr.mode = "CPG"
    c_open, _ = lcr.impedance
    route(bench, 1, "LCR")
    c_pixel, g_pixel = lcr.impedance
    truth_c, truth_g = bench.pixel(0).impedance(0.0, 1000.0)
    assert c_open < 1e-12
    assert c_pixel == pytest.approx(float(truth_c), rel=3e-3)
    assert g_pixel == pytest.approx(float(truth_g), rel=3e-3)
    smu = open_smu(bench.resources["smu1"])
    stress(smu, 4e-3, compliance_v=7.0)
    v_at_lcr = smu.values(":READ?")[0]  # routed away from its SMU: open circuit, compliance
    assert v_at_lcr == pytest.approx(7.0, abs=1e-3)


def test_dc_bias_list_sweep_gives_the_models_cv_onset(bench):
    route(bench, 1, "LCR")
    lcr = AgilentE4980(bench.resources["lcr"], **VISA)
    bias = np.round(np.arange(-0.5, 2.6, 0.02), 3)
    lcr.write(":FUNC:IMP CPG;:FREQ 1000;:VOLT 0.05;:BIAS:STAT ON")
    lcr.write(":DISP:PAGE LIST;:LIST:MODE SEQ;:LIST:BIAS:VOLT " + ",".join(f"{v:g}" for v in bias))
    lcr.write(":TRIG:SOUR BUS;:TRIG")
    data = np.array(lcr.values(":FETC?")).reshape(-1, 4)
    assert data.shape == (bias.size, 4)
    onset = capacitance_onset(bias, data[:, 0])
    assert onset == pytest.approx(bench.pixel(0).truth().cv_onset_v, abs=0.03)


# ------------------------------------------------------------------ lock-ins
@pytest.mark.parametrize(("model", "driver"), [("sr830", SR830), ("sr860", SR860)])
def test_pl_appears_at_the_reference_only_with_the_laser_and_settles(model, driver):
    with VirtualBench("red-cdse", lockin=model, seed=3) as bench:
        smu = open_smu(bench.resources["smu1"])
        stress(smu, 4e-3)  # DC EL at 100 mA/cm²: must be rejected
        li = driver(bench.resources["lockin"], **VISA)
        li.sensitivity = 0.001
        li.time_constant = 0.01
        li.filter_slope = 12 if model == "sr830" else 1
        dark = li.magnitude
        laser(bench, "POW 1", "EN 1")
        early = li.magnitude
        time.sleep(0.3)  # 30 time constants
        settled = li.magnitude
        x, y = li.snap("X", "Y") if model == "sr860" else li.snap()
        aux = li.aux_in_1
        laser(bench, "EN 0")
    assert dark < 2e-6                  # DC EL gives nothing at the reference frequency
    assert settled > 2e-4               # the PL, ~0.5 mV rms
    assert early < 0.7 * settled        # read right after switching: still settling
    assert abs(y) < 0.02 * abs(x)       # phased near zero (detector bandwidth 1 MHz)
    assert 0.5 < aux < 1.1              # AUX IN 1: the pixel's photodiode through a 10 kΩ TIA


def test_sensitivity_overload_clamps_and_latches():
    with VirtualBench("red-cdse", lockin="sr830") as bench:
        li = SR830(bench.resources["lockin"], **VISA)
        laser(bench, "POW 1", "EN 1")
        li.time_constant = 0.001
        time.sleep(0.05)
        li.sensitivity = 1e-6
        x = li.x
        assert x == pytest.approx(1.09e-6)
        assert int(li.ask("LIAS?")) & 4
        li.sensitivity = 0.01  # a scale that fits: the latch, cleared by reading, stays clear
        time.sleep(0.01)
        assert li.x < 0.01 and li.ask("LIAS?") == "0"


# ------------------------------------------------------------------ spectrometer & photodiode
@pytest.mark.parametrize("binary", [False, True])
def test_spectrometer_counts_follow_the_el(bench, binary):
    smu = open_smu(bench.resources["smu1"])
    stress(smu, 4e-3)
    spec = open_smu(bench.resources["spectrometer"])  # any SCPI client will do
    spec.write(":SENS:INT 0.05;:SENS:AVER:COUN 4")
    if binary:
        spec.write(":FORM REAL")
        counts = np.array(spec.adapter.connection.query_binary_values(
            ":READ?", datatype="f", is_big_endian=False))
        spec.write(":FORM ASC")
    else:
        counts = np.array(spec.values(":READ?"))
    spec.write(":SHUT ON")
    dark = np.array(spec.values(":READ?"))
    assert counts.size == dark.size == 2048
    assert spec.ask(":STAT:SAT?") == "0"
    peak, fwhm = peak_and_fwhm(WAVELENGTH_NM, counts - dark.mean())
    truth_peak, truth_fwhm = peak_and_fwhm(WAVELENGTH_NM,
                                           bench.pixel(0).el_spectrum(100.0, WAVELENGTH_NM))
    assert peak == pytest.approx(truth_peak, abs=0.5)
    assert fwhm == pytest.approx(truth_fwhm, abs=1.0)
    assert 900 < dark.mean() < 1100


def test_spectrometer_saturates(bench):
    smu = open_smu(bench.resources["smu1"])
    stress(smu, 4e-3)
    spec = open_smu(bench.resources["spectrometer"])
    spec.write(":SENS:INT 5")
    counts = np.array(spec.values(":READ?"))
    assert counts.max() == 65535 and spec.ask(":STAT:SAT?") == "1"


def test_photodiode_meter_reads_the_pixels_light(bench):
    smu, pd = open_smu(bench.resources["smu1"]), open_smu(bench.resources["pd1"])
    pd.write(":SOUR:FUNC VOLT;:SOUR:VOLT 0;:SENS:CURR:PROT 1e-3;:FORM:ELEM CURR;:OUTP ON")
    dark = pd.values(":READ?")[0]
    stress(smu, 4e-3)
    lit = pd.values(":READ?")[0]
    assert abs(dark) < 1e-9
    assert -lit == pytest.approx(bench.pixel(0).photodiode_current(100.0), rel=0.01)
