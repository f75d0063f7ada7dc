"""Every property of the unmodified pymeasure drivers, against the virtual bench.

Controls are set to a non-default value and read back; measurements are read and checked for
type and plausibility. Properties left out are named below with the reason.
"""

import warnings

import pytest
import serial
from pymeasure.instruments.agilent import AgilentE4980
from pymeasure.instruments.keithley import Keithley2400
from pymeasure.instruments.srs import SR830, SR860

from agelab.instruments.sim.bench import VirtualBench
from tests.bench_helpers import VISA

K2400_CONTROLS = {
    "source_mode": "current", "source_delay": 0.5, "source_delay_auto_enabled": False,
    "source_delay_auto": True, "auto_zero_enabled": False, "auto_zero": True,
    "output_off_state": "guard", "auto_output_off_enabled": False, "auto_output_off": True,
    "filter_enabled": True, "repeat_filter_enabled": False, "filter_type": "REP",
    "filter_count": 42, "current_range": 0.01, "current_range_auto_enabled": False,
    "current_nplc": 2.5, "compliance_current": 0.05, "source_current": 0.002,
    "source_current_range": 0.01, "source_current_range_auto_enabled": False,
    "voltage_range": 20.0, "voltage_range_auto_enabled": False, "voltage_nplc": 0.1,
    "compliance_voltage": 12.0, "source_voltage": 1.5, "source_voltage_range": 20.0,
    "source_voltage_range_auto_enabled": False, "resistance_mode_auto_enabled": True,
    "resistance_range": 2e4, "resistance_range_auto_enabled": False, "resistance_nplc": 3.0,
    "trigger_delay": 0.05, "arm_timer": 2.5, "trigger_source": "trigger_link",
    "arm_source": "timer", "trigger_output_event": "delay", "arm_output_event": "trigger_exit",
    "trigger_input_line": 3, "arm_input_line": 2, "trigger_output_line": 4,
    "arm_output_line": 1, "display_enabled": False, "wires": 4, "line_frequency": 60,
    "line_frequency_auto_enabled": False, "line_frequency_auto": True,
    "front_terminals_enabled": False, "trigger_count": 17, "arm_count": 3,
    "buffer_points": 500, "source_enabled": True,
}
# Left out: filter_state (deprecated in pymeasure; it expects 'ON' where a real 2400 answers 1).

SR830_CONTROLS = {
    "sine_voltage": 0.5, "frequency": 12345.0, "phase": 12.5, "sensitivity": 0.002,
    "time_constant": 0.3, "filter_slope": 18,
    "filter_synchronous": True, "harmonic": 3, "input_config": "I (1 MOhm)",
    "input_grounding": "Ground", "input_coupling": "DC", "input_notch_config": "Both",
    "reference_source": "Internal", "reference_source_trigger": "POS EDGE",
    "aux_out_1": 1.25, "aux_out_2": -0.5, "aux_out_3": 3.0, "aux_out_4": -2.5,
    "reserve": "Low Noise", "sample_frequency": 16.0,
}
# channel1/channel2 are set through pymeasure but read raw: the SR830 answers DDEF? i with "j,k",
# which pymeasure 0.16 returns as a list instead of mapping j back to its name.
SR830_MEASUREMENTS = ["x", "y", "magnitude", "theta", "aux_in_1", "aux_in_2", "aux_in_3",
                      "aux_in_4", "err_status", "lia_status", "xy"]

SR860_CONTROLS = {
    "phase": 33.25, "frequency": 103000.0, "internalfrequency": 5000.0, "harmonic": 3,
    "harmonicdual": 2, "sine_voltage": 0.25, "timebase": 1, "dcmode": "DIF",
    "reference_source": "EXT", "reference_triggermode": "POSTTL", "input_signal": "CURR",
    "input_voltage_mode": "A-B", "input_coupling": "DC", "input_shields": "Ground",
    "input_range": "30M", "input_current_gain": "100MEG", "sensitivity": 0.005,
    "time_constant": 0.03, "filter_slope": 3, "filter_synchronous": "On",
    "frequencypreset1": 777.0, "frequencypreset2": 888.0, "frequencypreset3": 999.0,
    "frequencypreset4": 1111.0, "sine_amplitudepreset1": 0.125, "sine_amplitudepreset2": 0.25,
    "sine_amplitudepreset3": 0.375, "sine_amplitudepreset4": 0.5, "sine_dclevelpreset1": 1.5,
    "sine_dclevelpreset2": -1.0, "sine_dclevelpreset3": 0.25, "sine_dclevelpreset4": -2.0,
    "aux_out_1": 2.5, "aux_out_2": 0.5, "aux_out_3": -1.25, "aux_out_4": 4.0,
    "front_panel": "1", "screen_layout": "3", "parameter_DAT1": 5, "parameter_DAT2": 6,
    "parameter_DAT3": 7, "parameter_DAT4": 11, "strip_chart_dat1": "1", "strip_chart_dat2": "1",
    "strip_chart_dat3": "0", "strip_chart_dat4": "1",
}
# Left out (pymeasure 0.16 defects: the setter's mnemonic differs from the query's, or is a
# broken format string): filter_advanced (ADVFIL vs ADVFILT?), horizontal_time_div (GSDP vs
# GSPD?), reference_externalinput ("REFZ&d"). The deprecated aliases input_config,
# input_grounding, reference_source_trigger and the typo'd filer_synchronous / sensitvity map to
# properties walked above.
SR860_MEASUREMENTS = ["x", "y", "magnitude", "theta", "aux_in_1", "aux_in_2", "aux_in_3",
                      "aux_in_4", "gettimebase", "extfreqency", "detectedfrequency",
                      "get_signal_strength_indicator", "get_noise_bandwidth"]

E4980_CONTROLS = {"ac_voltage": 0.05, "ac_current": 0.002, "frequency": 12345.0, "mode": "CPG",
                  "trigger_source": "BUS"}


def _walk(inst, controls: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, value in controls.items():
            setattr(inst, name, value)
            got = getattr(inst, name)
            if isinstance(value, float):
                assert got == pytest.approx(value), name
            else:
                assert got == value, name


@pytest.fixture
def bench():
    with VirtualBench("red-cdse", pixels=1, seed=2) as b:
        yield b


def test_keithley2400_every_property(bench):
    smu = Keithley2400(bench.resources["smu1"], **VISA)
    assert smu.id.startswith("KEITHLEY INSTRUMENTS INC.,MODEL 2400")
    _walk(smu, K2400_CONTROLS)
    smu.source_current = 1e-3
    smu.compliance_voltage = 10
    smu.front_terminals_enabled = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert 2.0 < smu.voltage < 3.5
        assert smu.current == pytest.approx(1e-3, rel=1e-3)
        assert smu.resistance > 1e3
        smu.config_buffer(points=5)
        smu.start_buffer()
        smu.wait_for_buffer(timeout=5)
        assert len(smu.buffer_data) == 5 * 5
        assert smu.means == pytest.approx(smu.minimums, rel=0.01)
        assert smu.maximums >= smu.minimums and smu.standard_devs >= 0
    assert smu.next_error[0] == 0
    smu.shutdown()
    assert smu.source_enabled is False


def test_e4980_every_property(bench):
    lcr = AgilentE4980(bench.resources["lcr"], **VISA)
    assert lcr.ask("*IDN?").startswith("Keysight Technologies,E4980A")
    _walk(lcr, E4980_CONTROLS)
    a, _ = lcr.impedance
    assert a == pytest.approx(5e-15, rel=0.01)  # an open fixture: nothing routed to the LCR
    with serial.Serial(bench.resources["relay"], 115200, timeout=2) as relay:
        relay.write(b"ROUTE 1 LCR\n")
        assert relay.readline() == b"OK\n"
    lcr.trigger_source = "INT"
    lcr.mode = "CPD"
    freqs = [1e2, 1e3, 1e4, 1e5]
    caps, losses, read_freqs = lcr.freq_sweep(freqs, return_freq=True)
    assert read_freqs == pytest.approx(freqs)
    # at 0 V bias there is no accumulated charge: the geometric capacitance at every frequency
    assert caps == pytest.approx([1.24e-9] * 4, rel=0.01)
    assert losses[0] > losses[-1] > 0


@pytest.mark.parametrize(("model", "driver", "controls", "measurements"), [
    ("sr830", SR830, SR830_CONTROLS, SR830_MEASUREMENTS),
    ("sr860", SR860, SR860_CONTROLS, SR860_MEASUREMENTS)])
def test_lockin_every_property(model, driver, controls, measurements):
    with VirtualBench("red-cdse", lockin=model) as bench:
        li = driver(bench.resources["lockin"], **VISA)
        assert li.ask("*IDN?").startswith(f"Stanford_Research_Systems,{model.upper()}")
        _walk(li, controls)
        if model == "sr830":
            li.channel1, li.channel2 = "R", "Theta"
            assert (li.ask("DDEF?1"), li.ask("DDEF?2")) == ("1,0", "1,0")
        for name in measurements:
            value = getattr(li, name)
            assert value is not None, name
            if isinstance(value, float):
                assert abs(value) < 1e6, name
