"""``agelab sim --describe`` as a user runs it: a separate process, its output and exit code."""

import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "agelab.protocols.cli", *args],
                          capture_output=True,
                          text=True, timeout=120)


def test_describe_prints_the_presets_figures():
    out = run("sim", "--describe", "blue-znsete")
    assert out.returncode == 0, out.stderr
    assert "T50 at L0 = 1000 cd/m2" in out.stdout
    assert "61,000 cd/m2" in out.stdout
    assert "OFF" not in out.stdout


def test_unknown_preset_is_one_line_and_no_traceback():
    out = run("sim", "--describe", "green-inp")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "agelab sim: error: unknown QLED preset 'green-inp'; choose one of: blue-znsete, red-cdse"]
    assert "Traceback" not in out.stderr
