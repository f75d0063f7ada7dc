"""AgeLab benchmarks: each figure is printed with a baseline measured in the same run.

    python benchmarks/run.py          (or: make bench)

Figures:
- sweep: a 61-point J–V sweep run by the 2400 itself (list/sweep into its buffer, binary read-back)
  with AgeLab's driver, against unmodified pymeasure Keithley2400 stepping point by point
  (source_voltage = v; current), both on the virtual bench in realistic timing, at the same NPLC;
  and the same for a 2602B channel (its trigger model into nvbuffers, against pymeasure's
  Keithley2600 channel stepped point by point).
- engine and run file: see ``engine_figures.py`` (a checkpoint's interruption against its
  timing-model floor; samples written per second; loading a 1000-hour history against CSV).
- GUI: see ``gui_figures.py`` (a dashboard redraw with 16 channels of 1000-hour, 1-s histories,
  against the same window plotting the raw arrays with pyqtgraph's own downsampling; memory).
- model: 1000 device-hours of constant-current stress sampled every device-minute (60,000 steps of
  advance + luminance + voltage + photodiode reading), against the same loop calling a do-nothing
  pixel, which isolates the model's own cost from Python's loop overhead. Goal: under 2 s.
- scale: see ``scale_figures.py`` (one ``agelab run`` process driving 64 channels at 1-s
  sampling in real time: CPU use and sampling jitter p99, against the same with one channel;
  16 pixels on eight 2602Bs against sixteen 2400s).
- Central: see ``central_figures.py`` (ingest against one INSERT per row; the shipper's cost to a
  16-channel station and its lag; a 24-hour backlog's catch-up; the cross-run comparison and a
  1000-hour curve for a plot, each against reading the raw rows).
- dashboard: see ``dashboard_figures.py`` (in headless Chromium: the fleet page and its API call
  at 16 stations x 96 channels; a sample's way to an open browser; a 1000-hour channel page
  against the same fed raw; how soon a silent station and a runaway are alerted).
"""

from __future__ import annotations

import time

from central_figures import central_rows
from dashboard_figures import dashboard_rows
from engine_figures import engine_rows
from gui_figures import gui_rows
from rich.console import Console
from rich.table import Table
from scale_figures import rig_rows, scale_rows

from agelab.instruments.sim.model.qled import QledPixel

STEPS = 60_000
DT_H = 1.0 / 60.0


class _NullPixel:
    def advance(self, dt_h: float, j: float) -> None:
        pass

    def luminance(self, j: float) -> float:
        return 0.0

    def voltage(self, j: float) -> float:
        return 0.0

    def read_photodiode(self, j: float) -> float:
        return 0.0


def _stress_loop(px, j: float = 50.0) -> float:
    start = time.perf_counter()
    for _ in range(STEPS):
        px.advance(DT_H, j)
        px.luminance(j)
        px.voltage(j)
        px.read_photodiode(j)
    return time.perf_counter() - start


def model_rows() -> list[tuple[str, str, str, str]]:
    rows = []
    baseline = _stress_loop(_NullPixel())
    for preset in ("red-cdse", "blue-znsete"):
        QledPixel(preset)  # warm the photometric tables outside the timing
        seconds = _stress_loop(QledPixel(preset))
        rows.append((f"model {preset}: 1000 h at 1-min sampling", f"{seconds:.3f} s",
                     f"{baseline:.3f} s (empty loop)",
                     f"{seconds / baseline:.1f}x; {seconds / 2.0:.2f} of the 2 s budget"))
    return rows


def sweep_rows() -> list[tuple[str, str, str, str]]:
    import warnings

    import numpy as np
    from pymeasure.instruments.keithley import Keithley2400 as PymeasureKeithley2400

    from agelab.instruments.drivers.keithley import Keithley2400
    from agelab.instruments.sim.bench import VirtualBench

    visa = {"read_termination": "\n", "write_termination": "\n", "timeout": 60000}
    volts = np.linspace(0.0, 3.6, 61)
    rows = []
    warnings.simplefilter("ignore", FutureWarning)
    with VirtualBench("red-cdse", timing="realistic") as bench:
        ours = Keithley2400(bench.resources["smu1"], **visa)
        theirs = PymeasureKeithley2400(bench.resources["smu1"], **visa)
        for nplc in (0.01, 0.1, 1.0):
            start = time.perf_counter()
            ours.sweep("voltage", volts, compliance=0.1, nplc=nplc)
            sweep_s = time.perf_counter() - start

            theirs.source_mode = "voltage"
            theirs.compliance_current = 0.1
            theirs.current_nplc = nplc
            theirs.source_enabled = True
            start = time.perf_counter()
            for v in volts:
                theirs.source_voltage = v
                theirs.current  # noqa: B018 - one :MEAS:CURR? per point, as pymeasure users do
            loop_s = time.perf_counter() - start
            theirs.source_enabled = False
            rows.append((f"61-point J-V sweep, NPLC {nplc:g}", f"{sweep_s:.3f} s",
                         f"{loop_s:.3f} s (pymeasure point by point)",
                         f"{loop_s / sweep_s:.1f}x faster"))
    return rows + box_sweep_rows(volts, visa)


def box_sweep_rows(volts, visa: dict) -> list[tuple[str, str, str, str]]:
    """A 2602B channel's list sweep (AgeLab) against pymeasure's Keithley2600 channel stepped
    point by point, on one virtual box in realistic timing."""
    from pymeasure.instruments.keithley import Keithley2600

    from agelab.instruments.drivers.keithley2600 import Keithley2600B
    from agelab.instruments.sim.bench import VirtualBench

    rows = []
    with VirtualBench("red-cdse", timing="realistic", smu="keithley2602b") as bench:
        ours = Keithley2600B(bench.resources["smu1"], **visa).channel("a")
        theirs = Keithley2600(bench.resources["smu1"], **visa).ChA
        for nplc in (0.01, 0.1, 1.0):
            start = time.perf_counter()
            ours.sweep("voltage", volts, compliance=0.1, nplc=nplc)
            sweep_s = time.perf_counter() - start
            theirs.apply_voltage(compliance_current=0.1)
            theirs.write(f"measure.nplc = {nplc:g}")  # (its measure_nplc maps values wrongly)
            theirs.source_output = "ON"
            start = time.perf_counter()
            for v in volts:
                theirs.source_voltage = v
                theirs.current  # noqa: B018 - one measure.i() per point
            loop_s = time.perf_counter() - start
            theirs.source_output = "OFF"
            rows.append((f"2602B 61-point J-V sweep, NPLC {nplc:g}", f"{sweep_s:.3f} s",
                         f"{loop_s:.3f} s (pymeasure Keithley2600 point by point)",
                         f"{loop_s / sweep_s:.1f}x faster"))
    return rows


def main() -> None:
    table = Table(title="AgeLab benchmarks")
    for col in ("figure", "measured", "baseline (same run)", "ratio"):
        table.add_column(col)
    for row in (sweep_rows() + engine_rows() + gui_rows() + model_rows() + scale_rows()
                + rig_rows() + central_rows() + dashboard_rows()):
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
