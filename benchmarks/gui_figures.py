"""GUI figures: redrawing the dashboard with 16 channels of 1000-hour, 1-s-sampled histories.

The histories go through the same path as a followed run (``gui.follow``'s per-channel
``DecimatingSeries`` and ``ChannelFrame``), without the SQL. Each redraw adds one new sample per
channel (a live run), builds the frame, draws it into the dashboard and paints the window
synchronously (``repaint``); the time of that whole step is the redraw time.

Baseline, same run: the same window handed the full-resolution histories, with pyqtgraph's own
peak downsampling and clip-to-view (what a plot of the raw arrays costs); fewer repetitions,
because each takes long. Memory: the decimated series against the raw arrays they stand for.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

CHANNELS = 16
HOURS = 1000
SAMPLES = HOURS * 3600
REDRAWS = 60
BASELINE_REDRAWS = 5
GOAL_MS = 33.0


def _histories(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    t = np.arange(SAMPLES, dtype=float) / 3600.0
    out = []
    for k in range(CHANNELS):
        tau = 300.0 + 60.0 * k
        lum = 1000.0 * np.exp(-t / tau) * (1 + rng.normal(0, 1e-3, SAMPLES))
        volts = 3.0 + 0.4 * (1 - np.exp(-t / tau)) + rng.normal(0, 2e-4, SAMPLES)
        out.append((t, lum, volts))
    return out


def _frame(channels, version: int):
    from agelab.gui.follow import RunFollower, RunFrame

    return RunFrame(path=Path("benchmark.sqlite"), study="benchmark",
                    status="running", live=True, heartbeat_age_s=0.1, software="", kind="study",
                    channels=tuple(RunFollower._channel_frame(ch) for ch in channels),
                    events=(), event_counts={"error": 0, "warning": 0, "info": 0},
                    version=version)


def _percentiles(samples_s: list[float]) -> tuple[float, float]:
    ms = np.array(samples_s) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def gui_rows() -> list[tuple[str, str, str, str]]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from agelab.gui.dashboard import RunDashboard
    from agelab.gui.follow import _Channel
    from agelab.gui.qt import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    rng = np.random.default_rng(7)
    histories = _histories(rng)
    channels = []
    start = time.perf_counter()
    for k, (t, lum, volts) in enumerate(histories):
        ch = _Channel(f"ch{k + 1:02d}", k + 1, 0.04, 100.0, state={"status": "running",
                                                                   "l0": float(lum[0])})
        ch.luminance.extend(t, lum)
        ch.voltage.extend(t, volts)
        ch.last = (float(t[-1]), 100.0, float(volts[-1]), float(lum[-1]))
        channels.append(ch)
    load_s = time.perf_counter() - start

    dash = RunDashboard()
    dash.resize(1600, 960)
    dash.show()
    app.processEvents()
    times, build = [], []
    t_next = HOURS
    for i in range(REDRAWS):
        t_next += 1 / 3600
        for ch in channels:
            ch.luminance.extend([t_next], [ch.luminance.last[1]])
            ch.voltage.extend([t_next], [ch.voltage.last[1]])
        t0 = time.perf_counter()
        frame = _frame(channels, i)
        t1 = time.perf_counter()
        dash.draw(frame, True)
        dash.repaint()
        app.processEvents()
        times.append(time.perf_counter() - t1)
        build.append(t1 - t0)
    p50, p95 = _percentiles(times[5:])  # the first draws create the curves
    build_p95 = _percentiles(build)[1]
    decimated_bytes = sum(ch.luminance.nbytes + ch.voltage.nbytes for ch in channels)
    dash.close()

    # Baseline: the raw arrays, pyqtgraph downsampling them itself.
    from agelab.gui.plots import DashboardPlots

    plots = DashboardPlots()
    plots.resize(1400, 700)
    plots.show()
    curves = []
    for k, (t, lum, volts) in enumerate(histories):
        for plot, y in ((plots.lum, lum / lum[0]), (plots.volt, volts)):
            item = plot.plot(pen=(k * 15 % 255, 80, 160))
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            keep = t > 0
            curves.append((item, t[keep], y[keep]))
    base = []
    for _ in range(BASELINE_REDRAWS):
        t1 = time.perf_counter()
        for item, t, y in curves:
            item.setData(t, y)
        plots.repaint()
        app.processEvents()
        base.append(time.perf_counter() - t1)
    base_p50, base_p95 = _percentiles(base)
    raw_bytes = sum(t.nbytes + lum.nbytes + volts.nbytes for t, lum, volts in histories)
    plots.close()
    return [
        (f"GUI redraw, {CHANNELS} ch x {HOURS} h at 1 s (p95)", f"{p95:.1f} ms (p50 {p50:.1f})",
         f"{base_p95:.0f} ms (p50 {base_p50:.0f}): raw arrays, pyqtgraph peak downsampling",
         f"{base_p95 / p95:.0f}x faster; {p95 / GOAL_MS:.2f} of the 33 ms goal"),
        ("GUI frame build off the GUI thread (p95)", f"{build_p95:.1f} ms",
         f"{p95:.1f} ms (the redraw itself)", f"{build_p95 / p95:.2f}x the redraw"),
        (f"GUI history memory, {CHANNELS} ch x {HOURS} h", f"{decimated_bytes / 1e6:.2f} MB",
         f"{raw_bytes / 1e6:.0f} MB (raw t, L, V arrays)",
         f"{raw_bytes / decimated_bytes:.0f}x smaller"),
        (f"GUI history load into decimated series, {CHANNELS * SAMPLES / 1e6:.1f} M samples",
         f"{load_s:.2f} s", "-", f"{CHANNELS * SAMPLES / load_s / 1e6:.0f} M samples/s"),
    ]


if __name__ == "__main__":
    for row in gui_rows():
        print(" | ".join(row))
