"""The bench as its own process, and realistic timing."""

import signal
import subprocess
import sys
import time

import pytest
import yaml
from pymeasure.instruments.keithley import Keithley2400

from agelab.instruments.sim.bench import VirtualBench


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_agelab_sim_prints_a_station_and_stops_cleanly(sig):
    proc = subprocess.Popen([sys.executable, "-m", "agelab.protocols.cli", "sim", "--pixels", "2",
                             "--timing", "fast"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        lines = []
        while not lines or lines[-1] not in ("# ready\n", ""):
            lines.append(proc.stdout.readline())
        station = yaml.safe_load("".join(lines))["station"]["instruments"]
        assert set(station) == {"smu1", "pd1", "smu2", "pd2", "lcr", "lockin", "spectrometer",
                                "relay", "laser"}
        assert station["smu1"]["resource"].startswith("TCPIP::127.0.0.1::")
        smu = Keithley2400(station["smu2"]["resource"], read_termination="\n",
                           write_termination="\n", timeout=5000)
        assert "MODEL 2400" in smu.id
        smu.adapter.close()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "virtual bench stopped" in out
    assert "Traceback" not in err


def test_61_point_sweep_at_nplc_1_takes_what_the_timing_model_says():
    with VirtualBench("blue-znsete", timing="realistic") as bench:
        smu = Keithley2400(bench.resources["smu1"], read_termination="\n",
                           write_termination="\n", timeout=20000)
        smu.write(":SOUR:FUNC VOLT;:SOUR:VOLT:MODE SWE;:SOUR:VOLT:STAR 0;:SOUR:VOLT:STOP 3")
        smu.write(":SOUR:SWE:POIN 61;:TRIG:COUN 61;:SENS:CURR:PROT 0.1;:SENS:CURR:NPLC 1")
        smu.write(":SOUR:DEL 0.001;:FORM:ELEM VOLT,CURR;:OUTP ON")
        assert smu.ask("*OPC?") == "1"
        start = time.perf_counter()
        values = smu.values(":READ?")
        elapsed = time.perf_counter() - start
        smu.write(":OUTP OFF")
        smu.adapter.close()
    expected = bench.rig.timing.smu_sequence_s(61, nplc=1.0, source_delay_s=0.001)
    assert len(values) == 122
    assert elapsed == pytest.approx(expected, rel=0.10), (elapsed, expected)


def test_serial_line_takes_its_baud_rate_in_realistic_timing():
    import serial

    with VirtualBench(timing="realistic") as bench, serial.Serial(
            bench.resources["relay"], 9600, timeout=3) as relay:
        start = time.perf_counter()
        for _ in range(5):
            relay.write(b"*IDN?\n")
            reply = relay.readline()
        elapsed = time.perf_counter() - start
    expected = 5 * 10 * (len(b"*IDN?\n") + len(reply)) / 9600
    assert elapsed == pytest.approx(expected, rel=0.25), (elapsed, expected)


def test_an_averaged_light_reading_outlasts_a_short_visa_timeout_in_realistic_timing():
    """Regression: L0 integrates through the repeat filter (20 readings here: 20 x 3 x 20 ms =
    1.2 s at 1 PLC with autozero), which a 300-ms VISA timeout cut short, so every realistic
    run failed its first sample."""
    from agelab.instruments.drivers.photodetectors import Keithley2400Photodetector

    with VirtualBench("blue-znsete", timing="realistic") as bench:
        pd = Keithley2400Photodetector(bench.resources["pd1"], read_termination="\n",
                                       write_termination="\n", timeout=300)
        start = time.perf_counter()
        assert pd.read_photocurrent(average=20) == pytest.approx(0.0, abs=1e-9)  # dark pixel
        elapsed = time.perf_counter() - start
        assert pd.adapter.connection.timeout == 300  # the long timeout was for that read only
        pd.adapter.close()
    assert elapsed > 1.0
