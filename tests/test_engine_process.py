"""The engine as users run it, in its own process: SIGINT and SIGTERM stop it safely, and after a
kill -9 ``agelab resume`` continues the run with the gap recorded and nothing committed lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from agelab.instruments.sim.bench import VirtualBench
from agelab.instruments.station import bench_instruments
from agelab.instruments.station.virtual import pid_alive
from agelab.protocols.store import RunFile
from tests.engine_helpers import assert_ramped_down, channel, study

AGELAB = [sys.executable, "-m", "agelab.protocols.cli"]


def _wait_for_samples(out: Path, count: int, timeout: float = 60.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = list(out.glob("*.sqlite"))
        if runs:
            try:
                with RunFile(runs[0]) as run:
                    if run.sample_count() >= count:
                        return runs[0]
            except Exception:  # the file may not have its tables yet
                pass
        time.sleep(0.1)
    raise AssertionError(f"no {count} samples in {out} within {timeout} s")


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_safely(tmp_path, sig, code):
    """A rack of our own (the bench in this process), the engine in another: after the signal
    every pixel the engine drove is ramped down and off."""
    with VirtualBench(["blue-znsete"] * 2, speedup=3000, seed=2) as bench:
        instruments = {name: spec.model_dump() for name, spec in
                       bench_instruments(bench.resources, timeout_ms=3000).items()}
        data = study([channel(f"b{i}", i, "blue-znsete", 100, stop={"max_time": "200 h"})
                      for i in (1, 2)], [], speedup=3000)
        data["station"] = {"instruments": instruments}
        data["speedup"] = 3000  # the bench is not the engine's to start: say how fast it runs
        cfg = tmp_path / "study.yaml"
        cfg.write_text(yaml.safe_dump(data))
        proc = subprocess.Popen([*AGELAB, "run", str(cfg), "--out", str(tmp_path / "runs")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            run_path = _wait_for_samples(tmp_path / "runs", 20)
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == code, err
        assert "Traceback" not in err and f"agelab resume {run_path}" in out
        for site in bench.rig.sites:
            assert_ramped_down(site, 100.0, 10)
        with RunFile(run_path) as run:
            assert run.meta()["status"] == "stopped"
            assert {e["channel"] for e in run.events(kind="output-off")} == {"b1", "b2"}


def _start_run(data: dict, tmp_path: Path) -> subprocess.Popen:
    """``agelab run`` of the study in its own process (its bench in another), writing to runs/."""
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump(data))
    return subprocess.Popen([*AGELAB, "run", str(cfg), "--out", str(tmp_path / "runs")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_kill_9_then_resume(tmp_path):
    """The default path: the engine starts the virtual bench as its own process. Killed with
    SIGKILL, the engine does nothing; the bench keeps sourcing, as a real rack does; resume finds
    it, records the gap, and finishes the run. (A J–V every 2 h, not every 30 min: a kill that
    lands inside a J–V rightly finds the source off, and under CPU load that became likely.)"""
    data = study([channel("b1", 1, "blue-znsete", 200, stop={"at": "T50"},
                          checkpoints={"every": "2 h", "measure": ["jvl"]})],
                 ["blue-znsete"], speedup=2000)
    proc = _start_run(data, tmp_path)
    bench_pid = None
    try:
        run_path = _wait_for_samples(tmp_path / "runs", 30)
        with RunFile(run_path) as run:
            bench_pid = run.meta()["bench"]["pid"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        with RunFile(run_path) as run:
            committed = run.samples("b1")
            last_wall = float(run.samples("b1", ("wall",))[-1, 0])
        assert pid_alive(bench_pid), "the rack must outlive its computer"
        time.sleep(0.5)  # the gap: 0.28 device hours under stress
        resumed = subprocess.run([*AGELAB, "resume", str(run_path)], capture_output=True,
                                 text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        assert "Traceback" not in resumed.stderr
        with RunFile(run_path) as run:
            assert run.integrity() == "ok"
            after = run.samples("b1")
            # Nothing committed before the kill is lost.
            assert np.isin(committed[:, 0], after[:, 0]).all()
            (gap,) = run.events("b1", "gap")
            assert gap["detail"]["kept_sourcing"] is True and gap["detail"]["gap_h"] > 0.2
            # The gap spans from the last committed sample to the moment the resume measured it
            # (the crash test checks every kill lies inside such a span).
            assert gap["wall"] - gap["detail"]["wall_s"] == pytest.approx(last_wall, abs=1e-6)
            assert run.channel("b1").state["status"] == "finished"
            assert run.events("b1", "milestone")[-1]["detail"]["name"] == "T50"
            assert run.meta()["status"] == "finished"
            # Stress time runs on through the gap: the device was stressed all along.
            t = after[:, 0]
            assert np.all(np.diff(t) > 0)
            # ... every second of it: the stress time from the last sample before the kill to
            # the first after the resume is their wall-time distance (once 0.2-0.9 s short, the
            # time the resume took between measuring the gap and restarting its clock).
            walls = run.samples("b1", ("t_h", "wall"))
            n = len(committed)
            (t0, w0), (t1, w1) = walls[n - 1], walls[n]
            lost_s = (w1 - w0) - (t1 - t0) * 3600.0 / 2000
            # (A sample's stamp and its reading are a few ms apart under load: 24 ms once.)
            assert abs(lost_s) < 0.06, f"{lost_s * 1e3:.0f} ms of the gap's stress not counted"
        deadline = time.monotonic() + 15
        while pid_alive(bench_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid_alive(bench_pid), "the bench is stopped when the run ends"
    finally:
        proc.kill()
        if bench_pid and pid_alive(bench_pid):
            os.kill(bench_pid, signal.SIGKILL)


def test_a_resume_killed_before_its_first_sample_keeps_the_stress_it_found(tmp_path):
    """Regression (crash test): a resume found the source still sourcing, began with a
    checkpoint's J–V (output off) and was killed there before it committed a sample. The next
    resume found the source off and counted the whole gap since the last sample as rest: the
    stress hours the first resume had found were lost (0.95 h of a blue T50 of 15 h). The first
    resume's gap is now on disk before any output changes, and the next gap starts from it."""
    from agelab.instruments.drivers.keithley import Keithley2400
    from agelab.instruments.station import SOCKET_DEFAULTS

    data = study([channel("b1", 1, "blue-znsete", 200, stop={"max_time": "6 h"})],
                 ["blue-znsete"], speedup=2000)
    proc = _start_run(data, tmp_path)
    bench_pid = None
    try:
        run_path = _wait_for_samples(tmp_path / "runs", 20)
        with RunFile(run_path) as run:
            meta = run.meta()
        bench_pid = meta["bench"]["pid"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        with RunFile(run_path) as run:
            t0 = float(run.samples("b1", ("t_h",))[-1, 0])
        time.sleep(0.5)  # 0.28 device-h, still sourcing
        proc = subprocess.Popen([*AGELAB, "resume", str(run_path)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline, first = time.monotonic() + 60, None
        while first is None and time.monotonic() < deadline:
            with RunFile(run_path) as run:
                gaps = run.events("b1", "gap")
            if gaps:
                os.kill(proc.pid, signal.SIGKILL)  # the writer commits a sample 0.25 s later
                first = gaps[0]
            time.sleep(0.005)
        proc.wait(timeout=10)
        assert first is not None and first["detail"]["counted_as_stress"] is True
        with RunFile(run_path) as run:
            assert float(run.samples("b1", ("t_h",))[-1, 0]) == t0, "killed too late"
        # As that resume's checkpoint left it: the output off.
        smu = Keithley2400(meta["bench"]["resources"]["smu1"], **SOCKET_DEFAULTS)
        smu.output_off()
        smu.adapter.close()
        time.sleep(0.3)  # 0.17 device-h at rest
        resumed = subprocess.run([*AGELAB, "resume", str(run_path)], capture_output=True,
                                 text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        with RunFile(run_path) as run:
            g1, g2 = run.events("b1", "gap")
            t = run.samples("b1", ("t_h",))[:, 0]
        assert g2["detail"]["counted_as_stress"] is False
        assert g2["detail"]["from_h"] == pytest.approx(g1["detail"]["to_h"], abs=1e-9)
        # The stress from the last sample before the kill to the first after the last resume
        # holds the first gap's 0.28 device-h (without the fix: 0.01 h, the resume's own).
        t1 = t[np.searchsorted(t, t0, side="right")]
        assert t1 - t0 >= g1["detail"]["gap_h"] > 0.2
        assert t1 - t0 < g1["detail"]["gap_h"] + 0.05
    finally:
        proc.kill()
        if bench_pid and pid_alive(bench_pid):
            os.kill(bench_pid, signal.SIGKILL)


def test_resume_routes_a_pixel_left_on_the_lcr_back_and_leaves_a_runaway_stopped(tmp_path):
    """Regressions (crash test): a kill inside a C–V left its pixel routed to the LCR meter, and
    the resumed stress met an open and stopped the channel as a runaway; and that channel,
    'stopped', was stressed again by every later resume. Resume now routes every pixel back to
    its source-meter first, and a channel stopped as a runaway stays stopped."""
    from agelab.instruments.drivers.serial_devices import RelayBox

    data = study([channel("b1", 1, "blue-znsete", 100, stop={"max_time": "6 h"}),
                  channel("b2", 2, "blue-znsete", 100, stop={"max_time": "6 h"})],
                 ["blue-znsete", "blue-znsete"], speedup=2000)
    data["station"]["virtual"]["faults"] = ["open@0.05:smu2"]
    proc = _start_run(data, tmp_path)
    bench_pid = None
    try:
        run_path = _wait_for_samples(tmp_path / "runs", 5)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with RunFile(run_path) as run:
                meta, b2 = run.meta(), run.channel("b2").state.get("status")
            if b2 == "stopped":
                break
            time.sleep(0.05)
        assert b2 == "stopped", b2
        bench_pid = meta["bench"]["pid"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        relay = RelayBox(meta["bench"]["resources"]["relay"])
        relay.route(1, "LCR")  # as a kill inside b1's C–V leaves it
        with RunFile(run_path) as run:
            b2_samples = run.sample_count("b2")
        resumed = subprocess.run([*AGELAB, "resume", str(run_path)], capture_output=True,
                                 text=True, timeout=120)
        assert resumed.returncode == 1, resumed.stderr  # 1: not every channel finished
        assert "Traceback" not in resumed.stderr
        with RunFile(run_path) as run:
            assert run.channel("b1").state["status"] == "finished"
            assert not run.events("b1", "runaway")  # back on its source-meter, not an open
            assert run.samples("b1")[-1, 0] >= 6.0
            assert run.channel("b2").state["status"] == "stopped"
            assert not run.events("b2", "gap") and run.sample_count("b2") == b2_samples
            assert len(run.events("b2", "runaway")) == 1
    finally:
        proc.kill()
        if bench_pid and pid_alive(bench_pid):
            os.kill(bench_pid, signal.SIGKILL)
