"""Malformed and unsafe configs: each gives one line naming the file line and the field, and none
touches an instrument."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agelab.protocols.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]
GOOD = (ROOT / "config.yaml").read_text()


def _edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


CASES = [
    # (name, edited config, expected line marker, words the message must contain)
    ("unit", _edit("current_density: 50 mA/cm^2", "current_density: 50 mA"),
     "current_density: 50 mA}", ["channels[0] (blue-50).stress.current_density", "mA/cm^2"]),
    ("unknown unit", _edit("sampling: 1 min", "sampling: 1 fortnightz"), "sampling: 1 fortnightz",
     ["sampling", "cannot read"]),
    ("typo field", _edit("cd_m2_per_A: 1.70e8", "cd_m2_per_A: 1.70e8\n    stres: {}"),
     "stres: {}", ["channels[3] (red-100).stres", "unknown field"]),
    ("over safety J", _edit("current_density: 200 mA/cm^2", "current_density: 400 mA/cm^2"),
     "current_density: 400", ["exceeds safety.max_current_density"]),
    ("over safety V", _edit("stress: {compliance: 8 V,", "stress: {compliance: 30 V,"),
     "compliance: 30 V", ["stress.compliance", "exceeds safety.max_voltage"]),
    ("jv beyond V", _edit("stop: 4.5 V", "stop: 40 V"), "stop: 40 V",
     ["measurements.jvl.stop", "safety.max_voltage"]),
    ("measurement named like a kind", _edit("jvl:  {kind: jv, start: 0 V, stop: 4.5 V",
                                            "jv:  {kind: jv, start: 0 V, stop: 40 V"),
     "stop: 40 V", ["measurements.jv.stop", "safety.max_voltage"]),
    ("no such pixel", _edit("pixel: 4", "pixel: 9"), "pixel: 9", ["no pixel 9"]),
    ("pixel twice", _edit("pixel: 2", "pixel: 1"), "pixel: 1\n    cd_m2_per_A: 8.54e7\n"
     "    stress: {current_density: 100", ["pixel 1 is already channel"]),
    ("unknown measurement", _edit("measure: [jvl, el]}", "measure: [jvl, ir]}"),
     "measure: [jvl, ir]", ["no measurement named 'ir'"]),
    ("bad milestone", _edit("T98 from Lmax: [cv]", "T98 from Lpeak: [cv]"), "T98 from Lpeak",
     ["not a milestone"]),
    ("missing", _edit("    cd_m2_per_A: 1.70e8\n", ""), "name: red-100",
     ["red-100", "cd_m2_per_A", "required"]),
    ("negative", _edit("speedup: 1500", "speedup: -3"), "speedup: -3",
     ["station.virtual.speedup", "greater than 0"]),
    ("bad preset", _edit("red-cdse]", "green-ink]"), "pixels:", ["unknown preset 'green-ink'"]),
    ("not yaml", _edit("study: acceleration-and-elevation", "study: [unclosed"), "channels:",
     ["not valid YAML"]),
    ("area", _edit("area: 4 mm^2", "area: 5 mm^2"), "area: 5 mm^2",
     ["not the virtual pixel's area"]),
    ("voltage stress without its limit", _edit("stress: {current_density: 200 mA/cm^2}",
                                               "stress: {voltage: 3.5 V}"),
     "stress: {voltage: 3.5 V}", ["blue-200).stress.current_limit", "needs its current limit"]),
    ("voltage stress over safety V", _edit("stress: {current_density: 200 mA/cm^2}",
                                           "stress: {voltage: 35 V, current_limit: 100 mA/cm^2}"),
     "voltage: 35 V", ["stress.voltage", "exceeds safety.max_voltage"]),
    ("voltage stress limit over safety J",
     _edit("stress: {current_density: 200 mA/cm^2}",
           "stress: {voltage: 3.5 V, current_limit: 900 mA/cm^2}"),
     "current_limit: 900", ["stress.current_limit", "exceeds safety.max_current_density"]),
    ("current and voltage stress", _edit("stress: {current_density: 200 mA/cm^2}",
                                         "stress: {current_density: 200 mA/cm^2, voltage: 3 V}"),
     "voltage: 3 V", ["stress.voltage", "not both"]),
    ("log start not shorter than the interval",
     _edit("log_sampling: {first: 5 s,", "log_sampling: {first: 2 min,"), "first: 2 min",
     ["log_sampling.first", "not shorter than the sampling interval"]),
    ("light average over the filter", _edit("light_average: 20", "light_average: 500"),
     "light_average: 500", ["light_average", "100"]),
]


@pytest.mark.parametrize("name, text, marker, words", CASES, ids=[c[0] for c in CASES])
def test_config_error_is_one_line_with_field_and_line(name, text, marker, words):
    with pytest.raises(ConfigError) as err:
        parse_config(text, "study.yaml")
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    line = int(message.split(":")[1])
    if name == "not yaml":
        assert line >= _line_of(text, "study: [unclosed")
    else:
        assert line == _line_of(text, marker.splitlines()[0]) or marker.count("\n"), message


def test_the_default_study_is_valid():
    config = load_config(ROOT / "config.yaml")
    assert [c.name for c in config.channels] == ["blue-50", "blue-100", "blue-200", "red-100"]


def test_cli_refuses_an_unsafe_config_before_touching_anything(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(_edit("current_density: 200 mA/cm^2", "current_density: 400 mA/cm^2"))
    out = subprocess.run([sys.executable, "-m", "agelab.protocols.cli", "run", str(bad), "--out",
                          str(tmp_path / "runs")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert f"bad.yaml:{_line_of(bad.read_text(), '400 mA')}:" in out.stderr
    assert not (tmp_path / "runs").exists()  # no run file, no bench, no instrument


def test_check_validates_the_whole_study_before_the_station(tmp_path):
    """`agelab check` connected to the station of a study it did not validate, and said ok."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(_edit("log_sampling: {first: 5 s,", "log_sampling: {first: 2 min,"))
    out = subprocess.run([sys.executable, "-m", "agelab.protocols.cli", "check", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"bad.yaml:{_line_of(bad.read_text(), 'first: 2 min')}:" in out.stderr
    assert "log_sampling.first" in out.stderr and "station of" not in out.stdout


def test_cli_unreachable_instrument_is_one_line(tmp_path):
    """A station whose source-meter does not answer: one line naming it, exit 2, no traceback."""
    text = _edit("station:\n  virtual:", "speedup: 100\nstation:\n  instruments:\n"
                 "    smu1: {driver: keithley2400, resource: 'TCPIP::127.0.0.1::9::SOCKET',"
                 " options: {timeout: 300}, patience_s: 2}\n  virtual:")
    bad = tmp_path / "unreachable.yaml"
    bad.write_text(text)
    out = subprocess.run([sys.executable, "-m", "agelab.protocols.cli", "run", str(bad), "--out",
                          str(tmp_path / "runs"), "--in-process-bench"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "smu1" in out.stderr.splitlines()[-1]
