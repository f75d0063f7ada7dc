"""Scale: one station process (``agelab run``) driving 64 virtual channels sampled every second,
in real time (speed-up 1), against the same process driving one channel; and 16 pixels on eight
two-channel 2602Bs (two pixels on each box's one link) with one DAQ6510 scanning their
photodiodes, against today's rig of two 2400s a pixel.

Figures: the engine process's CPU use (fraction of one core, from psutil over the stress phase)
and its sampling-interval jitter (how late each sample is against its deadline k·1 s, from the
run file's stress times; p99). Goals: CPU under 25 % of a core, jitter p99 under 50 ms. The bench
runs in this process, so its own cost is not counted against the engine.

    python benchmarks/scale_figures.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agelab.instruments.sim.bench import VirtualBench  # noqa: E402
from agelab.instruments.station.virtual import wiring  # noqa: E402
from agelab.protocols.reliability.soak import CAL, run_engine, station_of  # noqa: E402
from agelab.protocols.store import RunFile  # noqa: E402


def scale_config(resources: dict[str, str], channels: int, seconds: float,
                 smu: str = "keithley2400", photodiodes: str = "keithley2400") -> dict:
    return {
        "study": f"scale-{channels}", "speedup": 1.0,
        "station": station_of(resources, timeout_ms=2000, smu=smu),
        "measurements": {},
        "defaults": {"area": "4 mm^2", "sampling": "1 s", "cd_m2_per_A": CAL["blue-znsete"],
                     "stress": {"current_density": "20 mA/cm^2", "compliance": "9 V",
                                "ramp_steps": 10, "ramp_dwell": "1 ms"},
                     "checkpoints": {"at_start": False},
                     "stop": {"max_time": f"{seconds / 3600:.6f} h"}},
        "channels": [{"name": f"ch{i:02d}", "pixel": i,
                      "source_meter": wiring(smu, photodiodes, i)[0],
                      "photodetector": wiring(smu, photodiodes, i)[1]}
                     for i in range(1, channels + 1)],
    }


def measure(channels: int, seconds: float, out: Path, smu: str = "keithley2400",
            photodiodes: str = "keithley2400") -> tuple[float, float, int]:
    """(CPU fraction of a core during the stress, jitter p99 in ms, samples)."""
    with VirtualBench("blue-znsete", pixels=channels, speedup=1.0, seed=1, smu=smu,
                      photodiodes=photodiodes) as bench:
        run = run_engine(scale_config(bench.resources, channels, seconds, smu, photodiodes),
                         out, f"scale{channels}{smu}{photodiodes}")
    if run.run_path is None:
        raise RuntimeError(f"the {channels}-channel run wrote no file:\n{run.log[-500:]}")
    with RunFile(run.run_path) as f:
        late = []
        walls = []
        for ch in f.channels():
            data = f.samples(ch.name, ("t_h", "wall"))
            t_s = data[1:, 0] * 3600.0  # the first sample is taken as the stress comes on
            late.extend(t_s - np.round(t_s))
            walls.extend(data[:, 1])
        stress_wall = max(walls) - min(walls)
    # CPU over the stress phase: psutil samples of the process's cumulative CPU time.
    cpu = _cpu_between(run.cpu, min(walls), max(walls)) / stress_wall
    return cpu, float(np.percentile(np.abs(late), 99) * 1e3), len(late)


def _cpu_between(samples: list[tuple[float, float]], start: float, end: float) -> float:
    inside = [(t, c) for t, c in samples if start <= t <= end]
    return inside[-1][1] - inside[0][1] if len(inside) >= 2 else float("nan")


def scale_rows(seconds: float = 60.0) -> list[tuple[str, str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        cpu1, jit1, _ = measure(1, seconds, Path(tmp))
        cpu64, jit64, n = measure(64, seconds, Path(tmp))
    return [
        ("scale: engine CPU, 64 channels at 1 s", f"{cpu64:.1%} of a core (goal < 25 %)",
         f"1 channel: {cpu1:.1%}", f"{cpu64 / cpu1:.1f}x"),
        ("scale: sampling jitter p99, 64 channels", f"{jit64:.1f} ms (goal < 50 ms; {n} samples)",
         f"1 channel: {jit1:.1f} ms", f"{jit64 / jit1:.1f}x"),
    ]


def rig_rows(seconds: float = 60.0) -> list[tuple[str, str, str, str]]:
    """16 pixels at 1-s sampling: eight 2602Bs (the two channels of a box share its link) and
    one DAQ6510 scanning the sixteen photodiodes, against today's rig of 32 2400s."""
    with tempfile.TemporaryDirectory() as tmp:
        cpu_k, jit_k, _ = measure(16, seconds, Path(tmp))
        cpu_b, jit_b, n = measure(16, seconds, Path(tmp), "keithley2602b", "daq6510")
    return [
        ("rig: engine CPU, 16 pixels on 8 2602Bs + 1 DAQ6510", f"{cpu_b:.1%} of a core",
         f"32 2400s: {cpu_k:.1%}", f"{cpu_b / cpu_k:.2f}x"),
        ("rig: sampling jitter p99, 8 2602Bs + 1 DAQ6510", f"{jit_b:.1f} ms ({n} samples)",
         f"32 2400s: {jit_k:.1f} ms", f"{jit_b / jit_k:.2f}x"),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    for row in scale_rows(args.seconds) + rig_rows(args.seconds):
        print(" | ".join(row))
