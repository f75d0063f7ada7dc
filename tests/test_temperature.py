"""Temperature: the virtual TEC and its driver, the pixel's thermal model and Arrhenius aging,
the run's wait for a stable stage, each sample's temperature, excursions handled as the config
says, and the joint fit of n and Ea recovering the virtual device's."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import as_config, channel, current_drives, run_in_thread, study
from pymeasure.instruments.keithley import Keithley2510
from pymeasure.test import expected_protocol

from agelab.instruments.drivers.tec import Keithley2510TEC
from agelab.instruments.sim.bench import VirtualBench
from agelab.instruments.sim.model.qled import QledPixel
from agelab.protocols.analysis.study import analyse
from agelab.protocols.config import ConfigError, load_config
from agelab.protocols.engine.engine import Engine
from agelab.protocols.store import RunFile

SOCKET = {"read_termination": "\n", "write_termination": "\n", "timeout": 3000,
          "visa_library": "@py"}
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "temperature-accelerated.yaml"


# ---------------------------------------------------------------------------- the model
def test_the_pixel_ages_faster_when_hot_and_its_forward_voltage_falls():
    cool, hot = QledPixel("blue-znsete"), QledPixel("blue-znsete")
    hot.set_temperature(hot.reference_k + 40.0)
    ea, k = hot.preset.activation_energy_ev, 8.617333262e-5
    expected = np.exp(-ea / k * (1 / hot.temperature_k - 1 / hot.reference_k))
    assert hot._dose_rate(100.0) / cool._dose_rate(100.0) == pytest.approx(expected)
    assert hot.voltage(100.0) == pytest.approx(cool.voltage(100.0) - 0.08, abs=0.01)


# ---------------------------------------------------------------------------- TEC and driver
def test_the_tec_driver_sends_the_set_point_before_the_output():
    with expected_protocol(Keithley2510TEC, [(":SOUR:TEMP 85;:OUTP ON;*OPC?", "1"),
                                             (":MEAS:TEMP?", "8.4998E+01"),
                                             (":MEAS:TEMP?", "9.91E+37"),
                                             (":OUTP OFF;*OPC?", "1")]) as tec:
        tec.hold(85)
        assert tec.read_temperature() == pytest.approx(84.998)
        with pytest.raises(ValueError, match="no stage temperature"):
            tec.read_temperature()
        tec.shutdown()


def test_pymeasures_own_2510_driver_holds_the_virtual_stage():
    with VirtualBench(["blue-znsete"], speedup=3600, tec=True) as bench:
        tec = Keithley2510(bench.resources["tec1"], **SOCKET)
        tec.temperature_setpoint = 60.0
        tec.temperature_pid = (10.0, 0.2, 0.0)
        tec.temperature_protection_range = (5.0, 90.0)
        tec.enable_source()
        assert tec.temperature_setpoint == 60.0
        assert tec.temperature_pid == (10.0, 0.2, 0.0)
        assert tec.temperature_protection_range == (5.0, 90.0)
        deadline = time.monotonic() + 5
        while abs(tec.temperature - 60.0) > 0.05 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert tec.temperature == pytest.approx(60.0, abs=0.05)
        assert bench.rig.sites[0].pixel.temperature_k == pytest.approx(333.15, abs=0.05)
        tec.write(":SOUR:TEMP 500")  # out of range: refused into the error queue
        assert int(float(tec.values(":SYST:ERR?")[0])) == -222
        tec.adapter.close()


# ---------------------------------------------------------------------------- the run
def _tec_study(on_excursion: str = "log", **temperature) -> dict:
    ch = channel("hot", 1, "blue-znsete", 100, sampling="30 s", stop={"max_time": "1 h"},
                 holdoff="3 min",
                 temperature={"setpoint": "45 °C", "tolerance": "0.5 K", "settle": "2 min",
                              "on_excursion": on_excursion, **temperature})
    data = study([ch], ["blue-znsete"], speedup=3000)
    data["station"]["virtual"]["tec"] = True
    return data


def _upset_stage_after(engine, seconds: float, off_for: float | None = None) -> None:
    """The TEC stops regulating after ``seconds`` (its output cut behind the run's back), and
    regulates again after ``off_for`` more, if given."""
    def act() -> None:
        time.sleep(seconds)
        thermal = engine.virtual_bench.rig.sites[0].thermal
        with engine.virtual_bench.rig.sites[0].lock:
            engine.virtual_bench.rig.sites[0].sync()
            thermal.regulating = False
        if off_for is not None:
            time.sleep(off_for)
            with engine.virtual_bench.rig.sites[0].lock:
                engine.virtual_bench.rig.sites[0].sync()
                thermal.regulating = True

    threading.Thread(target=act, daemon=True).start()


def test_no_stress_before_the_stage_is_stable_and_every_sample_has_its_temperature(tmp_path):
    engine, thread, result = run_in_thread(_tec_study(), tmp_path / "run.sqlite")
    thread.join(300)
    assert result.get("statuses") == {"hot": "finished"}, result
    with RunFile(tmp_path / "run.sqlite") as run:
        (stable,) = run.events("hot", "temperature-stable")
        started = run.events("hot", "l0")[0]
        temps = run.readings("hot", "temperature")
        samples = run.samples("hot", ("t_h", "l_cd_m2"))
    assert stable["detail"]["temperature_c"] == pytest.approx(45.0, abs=0.5)
    assert stable["detail"]["waited_s"] >= 120.0
    assert stable["wall"] < started["wall"]
    site = engine.virtual_bench.rig.sites[0]
    first_drive_h = next(h for h, j, _ in site.drive_history if j > 0)
    assert first_drive_h * 3600 >= 120.0  # device seconds: no current before the settle
    assert len(temps) == len(samples)
    celsius = np.array([r["x"] for r in temps])
    # The pixel's own J·V heats it at once when the stress comes on (100 K/W × 13 mW), and
    # the controller pulls it back to the set point within minutes.
    assert celsius[0] > 45.5
    assert np.all(np.abs(celsius[-10:] - 45.0) < 0.05)


def _run_with_an_upset(tmp_path, action: str, off_for: float | None = None):
    """A run at 45 °C whose TEC stops regulating 0.5 s in (for ``off_for`` s, if given)."""
    engine, thread, result = run_in_thread(_tec_study(action), tmp_path / "run.sqlite")
    _upset_stage_after(engine, 0.5, off_for)
    thread.join(300)
    return engine, result


def test_an_excursion_is_logged_and_the_run_goes_on(tmp_path):
    _, result = _run_with_an_upset(tmp_path, "log")
    assert result.get("statuses") == {"hot": "finished"}, result
    with RunFile(tmp_path / "run.sqlite") as run:
        (excursion,) = run.events("hot", "temperature-excursion")
    assert excursion["detail"]["action"] == "log"
    assert abs(excursion["detail"]["temperature_c"] - 45.0) > 0.5


def test_an_excursion_stops_the_channel_safely_when_the_config_says_stop(tmp_path):
    engine, result = _run_with_an_upset(tmp_path, "stop")
    assert result.get("statuses") == {"hot": "stopped"}, result
    with RunFile(tmp_path / "run.sqlite") as run:
        assert run.channel("hot").state["stop_reason"] == "temperature excursion"
    site = engine.virtual_bench.rig.sites[0]
    assert site.present_j() == 0.0 and current_drives(site)[-1] == 0.0


def test_an_excursion_pauses_the_stress_until_the_stage_is_back(tmp_path):
    engine, result = _run_with_an_upset(tmp_path, "pause", off_for=0.3)
    assert result.get("statuses") == {"hot": "finished"}, result
    with RunFile(tmp_path / "run.sqlite") as run:
        (excursion,) = run.events("hot", "temperature-excursion")
        back = [e for e in run.events("hot", "temperature-back") if e["detail"].get("resumed")]
    assert excursion["detail"]["action"] == "pause" and back
    drives = current_drives(engine.virtual_bench.rig.sites[0])
    off = [k for k, j in enumerate(drives) if j == 0.0]
    assert any(0 < k < len(drives) - 1 for k in off)  # off in the middle, then on again


def test_a_stage_that_never_settles_fails_the_channel_before_any_stress(tmp_path):
    data = _tec_study(tolerance="0.0001 K", timeout="10 min")
    engine, thread, result = run_in_thread(data, tmp_path / "run.sqlite")
    thread.join(300)
    assert result.get("statuses") == {"hot": "failed"}, result
    assert not any(current_drives(engine.virtual_bench.rig.sites[0]))  # never a current
    with RunFile(tmp_path / "run.sqlite") as run:
        (error,) = run.events("hot", "error")
    assert "did not settle" in error["detail"]["message"]


@pytest.mark.parametrize(("tec", "second", "expected"), [
    (False, None, "tec: true"),
    (True, "35 °C", "one stage has one set point"),
])
def test_temperature_mistakes_are_config_errors(tec, second, expected):
    chs = [channel("a", 1, "blue-znsete", 50, stop={"max_time": "1 h"},
                   temperature={"setpoint": "45 °C"})]
    if second:
        chs.append(channel("b", 2, "blue-znsete", 50, stop={"max_time": "1 h"},
                           temperature={"setpoint": second, "controller": "tec1"}))
    data = study(chs, ["blue-znsete"] * len(chs))
    data["station"]["virtual"]["tec"] = tec
    with pytest.raises(ConfigError, match=expected):
        as_config(data)


# ---------------------------------------------------------------------------- the joint fit
def test_the_temperature_study_recovers_the_virtual_devices_n_and_ea(tmp_path):
    config = load_config(EXAMPLE)
    run_path = tmp_path / "run.sqlite"
    statuses = Engine(config, run_path, config_text=EXAMPLE.read_text()).run()
    assert set(statuses.values()) == {"finished"}
    with RunFile(run_path) as run:
        study_ = analyse(run)
    fit = study_.joint["T90"]
    assert len(fit.points) == 9
    preset_n, preset_ea = 1.8, 0.45  # blue-znsete: AcceleratedDecayLaw n, the preset's Ea
    # Within 1 % and 2 %: the interval is the fit's scatter only (±0.005 on n here), smaller
    # than the ~0.5 % a T90 moves by L0 being read 10 s into the stress.
    assert abs(fit.n - preset_n) < 0.018 and abs(fit.ea_ev - preset_ea) < 0.009, fit
    assert fit.n_ci[0] < fit.n < fit.n_ci[1] and fit.ea_ci[0] < fit.ea_ev < fit.ea_ci[1]
    assert fit.n_ci[1] - fit.n_ci[0] < 0.1 and fit.ea_ci[1] - fit.ea_ci[0] < 0.02
    assert fit.t_ci_at(100, 25)[0] < fit.t_at(100, 25) < fit.t_ci_at(100, 25)[1]


def test_faults_on_the_tec_are_on_record_and_a_rebooted_tec_holds_the_set_point_again(tmp_path):
    data = _tec_study()
    data["channels"][0]["stop"] = {"max_time": "2 h"}
    # A lost reply costs its timeout, 0.5 s here (25 device-minutes at 3000x) before the
    # rebooted TEC is reconnected and given its set point back.
    data["station"]["virtual"].update(timeout_ms=500, faults=[
        "timeout:0.01:tec", "garble:0.01:tec", "reboot@0.5:tec1"])
    engine, thread, result = run_in_thread(data, tmp_path / "run.sqlite")
    thread.join(300)
    assert result.get("statuses") == {"hot": "finished"}, result
    struck = [r for r in engine.virtual_bench.fault_log if r.instrument == "tec1"]
    assert any(r.kind.value == "reboot" for r in struck)
    with RunFile(tmp_path / "run.sqlite") as run:
        faults = [e["detail"] for e in run.events("hot", "fault")]
        celsius = np.array([r["x"] for r in run.readings("hot", "temperature")])
    assert sum(f["instrument"] == "tec1" and f["fault"] in ("timeout", "garbled", "link-lost")
               for f in faults) >= len(struck)
    assert any(f["fault"] == "reconfigured" and "hold" in f["detail"] for f in faults)
    assert abs(celsius[-1] - 45.0) < 0.5  # regulating again after the reboot
