"""Transcript tests: the exact bytes each command we added sends and expects (no device)."""

import struct

import numpy as np
import pytest
from pymeasure.test import expected_protocol
from pyvisa.util import to_ieee_block

from agelab.instruments.drivers.e4980 import AgilentE4980A
from agelab.instruments.drivers.keithley import (
    POINT_MODE,
    Keithley2400,
    equivalent_step,
    ramp_levels,
)
from agelab.instruments.drivers.lockin import SR830, SR860
from agelab.instruments.drivers.photodetectors import Keithley2400Photodetector
from agelab.instruments.drivers.serial_devices import LaserDriver, RelayBox, SerialCommandError
from agelab.instruments.drivers.spectrometer import VirtualSpectrometer

K_INIT = (":FORMAT:ELEMENTS VOLTAGE, CURRENT, RESISTANCE, TIME, STATUS", None)
K_CONN = {"timeout": 5000}
# Configuring a source is one program message, and so is reading the source state: each message
# costs the instrument a parse, and both run around every J–V checkpoint.
CURRENT_SOURCE_8V = (f"{POINT_MODE};:SOUR:FUNC CURR;:SENS:VOLT:PROT 8;:SENS:VOLT:NPLC 1;"
                     ":SOUR:CURR:RANG:AUTO 1", None)
STATE_QUERY = ":OUTP?;:SOUR:FUNC?;:SOUR:CURR?;:SOUR:VOLT?"


@pytest.mark.parametrize(("prop", "value", "sent"), [
    ("source_voltage_mode", "list", ":SOUR:VOLT:MODE LIST"),
    ("source_current_mode", "sweep", ":SOUR:CURR:MODE SWE"),
    ("source_voltage_list", [0, 0.5, 1], ":SOUR:LIST:VOLT 0,0.5,1"),
    ("source_current_list", [1e-3, 2e-3], ":SOUR:LIST:CURR 0.001,0.002"),
    ("source_voltage_start", -1.0, ":SOUR:VOLT:STAR -1"),
    ("source_voltage_stop", 3.5, ":SOUR:VOLT:STOP 3.5"),
    ("source_current_start", 0.0, ":SOUR:CURR:STAR 0"),
    ("source_current_stop", 0.004, ":SOUR:CURR:STOP 0.004"),
    ("sweep_points", 61, ":SOUR:SWE:POIN 61"),
    ("data_elements", "VOLT,CURR,STAT", ":FORM:ELEM VOLT,CURR,STAT"),
    ("data_format", "binary", ":FORM:DATA SRE"),
    ("byte_order", "swapped", ":FORM:BORD SWAP"),
    ("buffer_feed_control", "next", ":TRAC:FEED:CONT NEXT"),
])
def test_keithley2400_added_controls(prop, value, sent):
    with expected_protocol(Keithley2400, [K_INIT, (sent, None)],
                           connection_attributes=K_CONN) as inst:
        setattr(inst, prop, value)


def test_keithley2400_added_queries():
    with expected_protocol(Keithley2400, [
            K_INIT, (":SOUR:VOLT:MODE?", "LIST"), (":SOUR:LIST:VOLT?", "0,0.5,1"),
            (":FORM:DATA?", "SRE"), (":TRAC:POIN:ACT?", "61")],
            connection_attributes=K_CONN) as inst:
        assert inst.source_voltage_mode == "list"
        assert inst.source_voltage_list == [0, 0.5, 1]
        assert inst.data_format == "binary"
        assert inst.buffer_points_stored == 61


def _sweep_block(rows):
    return b"#0" + struct.pack(f"<{len(rows) * 3}f", *[x for r in rows for x in r]) + b"\n"


# The elements named in the block read itself: a reconnect between set-up and read resets them.
BLOCK_READ = ":FORM:ELEM VOLT,CURR,STAT;:FORM:DATA SREAL;:FORM:BORD SWAP;:TRAC:DATA?"


def test_keithley2400_linear_sweep_protocol():
    rows = [(0.0, 1e-9, 0), (1.5, 2e-6, 0), (3.0, 0.05, 8)]
    with expected_protocol(Keithley2400, [
            K_INIT,
            (":OUTP OFF;:SOUR:FUNC VOLT;:SENS:CURR:PROT 0.1;:SENS:CURR:NPLC 1;:SOUR:DEL 0;"
             ":FORM:ELEM VOLT,CURR,STAT;:TRAC:CLE;:TRAC:POIN 3;:TRAC:FEED SENS;"
             ":TRAC:FEED:CONT NEXT;:SOUR:VOLT:MODE SWE;:SOUR:VOLT:STAR 0;:SOUR:VOLT:STOP 3;"
             ":SOUR:SWE:POIN 3;:TRIG:COUN 3;:SYST:AZER ONCE;:OUTP ON;:INIT;:OUTP OFF;*OPC?", "1"),
            (BLOCK_READ, _sweep_block(rows)),
            (BLOCK_READ, _sweep_block(rows)),  # must agree
            (":FORM:DATA ASC;:OUTP OFF;:SOUR:VOLT:MODE FIX;:SOUR:VOLT 0;:TRAC:FEED:CONT NEV;"
             ":TRIG:COUN 1;:SYST:AZER ON;:FORM:ELEM VOLT,CURR,RES,TIME,STAT", None)],
            connection_attributes=K_CONN) as inst:
        sweep = inst.sweep("voltage", np.array([0.0, 1.5, 3.0]), compliance=0.1)
    assert sweep.voltage_v.tolist() == [0.0, 1.5, 3.0]
    assert sweep.current_a[2] == pytest.approx(0.05)
    assert sweep.compliance.tolist() == [False, False, True]


def test_keithley2400_non_linear_sweep_uses_lists():
    rows = [(0.0, 0.0, 0), (0.1, 0.0, 0), (0.5, 1e-6, 0)]
    with expected_protocol(Keithley2400, [
            K_INIT,
            (":OUTP OFF;:SOUR:FUNC CURR;:SENS:VOLT:PROT 8;:SENS:VOLT:NPLC 0.1;:SOUR:DEL 0.001;"
             ":FORM:ELEM VOLT,CURR,STAT;:TRAC:CLE;:TRAC:POIN 3;:TRAC:FEED SENS;"
             ":TRAC:FEED:CONT NEXT;:SOUR:CURR:MODE LIST;:SOUR:LIST:CURR 0,1e-05,0.001;"
             ":TRIG:COUN 3;:SYST:AZER ONCE;:OUTP ON;:INIT;:OUTP OFF;*OPC?", "1"),
            (BLOCK_READ, _sweep_block(rows)),
            (BLOCK_READ, _sweep_block(rows)),  # must agree
            (":FORM:DATA ASC;:OUTP OFF;:SOUR:CURR:MODE FIX;:SOUR:CURR 0;:TRAC:FEED:CONT NEV;"
             ":TRIG:COUN 1;:SYST:AZER ON;:FORM:ELEM VOLT,CURR,RES,TIME,STAT", None)],
            connection_attributes=K_CONN) as inst:
        sweep = inst.sweep("current", np.array([0.0, 1e-5, 1e-3]), compliance=8, nplc=0.1,
                           delay_s=0.001)
    assert sweep.voltage_v.tolist() == pytest.approx([0.0, 0.1, 0.5])


def test_keithley2400_ramp_sets_compliance_before_output_on_and_never_overshoots():
    with expected_protocol(Keithley2400, [
            K_INIT, CURRENT_SOURCE_8V, (STATE_QUERY, "0;CURR;0;0"), (":SOUR:CURR 0;:OUTP ON", None),
            (":SOUR:CURR 0.000833333", None), (":SOUR:CURR 0.00166667", None),
            (":SOUR:CURR 0.0025", None), ("*OPC?", "1")],
            connection_attributes=K_CONN) as inst:
        inst.configure_current_source(compliance_v=8)
        inst.ramp_current(2.5e-3, step_a=1e-3, dwell_s=0)


def test_keithley2400_voltage_source_sets_compliance_first_and_ramps_down_in_steps():
    with expected_protocol(Keithley2400, [
            K_INIT, (f"{POINT_MODE};:SOUR:FUNC VOLT;:SENS:CURR:PROT 0.01;:SENS:CURR:NPLC 1;"
                     ":SOUR:VOLT:RANG:AUTO 1", None),
            (STATE_QUERY, "0;VOLT;0;0"), (":SOUR:VOLT 0;:OUTP ON", None),
            (":SOUR:VOLT 1", None), (":SOUR:VOLT 2", None), ("*OPC?", "1"),
            (STATE_QUERY, "1;VOLT;0;0.2"), (":SOUR:VOLT 0.1", None), (":SOUR:VOLT 0", None),
            (":OUTP OFF;*OPC?", "1")],
            connection_attributes=K_CONN) as inst:
        inst.configure_voltage_source(compliance_a=0.01)
        inst.ramp_voltage(2.0, step_v=1.0, dwell_s=0)
        inst.output_off()


def test_keithley2400_refuses_a_voltage_ramp_under_a_current_source_compliance():
    """A compliance set for current sourcing (a voltage limit) does not cover voltage sourcing."""
    with expected_protocol(Keithley2400, [
            K_INIT, CURRENT_SOURCE_8V],
            connection_attributes=K_CONN) as inst, \
            pytest.raises(RuntimeError, match="configure_voltage_source"):
        inst.configure_current_source(compliance_v=8)
        inst.ramp_voltage(2.0, step_v=0.1, dwell_s=0)


def test_keithley2400_refuses_output_on_before_compliance():
    with expected_protocol(Keithley2400, [K_INIT], connection_attributes=K_CONN) as inst, \
            pytest.raises(RuntimeError, match="compliance must be set"):
        inst.ramp_current(1e-3, 1e-4, 0)


def test_keithley2400_read_vi_and_ramped_output_off():
    with expected_protocol(Keithley2400, [
            K_INIT, (":READ?", "+2.9E+00,+4.0E-03,+7.2E+02,+1.0E+01,+8.0E+00"),
            (STATE_QUERY, "1;CURR;0.002;2.9"), (":SOUR:CURR 0.001", None),
            (":SOUR:CURR 0", None), (":OUTP OFF;*OPC?", "1"), ("OUTPUT?", "0")],
            connection_attributes=K_CONN) as inst:
        assert inst.read_vi() == (2.9, 4e-3, True)
        inst.output_off(step_a=1e-3)
        assert inst.output_enabled is False


def test_keithley2400_power_on_bit_is_read_with_a_known_field_after_it():
    """PON is bit 7 of *ESR?; a reply cut short ("12" of "128;1") is refused, not read as no."""
    with expected_protocol(Keithley2400, [
            K_INIT, ("*ESR?;*OPC?", "128;1"), ("*ESR?;*OPC?", "32;1"), ("*ESR?;*OPC?", "12"),
            ("*ESR?;*OPC?", "1#8;1")], connection_attributes=K_CONN) as inst:
        assert inst.powered_on_since_asked() is True
        assert inst.powered_on_since_asked() is False
        for _ in range(2):
            with pytest.raises(ValueError, match="event status reply"):
                inst.powered_on_since_asked()


def test_keithley2400_source_state_checks_every_field():
    """Regression (soak 23): a garbled level of the source not in use was never parsed, so
    the garbled reply passed as good and its fault was not on record."""
    query = ":OUTP?;:SOUR:FUNC?;:SOUR:CURR?;:SOUR:VOLT?"
    good = "1;CURR;+4.000000E-03;+2.100000E+00"
    bad = ["1;CURR;+4.000000E-03;+2.1#0000E+00", "1;CU#R;+4.000000E-03;+2.100000E+00",
           "?;CURR;+4.000000E-03;+2.100000E+00", "1;CURR;+4.000000E-03"]
    with expected_protocol(Keithley2400, [K_INIT, (query, good), *((query, b) for b in bad)],
                           connection_attributes=K_CONN) as inst:
        assert inst.source_state() == (True, "current", 4e-3)
        for _ in bad:
            with pytest.raises(ValueError):
                inst.source_state()


def test_keithley2400_uptime_is_a_readings_timestamp_and_refuses_garbage():
    """After a reboot, the TIME element (seconds since power-on) dates the power cycle."""
    with expected_protocol(Keithley2400, [
            K_INIT, (":READ?", "+2.9E+00,+4.0E-03,+7.2E+02,+1.25E+01,+0.0E+00"),
            (":READ?", "+2.9E+00,+4.0E-03,+7.2E+02,-3.0E+00,+0.0E+00")],
            connection_attributes=K_CONN) as inst:
        assert inst.uptime_s() == 12.5
        with pytest.raises(ValueError, match="no time since power-on"):
            inst.uptime_s()


@pytest.mark.parametrize(("start", "target", "step", "levels"), [
    (0.0, 2.5e-3, 1e-3, [2.5e-3 / 3, 5e-3 / 3, 2.5e-3]), (4e-3, 0.0, 2e-3, [2e-3, 0.0]),
    (1e-3, 1e-3, 1e-4, [1e-3]), (0.0, -3e-3, 1e-3, [-1e-3, -2e-3, -3e-3])])
def test_ramp_levels_are_monotonic_and_end_on_target(start, target, step, levels):
    assert ramp_levels(start, target, step) == pytest.approx(levels)


def test_a_ramps_equivalent_step_falls_where_its_charge_says_not_at_its_middle():
    """Regression (soak): a loaded host held a checkpoint's ramp down 90 ms before its first
    level, and the clock, stopped at the call's middle, lost 0.07 device-h at 6000x. The
    equivalent step is timed from the levels as they were sent."""
    even_down = [(t, 1.0 - 0.25 * (t + 1)) for t in range(4)]  # 0.75 .. 0 at t = 0 .. 3
    assert equivalent_step(1.0, even_down) == pytest.approx(1.5)  # its middle
    even_up = [(10.0 + t, 0.25 * (t + 1)) for t in range(4)]
    assert equivalent_step(0.0, even_up) == pytest.approx(11.5)
    # Held at 0.75 for 9 s before the rest: full level until 0 + 0.75 * 9 + 0.5 + 0.25 = 7.5.
    uneven = [(0.0, 0.75), (9.0, 0.5), (10.0, 0.25), (11.0, 0.0)]
    assert equivalent_step(1.0, uneven) == pytest.approx(7.5)
    assert equivalent_step(0.5, [(3.0, 0.5)]) == 3.0  # no change: no ramp to time


# The whole read mode: a linked acquisition cut short leaves the meter armed on the trigger link.
POINT = (POINT_MODE, None)  # before any source is configured: one reading per trigger, ASCII
PD_SETUP = (f"{POINT_MODE};:SENS:AVER OFF;:SOUR:FUNC VOLT;:SOUR:VOLT 0;"
            ":SENS:CURR:PROT 1e-3;:SENS:CURR:NPLC 1;:OUTP ON;*OPC?", "1")


def test_photodetector_biases_once_and_reads_the_photocurrent():
    with expected_protocol(Keithley2400Photodetector, [
            K_INIT, PD_SETUP,
            (":READ?", "+0.0E+00,-7.85E-05,+0.0E+00,+1.0E+00,+0.0E+00"),
            (":READ?", "+0.0E+00,-7.86E-05,+0.0E+00,+1.1E+00,+0.0E+00")],
            connection_attributes=K_CONN) as inst:
        assert inst.read_photocurrent() == pytest.approx(7.85e-5)
        assert inst.read_photocurrent() == pytest.approx(7.86e-5)


def test_photodetector_sets_the_repeat_filter_only_when_its_count_changes():
    reading = (":READ?", "+0.0E+00,-7.85E-05,+0.0E+00,+1.0E+00,+0.0E+00")
    with expected_protocol(Keithley2400Photodetector, [
            K_INIT, PD_SETUP,
            (":SENS:AVER:TCON REP;:SENS:AVER:COUN 100;:SENS:AVER ON;*OPC?", "1"), reading,
            (":SENS:AVER:TCON REP;:SENS:AVER:COUN 10;:SENS:AVER ON;*OPC?", "1"), reading,
            reading, (":SENS:AVER OFF;*OPC?", "1"), reading],
            connection_attributes=K_CONN) as inst:
        assert inst.read_photocurrent(average=400) == pytest.approx(7.85e-5)  # capped at 100
        assert inst.read_photocurrent(average=10) == pytest.approx(7.85e-5)
        assert inst.read_photocurrent(average=10) == pytest.approx(7.85e-5)  # as it was
        assert inst.read_photocurrent() == pytest.approx(7.85e-5)


ARM_5 = (":SENS:AVER OFF;:SOUR:FUNC VOLT;:SOUR:VOLT 0;:SENS:CURR:PROT 1e-3;:SENS:CURR:NPLC 0.1;"
         ":FORM:ELEM VOLT,CURR,STAT;:TRAC:CLE;:TRAC:POIN 5;:TRAC:FEED SENS;"
         ":TRAC:FEED:CONT NEXT;:TRIG:COUN 5;:TRIG:SOUR TLIN;:OUTP ON;*OPC?", "1")


def test_photodetector_fetches_a_linked_acquisition_after_counting_it():
    rows = [(0.0, -1e-9 * k, 0) for k in range(5)]
    with expected_protocol(Keithley2400Photodetector, [
            K_INIT, ARM_5, (":INIT", None), ("*OPC?", "1"), (":TRAC:POIN:ACT?", "5"),
            (BLOCK_READ, _sweep_block(rows)), (BLOCK_READ, _sweep_block(rows)),
            (":FORM:DATA ASC;:TRIG:SOUR IMM;:TRIG:COUN 1;:TRAC:FEED:CONT NEV;"
             ":FORM:ELEM VOLT,CURR,RES,TIME,STAT", None)],
            connection_attributes=K_CONN) as inst:
        inst.arm_linked(5)
        assert inst.fetch_linked(5) == pytest.approx([1e-9 * k for k in range(5)])


def test_photodetector_says_a_short_linked_acquisition_is_lost_without_reading_it():
    """An :INIT lost on the bus, or a reboot, leaves the buffer short: its block never comes
    whole, and reading it again cannot help."""
    from agelab.instruments.drivers.photodetectors import AcquisitionLost

    with expected_protocol(Keithley2400Photodetector, [
            K_INIT, ARM_5, (":INIT", None), ("*OPC?", "1"), (":TRAC:POIN:ACT?", "0")],
            connection_attributes=K_CONN) as inst:
        inst.arm_linked(5)
        with pytest.raises(AcquisitionLost, match="0 of 5"):
            inst.fetch_linked(5)
        assert not inst.armed


E_INIT = ("FORM ASC", None)


def test_e4980_bias_controls():
    with expected_protocol(AgilentE4980A, [
            E_INIT, (":BIAS:STAT 1", None), (":BIAS:STAT?", "1"), (":BIAS:VOLT 1.5", None),
            (":BIAS:VOLT?", "+1.500000E+00"), (":DISP:PAGE LIST", None),
            (":LIST:BIAS:VOLT 0,0.5", None), (":LIST:BIAS:VOLT?", "+0.0E+00,+5.0E-01")],
            connection_attributes={"timeout": 30000}) as inst:
        inst.bias_enabled = True
        assert inst.bias_enabled is True
        inst.bias_voltage = 1.5
        assert inst.bias_voltage == 1.5
        inst.display_page = "list"
        inst.list_bias_voltage = [0, 0.5]
        assert inst.list_bias_voltage == [0, 0.5]


def test_e4980_cv_sweep_protocol():
    with expected_protocol(AgilentE4980A, [
            E_INIT, ("FUNCtion:IMPedance:TYPE CPG", None), (":FREQ:CW 1000", None),
            (":VOLT:LEV 0.05", None), (":TRIG:SOUR BUS;:DISP:PAGE LIST;:LIST:MODE SEQ;"
                                       ":BIAS:STAT ON", None),
            (":LIST:BIAS:VOLT 0,1", None), (":TRIG:IMM", None), ("*OPC?", "1"),
            (":FETC?", "+1.2E-09,+4.0E-09,+0,+1,+1.5E-09,+6.0E-09,+0,+2"),
            (":BIAS:STAT OFF;:BIAS:VOLT 0;:DISP:PAGE MEAS;:TRIG:SOUR INT", None)],
            connection_attributes={"timeout": 30000}) as inst:
        cv = inst.cv_sweep(np.array([0.0, 1.0]), 1000, 0.05)
    assert cv.capacitance_f.tolist() == [1.2e-9, 1.5e-9]
    assert cv.conductance_s.tolist() == [4e-9, 6e-9]


@pytest.mark.parametrize(("driver", "pairs", "slope_db"), [
    (SR830, [("FREQ1.00000e+04", None), ("SENS19", None), ("OFLT7", None), ("OFSL1", None)],
     12),
    (SR860, [("FREQ 1.030000e+05", None), ("SCAL 7", None), ("OFLT 9", None),
             ("OFSL 3", None)], 24)])
def test_lockin_configure_picks_ranges_that_fit(driver, pairs, slope_db):
    with expected_protocol(driver, pairs) as inst:
        inst.configure(10e3 if driver is SR830 else 103e3, sensitivity_v=4e-3,
                       time_constant_s=0.025, slope_db=slope_db)


def test_sr830_refuses_the_papers_103_khz():
    with expected_protocol(SR830, []) as inst, pytest.raises(ValueError, match="103000 Hz"):
        inst.configure(103e3, sensitivity_v=1e-3, time_constant_s=0.1)


def test_lockin_settled_read_waits_then_snaps(monkeypatch):
    waits = []
    monkeypatch.setattr("agelab.instruments.drivers.lockin.time.sleep", waits.append)
    with expected_protocol(SR860, [("OFLT?", "10"), ("SNAP? X, Y", "5.1e-04,-2.0e-06")]) as inst:
        assert inst.read_settled() == (5.1e-4, -2e-6)
    assert waits == [pytest.approx(7 * 0.1)]  # 12 dB/oct: 99 % after 7 τ


def test_spectrometer_dark_corrected_spectrum_protocol():
    dark = to_ieee_block(np.array([1000, 1001, 999], dtype="<f4"), datatype="f",
                         is_big_endian=False)
    light = to_ieee_block(np.array([1500, 4001, 1099], dtype="<f4"), datatype="f",
                          is_big_endian=False)
    with expected_protocol(VirtualSpectrometer, [
            (":SENS:INT 0.1", None), (":SENS:AVER:COUN 2", None), (":SHUT 1", None),
            (":PIX?", "3"), (":FORM REAL;:READ?", dark + b"\n"), (":FETC?", dark + b"\n"),
            (":FORM ASC", None), (":SHUT 0", None), (":PIX?", "3"),
            (":FORM REAL;:READ?", light + b"\n"),
            (":FETC?", light.replace(b"\x80", b"\x81") + b"\n"),  # a flipped byte: again
            (":FETC?", light + b"\n"), (":FETC?", light + b"\n"),
            (":FORM ASC", None), (":STAT:SAT?", "0"), (":WAV?", "400,500,600")]) as inst:
        spectrum = inst.spectrum(0.1, averages=2, dark=True)
    assert spectrum.counts.tolist() == [500, 3000, 100]
    assert spectrum.wavelength_nm.tolist() == [400, 500, 600]
    assert spectrum.saturated is False
    # The flipped byte was got past, and is still a fault for the record (the full soak found
    # one bench garble that no event answered).
    assert inst.corrected == ["a binary transfer was garbled; read 4 times until two agreed"]


def test_relay_box_protocol_and_refusal():
    with expected_protocol(RelayBox, [("ROUTE 2 LCR", "OK"), ("ROUTE? 2", "LCR"),
                                      ("PIXELS?", "4"), ("ROUTE 9 SMU", "ERR no pixel 9")]) as box:
        box.route(2, "lcr")
        assert box.routed(2) == "LCR"
        assert box.pixel_count == 4
        with pytest.raises(SerialCommandError, match="ERR no pixel 9"):
            box.route(9, "SMU")


def test_laser_protocol():
    with expected_protocol(LaserDriver, [("POW 2.5", "OK"), ("EN 1", "OK"), ("PIX 3", "OK"),
                                         ("EN?", "1"), ("IL?", "1"), ("EN 0", "OK")]) as laser:
        laser.set_power(2.5e-3)
        laser.enable(True)
        laser.aim(3)
        assert laser.enabled is True and laser.interlock_closed is True
        laser.shutdown()


def test_keithley2450_sweep_protocol():
    from agelab.instruments.drivers.keithley import Keithley2450

    block = to_ieee_block(np.array([0.0, 1e-9, 3.0, 0.05], dtype="<f8"), datatype="d",
                          is_big_endian=False)
    with expected_protocol(Keithley2450, [
            (':OUTP OFF;:SOUR:FUNC VOLT;:SOUR:VOLT:ILIM 0.05;:SENS:FUNC "CURR";'
             ':SENS:CURR:NPLC 0.1;:SOUR:LIST:VOLT 0,3;:TRAC:CLE "defbuffer1";'
             ':SOUR:SWE:VOLT:LIST 1, 0;:OUTP ON;:INIT;*WAI;:OUTP OFF;*OPC?', "1"),
            (':FORM:DATA REAL;:FORM:BORD SWAP;:TRAC:DATA? 1, 2, "defbuffer1", SOUR, READ',
             block + b"\n"),
            (':FORM:DATA REAL;:FORM:BORD SWAP;:TRAC:DATA? 1, 2, "defbuffer1", SOUR, READ',
             block + b"\n"),  # read twice: a binary block has no checksum
            (":FORM:DATA ASC;:OUTP OFF;:SOUR:VOLT 0", None)],
            connection_attributes=K_CONN) as inst:
        sweep = inst.sweep("voltage", np.array([0.0, 3.0]), compliance=0.05, nplc=0.1)
    assert sweep.voltage_v.tolist() == [0.0, 3.0]
    assert sweep.current_a.tolist() == [1e-9, 0.05]
    assert sweep.compliance.tolist() == [False, True]


def test_keithley2450_ramp_read_and_off_protocol():
    from agelab.instruments.drivers.keithley import Keithley2450

    with expected_protocol(Keithley2450, [
            (':FORM:DATA ASC;:SOUR:FUNC CURR;:SOUR:CURR:VLIM 8;:SENS:FUNC "VOLT";:SENS:VOLT:NPLC 1;'
             ":SOUR:CURR:RANG:AUTO 1", None),
            (":OUTP?", "0"), (":SOUR:CURR 0;:OUTP ON", None), (":SOUR:CURR?", "0"),
            (":SOUR:CURR 0.001", None), (":SOUR:CURR 0.002", None), ("*OPC?", "1"),
            (':READ? "defbuffer1", READ, SOUR', "+2.9E+00,+2.0E-03"),
            (":OUTP?", "1"), (":SOUR:FUNC?", "CURR"), (":SOUR:CURR?", "0.002"),
            (":SOUR:CURR 0", None), (":OUTP OFF", None), ("*OPC?", "1")],
            connection_attributes=K_CONN) as inst:
        inst.configure_current_source(compliance_v=8)
        inst.ramp_current(2e-3, step_a=1e-3, dwell_s=0)
        assert inst.read_vi() == (2.9, 2e-3, False)
        inst.output_off(step_a=2e-3)


def test_keithley2450_voltage_source_and_ramped_off_protocol():
    from agelab.instruments.drivers.keithley import Keithley2450

    with expected_protocol(Keithley2450, [
            (':FORM:DATA ASC;:SOUR:FUNC VOLT;:SOUR:VOLT:ILIM 0.01;:SENS:FUNC "CURR";'
             ':SENS:CURR:NPLC 1;'
             ":SOUR:VOLT:RANG:AUTO 1", None),
            (":OUTP?", "0"), (":SOUR:VOLT 0;:OUTP ON", None), (":SOUR:VOLT?", "0"),
            (":SOUR:VOLT 1", None), (":SOUR:VOLT 2", None), ("*OPC?", "1"),
            (":OUTP?", "1"), (":SOUR:FUNC?", "VOLT"), (":SOUR:VOLT?", "0.2"),
            (":SOUR:VOLT 0.1", None), (":SOUR:VOLT 0", None), (":OUTP OFF", None),
            ("*OPC?", "1")],
            connection_attributes=K_CONN) as inst:
        inst.configure_voltage_source(compliance_a=0.01)
        inst.ramp_voltage(2.0, step_v=1.0, dwell_s=0)
        inst.output_off()


def test_a_binary_buffer_is_read_until_two_reads_agree():
    """Regression (soak): a byte flipped in a binary block is a plausible wrong number, so a
    garbled J–V point went into the run file; the buffer is now read until two reads agree."""
    from agelab.instruments.drivers.formats import read_block_verified

    good, bad = b"#0abcd\n", b"#0a#cd\n"
    with expected_protocol(Keithley2400, [
            K_INIT, (":TRAC:DATA?", good), (":TRAC:DATA?", good)],
            connection_attributes=K_CONN) as inst:
        assert read_block_verified(inst, ":TRAC:DATA?", 7) == good
        assert not getattr(inst, "corrected", None)  # nothing was garbled
    with expected_protocol(Keithley2400, [
            K_INIT, (":TRAC:DATA?", bad), (":TRAC:DATA?", good), (":TRAC:DATA?", good)],
            connection_attributes=K_CONN) as inst:
        assert read_block_verified(inst, ":TRAC:DATA?", 7) == good
        # got past, and still a fault on record (the soak found one the run file never had)
        assert inst.corrected == ["a binary transfer was garbled; read 3 times until two agreed"]
    with expected_protocol(Keithley2400, [
            K_INIT, (":TRAC:DATA?", bad), (":TRAC:DATA?", good), (":TRAC:DATA?", bad)],
            connection_attributes=K_CONN) as inst, pytest.raises(ValueError, match="garbled"):
        read_block_verified(inst, ":TRAC:DATA?", 7)


@pytest.mark.parametrize("reply", ["+9.9E+37,-7.85E-05,+0.0E+00,+1.0E+00,+0.0E+00",
                                   "+3.1E+00,NAN,+0.0E+00,+1.0E+00,+0.0E+00",
                                   "+3.1E+00,-7.85E-05,+0.0E+00,+1.0E+00,+0.5E+00"])
def test_an_implausible_reading_is_refused_as_garbled(reply):
    from agelab.instruments.resilience import classify

    with (expected_protocol(Keithley2400, [K_INIT, (":READ?", reply)],
                            connection_attributes=K_CONN) as inst,
          pytest.raises(ValueError, match="implausible") as info):
        inst.read_vi()
    assert classify(info.value) == "garbled"  # so the resilience layer reads again


def test_garbled_replies_are_classified_for_a_retry():
    """Regression (soak): a garbled byte that is not ASCII ("... ordinal not in range(128)") was
    read as a validator's refusal, and a garbled mapped value raised a KeyError; both stopped a
    channel instead of being read again."""
    from agelab.instruments.resilience import classify

    try:
        b"-2.6\xbe4E-05".decode("ascii")
    except UnicodeDecodeError as exc:
        assert classify(exc) == "garbled"
    assert classify(KeyError("Value @ not found in mapped values")) == "garbled"
    assert classify(ValueError("Value of 5 is not in range [0,1]")) is None  # usage: no retry


def test_lockin_reports_errors_from_its_event_status_register():
    """SRS lock-ins have no SYST:ERR?: *ESR? (cleared by reading) carries the error bits."""
    with expected_protocol(SR860, [("*ESR?", "32"), ("*ESR?", "0")]) as inst:
        code, message = inst.next_error
        assert code == 32 and "32" in message
        assert inst.next_error == (0, "No error")


@pytest.mark.parametrize("reply", ["1#", "@", "0"])
def test_a_garbled_operation_complete_is_refused(reply):
    """Regression (soak): '*OPC?' replies were not read, so a garbled one went unseen."""
    with expected_protocol(Keithley2400, [K_INIT, (STATE_QUERY, "0;CURR;0;0"),
                                         (":OUTP OFF;*OPC?", reply)],
                           connection_attributes=K_CONN) as inst, \
            pytest.raises(ValueError, match="answered"):
        inst.output_off()


def test_garbage_in_a_reading_field_the_caller_drops_is_refused():
    """Regression (soak): pymeasure's values() keeps a field it cannot read as a string, so a
    garbled resistance or time field of a photodiode reading passed unseen."""
    with expected_protocol(Keithley2400Photodetector, [
            K_INIT, PD_SETUP, (":READ?", "+0.0E+00,-1.2E-05,+9.9E+3#,+1.0E+00,+0.0E+00")],
            connection_attributes=K_CONN) as inst, pytest.raises(ValueError):
        inst.read_photocurrent()


def test_a_garbled_no_error_reply_is_an_event():
    """Regression (soak): '0,"No e%ror"' parsed as code 0 and passed as no error."""
    from agelab.instruments.resilience import Resilient

    events = []
    with expected_protocol(Keithley2400, [K_INIT, ("SYST:ERR?", '0,"No e%ror"')],
                           connection_attributes=K_CONN) as inst:
        r = Resilient("smu1", lambda: inst, listener=events.append)
        r._driver, r._identity = inst, "test"
        r.poll_errors(reconnect=False)
    assert [e.kind for e in events] == ["garbled"]


@pytest.mark.parametrize("reply", ['0,"No error', '0,"No error#', '0,"No error"x'])
def test_an_empty_queue_reply_cut_or_flipped_at_its_end_is_garbled(reply):
    """Regression (soak): '0,"No error' passed as an empty queue (it holds the words), so that
    garble had no event and the fault match came out one short."""
    from agelab.instruments.resilience import Resilient

    events = []
    with expected_protocol(Keithley2400, [K_INIT, ("SYST:ERR?", reply)],
                           connection_attributes=K_CONN) as inst:
        r = Resilient("smu1", lambda: inst, listener=events.append)
        r._driver, r._identity = inst, "test"
        r.poll_errors(reconnect=False)
    assert [e.kind for e in events] == ["garbled"]


def test_an_error_reply_cut_short_is_also_a_garbled_event():
    from agelab.instruments.resilience import Resilient

    events = []
    with expected_protocol(Keithley2400, [K_INIT, ("SYST:ERR?", '-300,"Device-spe#ific err'),
                                         ("SYST:ERR?", '0,"No error"')],
                           connection_attributes=K_CONN) as inst:
        r = Resilient("smu1", lambda: inst, listener=events.append)
        r._driver, r._identity = inst, "test"
        r.poll_errors(reconnect=False)
    assert [e.kind for e in events] == ["garbled", "device-error"]
