"""Each injected fault reaches a pyvisa client as the real failure would, and is logged."""

import time

import pytest
import serial
from pyvisa.errors import VisaIOError

from agelab.instruments.sim.bench import VirtualBench
from agelab.instruments.sim.faults import FaultKind, FaultSpec
from tests.bench_helpers import open_smu, stress


def test_timeout_a_lost_message_times_out_the_query():
    with VirtualBench(faults=["timeout@0:smu1"]) as bench:
        smu = open_smu(bench.resources["smu1"])
        smu.adapter.connection.timeout = 300
        with pytest.raises(VisaIOError, match="Timeout"):
            smu.ask("*IDN?")
        assert "MODEL 2400" in smu.ask("*IDN?")  # the link itself is fine
        [record] = bench.fault_log
        assert (record.kind, record.instrument, record.message) == (FaultKind.TIMEOUT, "smu1",
                                                                    "*IDN?")


def test_garble_a_corrupted_reply():
    with VirtualBench(faults=["garble@0:smu1"]) as bench:
        smu = open_smu(bench.resources["smu1"])
        reply = smu.ask("*IDN?")
        assert reply != smu.ask("*IDN?")
        assert bench.fault_log[0].kind is FaultKind.GARBLE


def test_drop_closes_the_link():
    with VirtualBench(faults=["drop@0:smu1"]) as bench:
        smu = open_smu(bench.resources["smu1"])
        smu.adapter.connection.timeout = 1000
        with pytest.raises(VisaIOError):
            smu.ask("*IDN?")
        fresh = open_smu(bench.resources["smu1"])  # reconnecting works
        assert "MODEL 2400" in fresh.ask("*IDN?")
        assert bench.fault_log[0].kind is FaultKind.DROP


def test_reboot_loses_settings_turns_the_output_off_and_drops_the_link():
    with VirtualBench(speedup=3600) as bench:
        smu = open_smu(bench.resources["smu1"])
        stress(smu, 4e-3)
        assert bench.rig.sites[0].present_j() == pytest.approx(100.0)
        bench.inject("reboot@0:smu1")  # mid-stress
        smu.adapter.connection.timeout = 1000
        with pytest.raises(VisaIOError):
            smu.ask(":SOUR:CURR?")
        fresh = open_smu(bench.resources["smu1"])
        assert fresh.ask(":OUTP?") == "0"
        assert float(fresh.ask(":SOUR:CURR?")) == 0.0
        assert bench.rig.sites[0].present_j() == 0.0
        assert [r.kind for r in bench.fault_log] == [FaultKind.REBOOT]


def test_error_entry_in_the_queue():
    with VirtualBench(faults=["error@0:smu1"]) as bench:
        smu = open_smu(bench.resources["smu1"])
        smu.write(":SOUR:CURR 1e-3")
        assert smu.ask(":SYST:ERR?").startswith("-300,")
        assert float(smu.ask(":SOUR:CURR?")) == pytest.approx(1e-3)  # the command still ran


@pytest.mark.parametrize(("kind", "expect"), [("open", "compliance"), ("short", "near zero")])
def test_pixel_goes_open_or_short(kind, expect):
    with VirtualBench(speedup=3600, faults=[f"{kind}@0.01:smu1"]) as bench:
        smu = open_smu(bench.resources["smu1"])
        stress(smu, 4e-3, compliance_v=8.0)
        time.sleep(0.05)  # 0.05 device-hours: past the fault time
        smu.write(":FORM:ELEM VOLT,CURR,STAT")
        v, _, status = smu.values(":READ?")
        if expect == "compliance":
            assert v == pytest.approx(8.0, abs=1e-3) and int(status) & 8
        else:
            assert abs(v) < 0.3  # 100 mA/cm² through the series resistance and the short
        assert bench.fault_log[0].kind.value == kind


def test_rates_are_deterministic_and_every_fault_is_logged():
    def run(seed):
        seen = []
        with VirtualBench(seed=seed, faults=["error:0.2:smu1"]) as bench:
            smu = open_smu(bench.resources["smu1"])
            for _ in range(50):
                smu.write(":SOUR:CURR 1e-4")
                seen.append(smu.ask(":SYST:ERR?").startswith("-300"))
            return seen, len(bench.fault_log)

    seen_a, logged_a = run(1)
    seen_b, _ = run(1)
    assert seen_a == seen_b
    assert 5 <= logged_a <= 35  # ~20 of 100 transactions
    assert logged_a >= sum(seen_a)


def test_bad_fault_spec_is_a_clear_error():
    with pytest.raises(ValueError, match=r"bad fault 'melt:0\.1'"):
        FaultSpec.parse("melt:0.1")
    with pytest.raises(ValueError, match=r"bad fault 'drop:2'"):
        FaultSpec.parse("drop:2")


def test_a_timed_fault_can_name_the_one_message_it_strikes():
    spec = FaultSpec.parse("drop@0:pd1::INIT")
    assert (spec.instrument, spec.message, spec.at_device_h) == ("pd1", ":INIT", 0.0)
    assert FaultSpec.parse("timeout@2.5:smu1:*OPC?").message == "*OPC?"
    assert FaultSpec.parse("reboot@1:smu1").message == ""  # any message
    with VirtualBench(faults=["timeout@0:smu1:*OPC?"]) as bench:
        smu = open_smu(bench.resources["smu1"])  # its set-up is writes only
        smu.adapter.connection.timeout = 300
        try:
            assert smu.ask("*IDN?").startswith("KEITHLEY")  # not this one
            with pytest.raises(VisaIOError):
                smu.ask("*OPC?")
        finally:
            smu.adapter.close()
        smu = open_smu(bench.resources["smu1"])
        try:
            assert smu.ask("*OPC?").strip() == "1"  # once only
        finally:
            smu.adapter.close()
    assert [r.message for r in bench.fault_log] == ["*OPC?"]


def test_serial_devices_keep_working_beside_faulty_tcp():
    with VirtualBench(faults=["drop:1.0"]) as bench, serial.Serial(
            bench.resources["relay"], 115200, timeout=2) as relay:
        relay.write(b"*IDN?\n")
        assert relay.readline().startswith(b"AGELAB,RELAYBOX")
