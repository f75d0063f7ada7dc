"""A report of whatever a run holds: no C–V taken, killed before its first checkpoint, or still
being written. Each gives its figures for what exists and names what is missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from agelab.protocols.report.writer import write_report
from agelab.protocols.store import RunFile
from tests.engine_helpers import channel, run_in_thread, study

AGELAB = [sys.executable, "-m", "agelab.protocols.cli"]


def _summary(out):
    data = json.loads((out / "summary.json").read_text())
    return data, {c["name"]: c for c in data["channels"]}


def test_run_without_cv(tmp_path):
    data = study([channel("b", 1, "blue-znsete", 200, stop={"max_time": "40 min"},
                          checkpoints={"every": "20 min", "measure": ["jvl", "el"]})],
                 ["blue-znsete"])
    _, thread, result = run_in_thread(data, tmp_path / "run.sqlite")
    thread.join(120)
    assert result["statuses"] == {"b": "finished"}
    report = write_report(tmp_path / "run.sqlite", tmp_path / "report")
    data, chans = _summary(tmp_path / "report")
    b = chans["b"]
    assert b["cv_onset_first_V"] is None and "C–V: no sweep taken" in b["missing"]
    assert b["ideality_min_first"] is not None and b["el_peak_last_nm"] is not None
    assert b["T50_h"] is None and "T50_h" in b["censored"] and b["T90_h"] is not None
    assert data["study"]["acceleration_n"] is None  # one channel: no fit, and it says why
    assert any("acceleration fit" in m for m in data["study"]["missing"])
    names = {p.name for p in report.figures}
    assert {"lifetime.png", "jvl_b.png", "el_spectra_b.png"} <= names
    assert "cv_b.png" not in names
    page = report.html.read_text()
    assert "C–V: no sweep taken" in page and "figure not drawn: b: C–V family" in page


def _wait_for(path, samples, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with RunFile(path) as run:
                if run.sample_count() >= samples:
                    return
        except Exception:  # tables not created yet
            pass
        time.sleep(0.05)
    raise AssertionError(f"fewer than {samples} samples in {path}")


def test_run_killed_before_its_first_checkpoint(tmp_path):
    data = study([channel("b", 1, "blue-znsete", 100, stop={"max_time": "500 h"},
                          checkpoints={"at_start": False, "every": "100 h",
                                       "measure": ["jvl", "cv", "el", "pl"]})],
                 ["blue-znsete"], speedup=1000)
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = tmp_path / "runs"
    proc = subprocess.Popen([*AGELAB, "run", str(cfg), "--out", str(out), "--in-process-bench"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("*.sqlite")) and time.monotonic() < deadline:
            time.sleep(0.05)
        (path,) = list(out.glob("*.sqlite"))
        _wait_for(path, 15)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    time.sleep(0.2)
    assert subprocess.run([*AGELAB, "report", str(path), "--to", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120).returncode == 0
    data, chans = _summary(tmp_path / "r")
    b = chans["b"]
    assert b["L0_cd_m2"] > 0 and b["T50_h"] is None
    for key in ("ideality_min_first", "cv_onset_first_V", "el_peak_first_nm", "pl_rel_last"):
        assert b[key] is None
    assert {"J–V–L: no sweep taken", "C–V: no sweep taken", "EL spectra: none taken",
            "PL: no lock-in reading taken"} <= set(b["missing"])
    page = (tmp_path / "r" / "report.html").read_text()
    assert "did not finish" in page and data["report"]["live"] is False
    assert (tmp_path / "r" / "lifetime.png").is_file()


def test_run_still_being_written(tmp_path):
    data = study([channel("b", 1, "blue-znsete", 100, stop={"max_time": "500 h"},
                          checkpoints={"measure": ["jvl"]})], ["blue-znsete"], speedup=1000)
    engine, thread, _ = run_in_thread(data, tmp_path / "run.sqlite")
    try:
        _wait_for(tmp_path / "run.sqlite", 20)
        report = write_report(tmp_path / "run.sqlite", tmp_path / "live")
        assert report.live
        assert "still being written" in report.html.read_text()
        n_then = report.summary["channels"][0]["t_end_h"]
        assert n_then is not None and n_then > 0
        assert report.summary["channels"][0]["ideality_min_first"] is not None
    finally:
        engine.abort()
        thread.join(60)
    assert not thread.is_alive()


@pytest.mark.parametrize("junk", [b"", b"not a database at all"])
def test_report_of_a_junk_file_is_one_line(tmp_path, junk):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(junk)
    proc = subprocess.run([*AGELAB, "report", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("first_h, shape, said_as", [(0.003, "decay", None),
                                                     (1.0, "decay", "notes"),
                                                     (1.0, "rise", "missing")])
def test_a_late_first_reading_is_read_back_or_said_to_compromise_l0(tmp_path, first_h, shape,
                                                                    said_as):
    """Soak finding: at 6000x a retried first light reading landed a device-hour into the
    stress, so L0 was a pixel already aged that long and its T95 came out 6 % late against the
    twin. A run without the engine's record of when the reading was due (an older file, a
    first sample lost) has L0 read back to 10 s into the stress off its early decay, and the
    report says so; a trace that is no such decay keeps the late reading, and the report says
    what that compromises. A first reading on time is read at 10 s too, and nothing said."""
    import numpy as np

    from agelab.protocols.analysis.l0 import L0_AT_H
    from agelab.protocols.analysis.study import analyse
    from agelab.protocols.store import RunWriter
    from agelab.protocols.store.records import Sample

    path = tmp_path / "run.sqlite"
    writer = RunWriter(path)
    writer.add_channel("b1", 1, 0.04, 50.0)
    writer.start()
    for t in np.concatenate([[first_h], np.arange(1, 600) / 60 + first_h]):
        light = np.exp(-t / 200) if shape == "decay" else 2 - np.exp(-t / 50)
        writer.write(Sample("b1", float(t), 50.0, 3.0, 1000.0 * light, 1e-5))
    writer.close()
    with RunFile(path) as run:
        (ch,) = analyse(run).channels
    said = {kind: [m for m in getattr(ch, kind) if m.startswith("L0:")]
            for kind in ("notes", "missing")}
    assert {k for k, v in said.items() if v} == ({said_as} if said_as else set())
    if shape == "decay":  # 995.0 read at 1 h
        assert ch.lifetimes.l0_fit.due_h == L0_AT_H
        assert ch.lifetimes.l0 == pytest.approx(1000.0 * np.exp(-L0_AT_H / 200), rel=1e-6)
    if said_as == "notes":
        assert "1 h late" in said["notes"][0]
    if said_as == "missing":
        assert "1 h into the stress" in said["missing"][0]
        assert ch.lifetimes.l0 == ch.samples[0, 3]  # the late reading kept
