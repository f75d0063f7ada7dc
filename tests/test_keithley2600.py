"""The two-channel Keithley 2602B: its driver's exact commands, the virtual box over a real
socket (pymeasure's own driver too), each channel's resilience on the shared link, and studies on
2602B rigs with faults."""

from __future__ import annotations

import struct
import threading
import time

import numpy as np
import pytest
import yaml
from engine_helpers import channel, run_in_thread, study
from pymeasure.instruments.keithley import Keithley2600
from pymeasure.test import expected_protocol

from agelab.instruments.drivers.keithley2600 import DONE, Keithley2600B
from agelab.instruments.sim.bench import VirtualBench
from agelab.instruments.station import Station, StationSpec
from agelab.protocols.config import ConfigError, load_config, parse_config
from agelab.protocols.store import RunFile

SOCKET = {"read_termination": "\n", "write_termination": "\n", "timeout": 3000,
          "visa_library": "@py"}
STATE = "print(smua.source.output, smua.source.func, smua.source.leveli, smua.source.levelv)"
CONFIGURE_8V = ("smua.abort() smua.source.func = smua.OUTPUT_DCAMPS smua.source.limitv = 8 "
                "smua.source.autorangei = 1 smua.measure.nplc = 1 smua.measure.autozero = "
                "smua.AUTOZERO_AUTO smua.measure.filter.enable = 0 smua.measure.autorangev = 1 "
                + DONE)


# ---------------------------------------------------------------------------- transcripts
def test_configure_then_ramp_on_from_off_in_steps_never_past_the_target():
    with expected_protocol(Keithley2600B, [
            (CONFIGURE_8V, "1"),
            (STATE, "0.00000e+00\t0.00000e+00\t0.00000e+00\t0.00000e+00"),
            ("smua.source.leveli = 0 smua.source.output = smua.OUTPUT_ON", None),
            ("smua.source.leveli = 0.001", None), ("smua.source.leveli = 0.002", None),
            ("smua.source.leveli = 0.003", None), (f" {DONE}", "1")]) as box:
        a = box.channel("a")
        a.configure_current_source(8)
        timing = a.ramp_current(0.003, 0.001, 0)
        assert timing.found == 0.0


def test_output_on_is_refused_before_the_compliance_is_set():
    with expected_protocol(Keithley2600B, []) as box, pytest.raises(RuntimeError,
                                                                     match="compliance"):
        box.channel("b").ramp_current(1e-3, 1e-4, 0)


def test_a_reading_and_its_compliance_state_in_one_exchange():
    with expected_protocol(Keithley2600B, [
            ("ci, cv = smub.measure.iv() print(ci, cv, smub.source.compliance)",
             "1.00000e-03\t3.20000e+00\tfalse"),
            ("ci, cv = smub.measure.iv() print(ci, cv, smub.source.compliance)",
             "1.00000e-03\t8.00000e+00\ttrue"),
            ("ci, cv = smub.measure.iv() print(ci, cv, smub.source.compliance)",
             "1.00000e-03\t3.2\tmaybe")]) as box:
        b = box.channel("b")
        assert b.read_vi() == (3.2, 1e-3, False)
        assert b.read_vi() == (8.0, 1e-3, True)
        with pytest.raises(ValueError, match="not a current"):
            b.read_vi()


def test_output_off_ramps_down_then_switches_off():
    with expected_protocol(Keithley2600B, [
            (STATE, "1.00000e+00\t0.00000e+00\t2.00000e-03\t3.10000e+00"),
            ("smua.source.leveli = 0.001", None), ("smua.source.leveli = 0", None),
            (f"smua.source.output = smua.OUTPUT_OFF {DONE}", "1")]) as box:
        timing = box.channel("a").output_off(1e-3)
        assert timing.found == 2e-3


def test_a_linear_sweep_runs_in_the_trigger_model_and_is_read_as_binary_singles():
    n = 3
    rows = [(0.0, 1e-9, 0.0), (1.0, 1e-6, 0.0), (2.0, 5e-3, 64.0)]
    block = b"#0" + struct.pack(f"<{3 * n}f", *[x for row in rows for x in row])
    setup = ("smua.abort() smua.source.output = smua.OUTPUT_OFF smua.source.func = "
             "smua.OUTPUT_DCVOLTS smua.source.levelv = 0 smua.source.limiti = 0.005 "
             "smua.trigger.source.limiti = 0.005 smua.measure.nplc = 0.1 smua.measure.delay = 0 "
             "smua.measure.filter.enable = 0 smua.nvbuffer1.clear() smua.nvbuffer2.clear() "
             "smua.nvbuffer1.collecttimestamps = 0 smua.trigger.source.linearv(0, 2, 3) "
             "smua.trigger.source.action = smua.ENABLE "
             "smua.trigger.measure.iv(smua.nvbuffer1, smua.nvbuffer2) "
             "smua.trigger.measure.action = smua.ENABLE "
             "smua.trigger.endsweep.action = smua.SOURCE_IDLE smua.trigger.count = 3 "
             "smua.measure.autozero = smua.AUTOZERO_ONCE smua.source.output = smua.OUTPUT_ON "
             "smua.trigger.initiate() waitcomplete() smua.source.output = smua.OUTPUT_OFF "
             + DONE)
    read = ("format.data = format.REAL32 format.byteorder = format.LITTLEENDIAN "
            "printbuffer(1, 3, smua.nvbuffer2.readings, smua.nvbuffer1.readings, "
            "smua.nvbuffer1.statuses) format.data = format.ASCII")
    with expected_protocol(Keithley2600B, [
            (setup, "1"), (read, block), (read, block),
            ("smua.trigger.source.action = smua.DISABLE smua.trigger.measure.action = "
             "smua.DISABLE smua.measure.autozero = smua.AUTOZERO_AUTO", None)],
            connection_attributes={"timeout": 3000}) as box:
        sweep = box.channel("a").sweep("voltage", np.array([0.0, 1.0, 2.0]), 5e-3, nplc=0.1)
    assert sweep.voltage_v.tolist() == [0.0, 1.0, 2.0]
    assert sweep.compliance.tolist() == [False, False, True]


def test_a_photodiode_on_the_other_channel_is_armed_on_the_sweeps_source_events():
    block = b"#0" + struct.pack("<2f", -1e-12, -2e-6)
    with expected_protocol(Keithley2600B, [
            ("smub.abort() smub.source.func = smub.OUTPUT_DCVOLTS smub.source.levelv = 0 "
             "smub.source.limiti = 1e-3 smub.measure.nplc = 0.1 smub.measure.filter.enable = 0 "
             "smub.nvbuffer1.clear() smub.trigger.source.action = smub.DISABLE "
             "smub.trigger.measure.i(smub.nvbuffer1) smub.trigger.measure.action = smub.ENABLE "
             "smub.trigger.measure.stimulus = smua.trigger.SOURCE_COMPLETE_EVENT_ID "
             "smub.trigger.count = 2 smub.source.output = smub.OUTPUT_ON "
             f"smub.trigger.initiate() {DONE}", "1"),
            ("print(smub.nvbuffer1.n)", "2.00000e+00"),
            ("format.data = format.REAL32 format.byteorder = format.LITTLEENDIAN "
             "printbuffer(1, 2, smub.nvbuffer1.readings) format.data = format.ASCII", block),
            ("format.data = format.REAL32 format.byteorder = format.LITTLEENDIAN "
             "printbuffer(1, 2, smub.nvbuffer1.readings) format.data = format.ASCII", block),
            ("smub.abort() smub.trigger.measure.action = smub.DISABLE "
             "smub.trigger.measure.stimulus = 0", None)]) as box:
        b = box.channel("b")
        b.arm_linked(2)
        light = b.fetch_linked(2)
    assert light == pytest.approx([1e-12, 2e-6])


def test_the_power_on_bit_is_read_once_a_link_and_told_to_each_channel():
    with expected_protocol(Keithley2600B, [("print(status.standard.event)", "1.28000e+02")]
                           ) as box:
        a, b = box.channel("a"), box.channel("b")
        assert a.powered_on_since_asked() and b.powered_on_since_asked()
        assert not a.powered_on_since_asked()


def test_a_closed_link_refuses_both_channels():
    with expected_protocol(Keithley2600B, []) as box:
        box.channel("a").adapter.close()
        for letter in "ab":
            with pytest.raises(ConnectionError):
                box.channel(letter).output_enabled  # noqa: B018


# ---------------------------------------------------------------------------- the virtual box
@pytest.fixture
def box_bench():
    with VirtualBench(["blue-znsete"], speedup=100, smu="keithley2602b",
                      photodiodes="smu-channel") as bench:
        yield bench


def test_pymeasures_own_driver_sets_and_reads_back_every_channel_control(box_bench):
    k = Keithley2600(box_bench.resources["smu1"], **SOCKET)
    try:
        assert "Model 2602B" in k.id
        # (pymeasure 0.16 maps measure_nplc's range as if it were a list of choices, so it can
        # set only 0.001 and 25: left out of the walk.)
        for ch in (k.ChA, k.ChB):
            for prop, value in (("source_mode", "current"),
                                ("compliance_voltage", 8.0), ("compliance_current", 0.01),
                                ("source_current", 0.002), ("source_voltage", 1.5),
                                ("source_current_range", 0.01), ("current_range", 0.01),
                                ("voltage_range", 20.0), ("source_voltage_range", 20.0),
                                ("wires_mode", "4"), ("source_mode", "voltage")):
                setattr(ch, prop, value)
                got = getattr(ch, prop)
                assert got == pytest.approx(value) if isinstance(value, float) else got == value
        k.ChA.apply_current(compliance_voltage=8)
        k.ChA.source_current = 1e-3
        k.ChA.source_output = "ON"
        assert 2.0 < k.ChA.voltage < 5.0
        assert k.ChA.current == pytest.approx(1e-3, rel=1e-3)
        k.ChA.shutdown()
        assert k.ChA.source_output == "OFF"
        assert k.next_error == (0, "Queue Is Empty")
        assert box_bench.safety_violations() == {}
    finally:
        k.adapter.close()


@pytest.mark.parametrize(("message", "code"), [
    ("smua.source.nonsense = 1", -286), ("frobnicate()", -286), ("smua.source.levelv = ", -285),
    ("smua.source.levelv = 1000", -222), ("print(smuc.source.output)", -286), ("*FOO?", -285),
])
def test_what_the_box_cannot_do_goes_into_its_error_queue_and_no_query_hangs(
        box_bench, message, code):
    k = Keithley2600(box_bench.resources["smu1"], **SOCKET)
    try:
        k.write(message)
        assert k.next_error[0] == code
        assert k.next_error == (0, "Queue Is Empty")
        assert k.ask("print(1)").strip() == "1.00000e+00"  # still answering
    finally:
        k.adapter.close()


def test_a_linked_jvl_on_one_box_sees_the_pixel_light_up_at_each_step(box_bench):
    box = Keithley2600B(box_bench.resources["smu1"], **SOCKET)
    a, b = box.channel("a"), box.channel("b")
    assert b.triggered_by(a) and not a.triggered_by(a)
    b.arm_linked(31, nplc=0.01)
    sweep = a.sweep("voltage", np.linspace(0, 4.5, 31), 0.009, nplc=0.01, trigger_link=True)
    light = b.fetch_linked(31)
    assert light[0] < 1e-9 < light[-1]  # dark at 0 V, bright at the top
    on = sweep.current_a > 1e-6
    assert np.all(light[on] > 100 * abs(light[0]))
    assert not a.output_enabled
    box.adapter.close()


# ---------------------------------------------------------------------------- the shared link
@pytest.fixture
def two_pixel_station():
    spec = StationSpec.model_validate({"virtual": {
        "pixels": ["blue-znsete", "blue-znsete"], "speedup": 100, "smu": "keithley2602b",
        "timeout_ms": 1000}})
    events = []
    station = Station(spec, listener=events.append).open()
    station.events = events
    try:
        yield station
    finally:
        station.close()


def test_the_two_channels_of_a_box_are_two_roles_on_one_link(two_pixel_station):
    st = two_pixel_station
    assert {"smu1a", "smu1b", "pd1", "pd2"} <= set(st.instruments)
    assert st["smu1a"].identity().endswith("channel a")
    assert st["smu1a"].driver.box is st["smu1b"].driver.box


def test_a_reboot_of_the_box_is_put_right_on_both_channels(two_pixel_station):
    st = two_pixel_station
    for name, amps in (("smu1a", 2e-3), ("smu1b", 4e-3)):
        st[name].configure_current_source(8.0)
        st[name].ramp_current(amps, amps / 10, 0)
    st.bench.inject("reboot@0:smu1")
    for name, amps in (("smu1a", 2e-3), ("smu1b", 4e-3)):
        _v, i, _ = st[name].read_vi()
        assert i == pytest.approx(amps, rel=1e-3), name
    restored = {e.instrument for e in st.events if e.kind == "output-restored"
                and e.output_off_s is not None}
    assert restored == {"smu1a", "smu1b"}
    detected = {e.instrument for e in st.events if e.kind == "reboot-detected"}
    assert detected == {"smu1a", "smu1b"}
    sites = st.bench.rig.sites
    assert [s.present_j() for s in sites] == pytest.approx([50.0, 100.0])
    assert st.bench.safety_violations() == {}


def test_one_channels_long_ramp_does_not_hold_the_others_readings(two_pixel_station):
    """The link is held per exchange, not per operation: while channel a ramps in 40 steps
    40 ms apart, channel b goes on reading."""
    st = two_pixel_station
    a, b = st["smu1a"], st["smu1b"]
    a.configure_current_source(8.0)
    b.configure_current_source(8.0)
    b.ramp_current(2e-3, 2e-4, 0)
    stamps: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            b.read_vi()
            stamps.append(time.monotonic())

    sampler = threading.Thread(target=sample)
    sampler.start()
    began = time.monotonic()
    a.ramp_current(4e-3, 1e-4, 0.04)
    ended = time.monotonic()
    done.set()
    sampler.join()
    during = [t for t in stamps if began < t < ended]
    assert ended - began > 1.5
    assert len(during) > 20
    assert max(np.diff(during)) < 0.2


# ---------------------------------------------------------------------------- studies
def _box_study(photodiodes: str, faults: list[str]) -> dict:
    chs = [channel(f"b{i}", i, "blue-znsete", 200, checkpoints={"measure": ["jvl"]},
                   milestones={"T90": ["jvl"]}, stop={"at": "T80"}, sampling="30 s")
           for i in (1, 2, 3, 4)]
    data = study(chs, ["blue-znsete"] * 4, speedup=3000)
    data["station"]["virtual"].update(smu="keithley2602b", photodiodes=photodiodes,
                                      faults=faults)
    return data


@pytest.mark.parametrize("photodiodes", ["smu-channel", "keithley2400"])
def test_a_study_on_2602b_boxes_with_faults_on_them_loses_nothing(tmp_path, photodiodes):
    # About 1 % of the boxes' transactions fail, as in the soak (docs/reliability.md).
    faults = ["timeout:0.0025:smu", "garble:0.0025:smu", "drop:0.0025:smu",
              "error:0.0025:smu"]
    engine, thread, result = run_in_thread(_box_study(photodiodes, faults),
                                           tmp_path / "run.sqlite")
    # Box 1 reboots under stress: 3 device-minutes after the run has started.
    bench = engine.virtual_bench
    bench.inject(f"reboot@{bench.rig.clock.hours() + 0.05:.6f}:smu1")
    thread.join(300)
    assert result.get("statuses") == {f"b{i}": "finished" for i in (1, 2, 3, 4)}, result
    bench = engine.virtual_bench
    assert bench.safety_violations() == {}
    assert all(site.present_j() == 0.0 for site in bench.rig.sites)  # every output off
    injected = bench.fault_log
    struck_boxes = {r.instrument for r in injected}
    assert "smu1" in struck_boxes and len(struck_boxes) >= 2, struck_boxes
    with RunFile(tmp_path / "run.sqlite") as run:
        faults_seen = [e["detail"] for e in run.events(None, "fault")]
        jv = run.sweeps("b1", "jv")
    # Every fault is on record, on the box channel whose call met it (a fault on one channel
    # resets the link for its box-mate too, which then reconnects: more events, never fewer).
    met = ("timeout", "garbled", "link-lost", "device-error")
    for box in {r.instrument for r in injected}:
        struck = sum(r.instrument == box for r in injected)
        seen = sum(f["fault"] in met and f["instrument"] in (f"{box}a", f"{box}b")
                   for f in faults_seen)
        assert seen >= struck, (box, seen, struck)
    assert any(f["fault"] == "reboot-detected" for f in faults_seen)
    assert len(jv) >= 2
    if photodiodes == "smu-channel":  # the J–V–L is trigger-linked inside the box
        assert np.nanmax(jv[-1]["z"]) > 1000
    else:  # a 2400 photodiode meter cannot follow a 2602B's sweep: said, not faked
        assert np.isnan(jv[-1]["z"]).all()
        assert "not measured" in jv[-1]["params"]["light"]


# ---------------------------------------------------------------------------- config
def _config(channels: list[dict], instruments: dict | None = None):
    station = ({"instruments": instruments} if instruments else
               {"virtual": {"pixels": 2, "smu": "keithley2602b"}})
    text = {"study": "x", "station": station, "channels": channels}
    return parse_config(yaml.safe_dump(text), "c.yaml")


def test_a_channel_names_a_box_channel_either_way():
    base = {"area": "4 mm^2", "cd_m2_per_A": 1e8, "stress": {"current_density": "50 mA/cm^2"},
            "stop": {"max_time": "1 h"}}
    config = _config([{**base, "name": "p1", "pixel": 1,
                       "source_meter": {"instrument": "k1", "channel": "b"},
                       "photodetector": "k1a"}],
                     {"k1": {"driver": "keithley2602b", "resource": "TCPIP::x::SOCKET"}})
    assert (config.channels[0].smu_name, config.channels[0].pd_name) == ("k1b", "k1a")
    virtual = _config([{**base, "name": "p2", "pixel": 2}])
    assert virtual.channels[0].smu_name == "smu1b"


@pytest.mark.parametrize(("extra", "source_meter", "expected"), [
    ("", "{instrument: k1, channel: c}", "no instrument 'k1c' on the station"),
    ("    k2: {driver: keithley9999}\n", "k1a", "unknown driver 'keithley9999'"),
])
def test_a_box_channel_that_is_not_there_is_a_clear_error(tmp_path, extra, source_meter,
                                                          expected):
    path = tmp_path / "c.yaml"
    path.write_text("study: x\nstation:\n  instruments:\n    k1: {driver: keithley2602b}\n"
                    f"{extra}channels:\n"
                    "  - {name: p1, pixel: 1, area: 4 mm^2, cd_m2_per_A: 1e8,\n"
                    "     stress: {current_density: 50 mA/cm^2}, stop: {max_time: 1 h},\n"
                    f"     source_meter: {source_meter}, photodetector: k1b}}\n")
    with pytest.raises(ConfigError, match=expected):
        load_config(path)
