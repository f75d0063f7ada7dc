"""The DAQ6510 scanner: its driver's exact commands, the virtual meter over a real socket
(pymeasure's own driver too), one scan shared by the channels, and the 16-pixel rig of eight
2602Bs and one DAQ6510 with faults on both."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from engine_helpers import channel, run_in_thread, study
from pymeasure.instruments.keithley import KeithleyDAQ6510
from pymeasure.test import expected_protocol

from agelab.instruments.drivers.daq6510 import KeithleyDAQ6510Scanner
from agelab.instruments.sim.bench import TIA_GAIN_V_PER_A, VirtualBench
from agelab.protocols.store import RunFile

SOCKET = {"read_termination": "\n", "write_termination": "\n", "timeout": 3000,
          "visa_library": "@py"}


# ---------------------------------------------------------------------------- transcripts
def test_a_reading_comes_from_a_scan_of_the_channels_in_use_stamped_by_the_meter():
    with expected_protocol(KeithleyDAQ6510Scanner, [
            (':SENS:FUNC "VOLT:DC", (@101);:SENS:VOLT:NPLC 1, (@101);:SENS:VOLT:RANG:AUTO ON, '
             '(@101);:SENS:VOLT:AVER:TCON REP, (@101);:SENS:VOLT:AVER:COUN 4, (@101);'
             ':SENS:VOLT:AVER ON, (@101);:ROUT:SCAN:CRE (@101);:ROUT:SCAN:COUN:SCAN 1;'
             ':FORM:DATA ASC;*OPC?', "1"),
            (':TRAC:CLE "defbuffer1";:INIT;*WAI;*OPC?', "1"),
            (':TRAC:DATA? 1, 1, "defbuffer1", READ, REL, CHAN', "2.5E-01,0.0E+00,1.01E+02"),
            (':TRAC:CLE "defbuffer1";:INIT;*WAI;*OPC?', "1"),
            (':TRAC:DATA? 1, 1, "defbuffer1", READ, REL, CHAN', "2.4E-01,0.0E+00,1.02E+02"),
    ], connection_attributes={"timeout": 3000}, tia_gain_v_per_a=1e4) as meter:
        ch = meter.channel("101")
        assert ch.read_photocurrent(4) == pytest.approx(2.5e-5)
        start, end = ch.last_read_window
        assert start < end
        with pytest.raises(ValueError, match="read channels"):
            ch.read_photocurrent(4)  # the meter read another channel than asked: refused


def test_an_overflowed_channel_is_refused_not_read_as_light():
    with expected_protocol(KeithleyDAQ6510Scanner, [
            (':SENS:FUNC "VOLT:DC", (@101);:SENS:VOLT:NPLC 1, (@101);:SENS:VOLT:RANG:AUTO ON, '
             '(@101);:SENS:VOLT:AVER OFF, (@101);:ROUT:SCAN:CRE (@101);:ROUT:SCAN:COUN:SCAN 1;'
             ':FORM:DATA ASC;*OPC?', "1"), (':TRAC:CLE "defbuffer1";:INIT;*WAI;*OPC?', "1"),
            (':TRAC:DATA? 1, 1, "defbuffer1", READ, REL, CHAN', "9.9E+37,0,101")],
            connection_attributes={"timeout": 3000}) as meter, pytest.raises(
                ValueError, match="overflowed"):
        meter.channel("101").read_photocurrent()


# ---------------------------------------------------------------------------- the virtual meter
@pytest.fixture
def scanner_bench():
    with VirtualBench(["blue-znsete"] * 4, speedup=100, photodiodes="daq6510") as bench:
        yield bench


def test_pymeasures_own_driver_sets_and_reads_back_its_controls(scanner_bench):
    k = KeithleyDAQ6510(scanner_bench.resources["daq1"], **SOCKET)
    try:
        assert "DAQ6510" in k.id
        for prop, value in (("voltage_nplc", 0.5), ("voltage_range", 1.0),
                            ("current_nplc", 2.0), ("resistance_nplc", 5.0),
                            ("resistance_range", 1000.0)):
            setattr(k, prop, value)
            assert getattr(k, prop) == pytest.approx(value)
        # (pymeasure maps :SENS:FUNC? to 'VOLT'; the meter answers 'VOLT:DC', as a DMM6500
        # does in pymeasure's own tests, so its sense_mode getter is left out.)
        assert k.ask(":SENS:FUNC?").strip() == "VOLT:DC"
        k.measure_voltage()
        k.close_channel(102)
        assert k.voltage == pytest.approx(0.0, abs=1e-6)  # pixel 2 is dark
        k.open_channel(102)
        k.beep(1000, 0.1)
        assert int(float(k.next_error[0])) == 0
    finally:
        k.adapter.close()


@pytest.mark.parametrize(("message", "code"), [
    (":ROUT:SCAN:CRE (@99)", -224), (":TRAC:DATA? 1, 5, \"defbuffer1\", READ", -222),
    (":SENS:FUNC \"VOLT:AC\", (@101)", -224), (":FROB 1", -113), (":INIT", -221),
])
def test_what_the_meter_cannot_do_goes_into_its_error_queue(scanner_bench, message, code):
    k = KeithleyDAQ6510(scanner_bench.resources["daq1"], **SOCKET)
    try:
        k.write(":TRAC:CLE")
        k.write(message)  # a refused query answers nothing: the error says why
        assert int(float(k.next_error[0])) == code
        assert "DAQ6510" in k.ask("*IDN?")  # still answering
    finally:
        k.adapter.close()


def test_channels_asking_together_share_a_scan(scanner_bench):
    for site in scanner_bench.rig.sites:
        site.set_drive(j_ma_cm2=100.0)
    meter = KeithleyDAQ6510Scanner(scanner_bench.resources["daq1"],
                                   tia_gain_v_per_a=TIA_GAIN_V_PER_A, **SOCKET)
    channels = [meter.channel(str(101 + k)) for k in range(4)]
    for ch in channels:  # the first readings put every channel on the scan list
        ch.read_photocurrent()
    sim = scanner_bench.devices["daq1"]
    scans_before = sim.scans
    barrier = threading.Barrier(4)
    light = {}

    def read(ch) -> None:
        barrier.wait()
        light[ch.channel] = ch.read_photocurrent()

    threads = [threading.Thread(target=read, args=(ch,)) for ch in channels]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(v > 1e-6 for v in light.values())  # lit pixels, through the TIA
    assert all(a < b for a, b in (ch.last_read_window for ch in channels))
    # Each reading comes from a scan begun after it was asked for: the first asker's scan
    # serves everyone who asked before it began, and one more serves the rest.
    assert 1 <= sim.scans - scans_before <= 2
    meter.adapter.close()


# ---------------------------------------------------------------------------- the rig
def test_sixteen_pixels_on_eight_2602bs_and_one_daq6510_with_faults_lose_nothing(tmp_path):
    chs = [channel(f"p{i:02d}", i, "blue-znsete", (100, 150, 200, 250)[(i - 1) // 4],
                   checkpoints={"measure": ["jvl"]}, stop={"at": "T90"}, sampling="30 s")
           for i in range(1, 17)]
    data = study(chs, ["blue-znsete"] * 16, speedup=300)
    # A lost reply on the scanner holds up every channel's sample for its timeout: 1 s here,
    # 5 device-minutes at this speed-up (seconds on hardware).
    data["station"]["virtual"]["timeout_ms"] = 1000
    # About 1 % of the new instruments' transactions fail, and one box and the scanner reboot.
    faults = [f"{kind}:0.0025:{inst}" for kind in ("timeout", "garble", "drop", "error")
              for inst in ("smu", "daq")] + ["reboot@0.1:smu3", "reboot@0.12:daq1"]
    data["station"]["virtual"].update(smu="keithley2602b", photodiodes="daq6510",
                                      faults=faults)
    engine, thread, result = run_in_thread(data, tmp_path / "run.sqlite")
    thread.join(600)
    assert result.get("statuses") == {c["name"]: "finished" for c in chs}, result
    bench = engine.virtual_bench
    assert bench.safety_violations() == {}
    assert all(site.present_j() == 0.0 for site in bench.rig.sites)  # every output off
    struck = {r.instrument for r in bench.fault_log}
    # The scheduled reboots always strike; the random faults strike some other box too (how many
    # depends on how many transactions the run made, so only "at least one" is certain).
    assert {"daq1", "smu3"} <= struck and len(struck - {"daq1", "smu3"}) >= 1, struck
    met = ("timeout", "garbled", "link-lost", "device-error")
    with RunFile(tmp_path / "run.sqlite") as run:
        faults_seen = [e["detail"] for e in run.events(None, "fault")]
        t90 = {c["name"]: run.channel(c["name"]).state.get("milestones", {}) for c in chs}
        samples = {c["name"]: run.samples(c["name"], ("t_h", "l_cd_m2")) for c in chs}
        jv = run.sweeps("p01", "jv")
    for inst in struck:
        hit = sum(r.instrument == inst for r in bench.fault_log)
        seen = sum(f["fault"] in met and f["instrument"].startswith(
            inst + ("" if inst.startswith("smu") else ":")) for f in faults_seen)
        assert seen >= hit, (inst, seen, hit)
    for name, data_ in samples.items():
        assert len(data_) >= 2 and np.all(np.isfinite(data_[:, 1])), name
        assert np.all(np.diff(data_[:, 0]) > 0), name
        assert "T90" in t90[name], name
    # A J–V with the photodiode on a scanner: taken without light, and said so.
    assert np.isnan(jv[0]["z"]).all() and "not measured" in jv[0]["params"]["light"]
