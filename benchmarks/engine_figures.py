"""Engine and run-file figures for ``benchmarks/run.py``, each against a same-run baseline.

- interruption: one J–V checkpoint during stress (ramp down, 61-point J–V–L sweep with the
  photodiode on the trigger link, ramp back up) on the bench in realistic timing, against the
  floor the timing model implies: the ramps' configured dwell plus the sweep's integration,
  source delay and per-point time.
- samples written per second to the run file, against appending the same rows to a CSV file
  flushed per row (how pymeasure's Results writes).
- loading a 1000-hour, 1-s-sampled luminance history (3.6 million samples) for plotting, against
  reading the same data from a pymeasure-style CSV with pandas.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from agelab.instruments.sim.rig import Timing, TimingModel
from agelab.protocols.config import parse_config
from agelab.protocols.engine.engine import Engine
from agelab.protocols.store import RunFile, RunWriter
from agelab.protocols.store.records import Sample

JV = {"kind": "jv", "start": 0, "stop": 4.5, "points": 61, "nplc": 0.1}
RAMP_STEPS, RAMP_DWELL_S = 10, 0.005


def interruption_row() -> tuple[str, str, str, str]:
    data = {"study": "bench", "station": {"virtual": {"pixels": ["blue-znsete"], "speedup": 60,
                                                      "timing": "realistic", "seed": 1}},
            "measurements": {"jvl": JV},
            "channels": [{"name": "b1", "pixel": 1, "area": "4 mm^2", "cd_m2_per_A": 8.54e7,
                          "stress": {"current_density": "100 mA/cm^2", "nplc": 0.1,
                                     "ramp_steps": RAMP_STEPS, "ramp_dwell": RAMP_DWELL_S},
                          "sampling": "1 min",
                          "checkpoints": {"at_start": False, "at": ["3 min", "6 min", "9 min"],
                                          "measure": ["jvl"]},
                          "stop": {"max_time": "11 min"}}]}
    text = yaml.safe_dump(data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite"
        Engine(parse_config(text), path, config_text=text).run()
        with RunFile(path) as run:
            walls = [e["detail"]["wall_s"] for e in run.events("b1", "interruption")]
    timing = TimingModel(Timing.REALISTIC)
    floor = (2 * RAMP_STEPS * RAMP_DWELL_S
             + timing.smu_sequence_s(JV["points"], JV["nplc"], 0.0, autozero=False))
    measured = float(np.median(walls))
    return ("one J-V checkpoint's interruption (realistic timing)", f"{measured * 1e3:.0f} ms",
            f"{floor * 1e3:.0f} ms (timing-model floor)",
            f"{measured / floor:.2f}x the floor (goal <= 1.15)")


def _csv_rows(n: int) -> np.ndarray:
    t = np.arange(n) / 3600.0
    rng = np.random.default_rng(0)
    return np.column_stack([t, np.full(n, 50.0), 3.3 + 1e-6 * np.arange(n),
                            1000 * np.exp(-t / 500) * (1 + 1e-3 * rng.standard_normal(n))])


def write_rows(n: int = 200_000) -> tuple[str, str, str, str]:
    rows = _csv_rows(n)
    with tempfile.TemporaryDirectory() as tmp:
        writer = RunWriter(Path(tmp) / "w.sqlite")
        writer.add_channel("b1", 1, 0.04, 50.0)
        writer.start()
        start = time.perf_counter()
        for t, j, v, lum in rows:
            writer.write(Sample("b1", t, j, v, lum, lum / 8.54e7, wall=0.0))
        writer.flush(timeout_s=600)
        ours = n / (time.perf_counter() - start)
        writer.close()
        start = time.perf_counter()
        with open(Path(tmp) / "w.csv", "w") as fh:
            fh.write("#Procedure: <aging>\n#Data:\nt_h,J_mA_cm2,V_V,L_cd_m2\n")
            for t, j, v, lum in rows:
                fh.write(f"{t!r},{j!r},{v!r},{lum!r}\n")
                fh.flush()
        theirs = n / (time.perf_counter() - start)
    return ("samples written per second", f"{ours:,.0f} /s", f"{theirs:,.0f} /s (CSV, flushed "
            "per row)", f"{ours / theirs:.2f}x")


def history_load(n: int = 3_600_000) -> tuple[str, str, str, str]:
    import pandas as pd

    rows = _csv_rows(n)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "h.sqlite"
        writer = RunWriter(db)
        writer.add_channel("b1", 1, 0.04, 50.0)
        with writer._db:  # bulk fill for the benchmark only; the engine writes through the queue
            writer._db.executemany("INSERT INTO samples (channel, t_h, wall, j_ma_cm2, v_v, "
                                   "l_cd_m2, i_pd_a) VALUES (1, ?, 0, ?, ?, ?, 0)",
                                   rows.tolist())
        writer.close()
        RunWriter(db).close()  # opening a run file builds the columnar blocks it lacks
        csv_path = Path(tmp) / "h.csv"
        with open(csv_path, "w") as fh:
            fh.write("#Procedure: <aging>\n#Data:\nt_h,J_mA_cm2,V_V,L_cd_m2\n")
            np.savetxt(fh, rows, delimiter=",", fmt="%.10g")
        start = time.perf_counter()
        with RunFile(db) as run:
            ours = run.samples("b1", ("t_h", "l_cd_m2"))
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        frame = pd.read_csv(csv_path, comment="#", usecols=["t_h", "L_cd_m2"])
        theirs_s = time.perf_counter() - start
        assert len(frame) == len(ours) == n
    return ("load 1000 h of 1-s luminance (3.6 M samples)", f"{ours_s:.2f} s",
            f"{theirs_s:.2f} s (pandas.read_csv of a pymeasure-style CSV)",
            f"{theirs_s / ours_s:.2f}x as fast")


def engine_rows() -> list[tuple[str, str, str, str]]:
    return [interruption_row(), write_rows(), history_load()]
