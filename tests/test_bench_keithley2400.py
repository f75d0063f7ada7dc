"""Unmodified pymeasure Keithley2400 through pyvisa-py on the virtual bench's TCP resources."""

import struct

import numpy as np
import pytest
import serial
from pymeasure.instruments.keithley import Keithley2400

from agelab.instruments.sim.bench import VirtualBench
from agelab.instruments.sim.model.diode import current_density

AREA = 0.04


@pytest.fixture
def bench():
    with VirtualBench("red-cdse", pixels=2, speedup=1.0, seed=5) as b:
        yield b


@pytest.fixture
def smu(bench):
    inst = Keithley2400(bench.resources["smu1"], read_termination="\n", write_termination="\n",
                        timeout=5000)
    yield inst
    inst.adapter.close()


def test_sourced_current_reads_the_pixel(bench, smu):
    smu.source_mode = "current"
    smu.compliance_voltage = 10
    smu.source_current = 100e-3 * AREA  # 100 mA/cm²
    smu.source_enabled = True
    v = smu.voltage
    assert v == pytest.approx(bench.pixel(0).voltage(100.0), abs=2e-3)
    assert smu.current == pytest.approx(4e-3, rel=1e-3)
    smu.source_enabled = False
    assert smu.ask("*OPC?") == "1"  # a write returns once sent: synchronise, as with hardware
    assert bench.rig.sites[0].present_j() == 0.0


def test_list_sweep_into_the_buffer_matches_ground_truth(bench, smu):
    volts = np.round(np.linspace(0.0, 3.5, 36), 4)
    smu.write(":SOUR:FUNC VOLT;:SOUR:VOLT:MODE LIST;:SOUR:LIST:VOLT "
              + ",".join(f"{v:.4f}" for v in volts))
    smu.write(":SENS:CURR:PROT 0.1;:TRIG:COUN 36;:FORM:ELEM VOLT,CURR")
    smu.write(":TRAC:CLE;:TRAC:POIN 36;:TRAC:FEED SENS;:TRAC:FEED:CONT NEXT")
    smu.write(":OUTP ON;:INIT")
    data = np.array(smu.values(":TRAC:DATA?")).reshape(-1, 2)
    smu.write(":OUTP OFF")
    truth = current_density(volts, bench.pixel(0)._diode) * AREA
    assert np.allclose(data[:, 0], volts, atol=1e-3)
    assert np.allclose(data[:, 1], truth, rtol=2e-3, atol=1e-10)


@pytest.mark.parametrize("binary", [False, True])
def test_2500_point_buffered_sweep_ascii_and_binary(smu, binary):
    smu.write(":SOUR:FUNC CURR;:SOUR:CURR:MODE SWE;:SOUR:CURR:STAR 0;:SOUR:CURR:STOP 4e-3")
    smu.write(":SOUR:SWE:POIN 2500;:TRIG:COUN 2500;:SENS:VOLT:PROT 10;:FORM:ELEM VOLT,CURR")
    smu.write(":TRAC:CLE;:TRAC:POIN 2500;:TRAC:FEED:CONT NEXT;:OUTP ON;:INIT")
    assert smu.ask(":TRAC:POIN:ACT?") == "2500"
    if binary:
        smu.write(":FORM:DATA SREAL;:FORM:BORD SWAP")
        smu.write(":TRAC:DATA?")
        raw = smu.adapter.connection.read_bytes(2 + 2500 * 2 * 4 + 1)  # '#0', data, newline
        assert raw[:2] == b"#0" and raw[-1:] == b"\n"
        values = np.array(struct.unpack("<5000f", raw[2:-1])).reshape(-1, 2)
        smu.write(":FORM:DATA ASC")
    else:
        values = np.array(smu.values(":TRAC:DATA?")).reshape(-1, 2)
    smu.write(":OUTP OFF")
    assert values.shape == (2500, 2)
    assert values[-1, 1] == pytest.approx(4e-3, rel=1e-3)
    assert np.all(np.diff(values[:, 0]) > -1e-3)  # V rises with the swept current


def test_compliance_clamps_and_sets_status_bit(smu):
    smu.write(":SOUR:FUNC CURR;:SOUR:CURR 0.04;:SENS:VOLT:PROT 3;:FORM:ELEM VOLT,CURR,STAT")
    smu.write(":OUTP ON")
    v, i, status = smu.values(":READ?")
    smu.write(":OUTP OFF")
    assert v == pytest.approx(3.0, abs=1e-3)
    assert i < 0.04
    assert int(status) & 8


def test_relay_routing_changes_what_the_smu_sees(bench, smu):
    smu.write(":SOUR:FUNC CURR;:SOUR:CURR 4e-3;:SENS:VOLT:PROT 9;:FORM:ELEM VOLT,CURR,STAT")
    smu.write(":OUTP ON")
    v_routed = smu.values(":READ?")[0]
    with serial.Serial(bench.resources["relay"], 115200, timeout=2) as relay:
        relay.write(b"ROUTE 1 LCR\n")
        assert relay.readline() == b"OK\n"
        v_open, _, status = smu.values(":READ?")
        relay.write(b"ROUTE? 1\n")
        assert relay.readline() == b"LCR\n"
        relay.write(b"ROUTE 9 SMU\n")
        assert relay.readline().startswith(b"ERR no pixel")
        relay.write(b"ROUTE 1 SMU\n")
        assert relay.readline() == b"OK\n"
    smu.write(":OUTP OFF")
    assert 2 < v_routed < 4
    assert v_open == pytest.approx(9.0, abs=1e-3) and int(status) & 8
    assert bench.rig.lcr_site is None


def test_laser_driver_over_a_pty(bench):
    with serial.Serial(bench.resources["laser"], 9600, timeout=2) as laser:
        laser.write(b"*IDN?\n")
        assert laser.readline().startswith(b"AGELAB,LASER-445")
        laser.write(b"POW 2.5\r\nEN 1\n")
        assert laser.readline() == b"OK\n" and laser.readline() == b"OK\n"
        assert bench.rig.laser.emitting_w == pytest.approx(2.5e-3)
        laser.write(b"POW 500\n")
        assert laser.readline().startswith(b"ERR power out of range")
        laser.write(b"EN 0\n")
        assert laser.readline() == b"OK\n"
    assert bench.rig.laser.emitting_w == 0.0


def test_aging_continues_in_device_time_whoever_is_connected():
    with VirtualBench("red-cdse", speedup=36000) as bench:  # 10 device-hours per second
        inst = Keithley2400(bench.resources["smu1"], read_termination="\n",
                            write_termination="\n", timeout=5000)
        inst.write(":SOUR:FUNC CURR;:SOUR:CURR 4e-3;:SENS:VOLT:PROT 10;:OUTP ON")
        inst.adapter.close()  # the client goes away; the SMU keeps sourcing, as a real one does
        import time

        time.sleep(0.5)
        px = bench.pixel(0)
        assert px.t_h >= 5.0
        assert px.dose > 0.4  # ~5 h at 100 mA/cm² is half the elevation


def test_repeat_filter_divides_the_photodiode_noise(bench):
    """L0 is read through the meter's repeat filter: 100 integrations, a tenth of the scatter."""
    from agelab.instruments.drivers.photodetectors import Keithley2400Photodetector

    smu = Keithley2400(bench.resources["smu1"], read_termination="\n", write_termination="\n",
                       timeout=5000)
    pd = Keithley2400Photodetector(bench.resources["pd1"], read_termination="\n",
                                   write_termination="\n", timeout=5000)
    try:
        smu.write(f":SOUR:FUNC CURR;:SOUR:CURR {20e-3 * AREA:g};:SENS:VOLT:PROT 8;:OUTP ON")
        assert smu.ask("*OPC?") == "1"
        single = np.array([pd.read_photocurrent() for _ in range(60)])
        averaged = np.array([pd.read_photocurrent(average=100) for _ in range(60)])
        ratio = averaged.std() / single.std()
        assert 0.05 < ratio < 0.2, ratio
        assert averaged.mean() == pytest.approx(single.mean(), rel=1e-3)
        assert pd.ask(":SENS:AVER?") == "1"  # kept while the count is the same
        pd.read_photocurrent()
        assert pd.ask(":SENS:AVER?") == "0"  # a plain reading turns it off
    finally:
        smu.adapter.close()
        pd.adapter.close()


def test_output_on_before_its_compliance_is_recorded_as_a_violation(bench, smu):
    """The bench audits the invariant 'compliance set before output on' for the soak test."""
    smu.write(":SOUR:FUNC CURR;:SOUR:CURR 1e-4;:SENS:VOLT:PROT 8;:OUTP ON")
    assert smu.ask("*OPC?") == "1"
    assert bench.safety_violations() == {}
    smu.write("*RST")  # a reboot forgets the limit...
    smu.write(":SOUR:FUNC CURR;:SOUR:CURR 1e-4;:OUTP ON")  # ...and this turns on without one
    assert smu.ask("*OPC?") == "1"
    (found,) = bench.safety_violations()["smu1"]
    assert "before its compliance was set" in found


def test_an_abort_reaches_a_meter_armed_on_the_trigger_link_at_once(bench):
    """Regression (soak): a photodiode meter left armed by a J–V cut short held the instrument
    for the link's 10-s timeout, so every reconnect's :ABOR waited behind it and the next light
    readings timed out for seconds. A real 2400 takes :ABOR while it waits for triggers."""
    import threading
    import time

    def meter():
        return Keithley2400(bench.resources["pd1"], read_termination="\n",
                            write_termination="\n", timeout=5000)

    armed = meter()
    armed.write(":SOUR:FUNC VOLT;:SOUR:VOLT 0;:SENS:CURR:PROT 1e-3;:TRAC:POIN 5;"
                ":TRAC:FEED SENS;:TRAC:FEED:CONT NEXT;:TRIG:COUN 5;:TRIG:SOUR TLIN;:OUTP ON")
    assert armed.ask("*OPC?") == "1"
    waiting = threading.Thread(target=lambda: armed.write(":INIT"), daemon=True)
    waiting.start()
    time.sleep(0.2)  # the INIT now waits on the link for triggers that never come
    other = meter()  # the engine's reconnect
    start = time.perf_counter()
    other.write(":ABOR;:TRIG:SOUR IMM;:TRIG:COUN 1;:TRAC:FEED:CONT NEV")
    assert other.ask("*OPC?") == "1"
    assert time.perf_counter() - start < 1.0  # not the link's 10 s
    values = other.values(":READ?")
    assert len(values) == 5 and abs(values[1]) < 1e-9  # a point reading again (a dark pixel)
    assert other.ask(":SYST:ERR?").startswith("0,")  # an abort is no trigger deadlock
    other.adapter.close()
    armed.adapter.close()
