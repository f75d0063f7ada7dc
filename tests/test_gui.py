"""The window, driven as a user drives it (pytest-qt, offscreen): a study started from the GUI,
pause/resume, abort with its confirmation, closing mid-run, following a run written by another
process, a manual J–V sweep, and a config error shown at its line."""

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
from engine_helpers import assert_ramped_down, channel, study

from agelab.gui.main_window import MainWindow
from agelab.gui.qt import QtCore, QtWidgets
from agelab.protocols.store import RunFile

pytestmark = pytest.mark.timeout(180)


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def long_study(tmp_path: Path) -> Path:
    """Two pixels that would age for a minute of wall time: long enough to act on."""
    data = study([channel("red-a", 1, "red-cdse", 100, stop={"max_time": "60 h"},
                          checkpoints={"every": "5 h", "measure": ["jvl", "el"]}),
                  channel("blue-b", 2, "blue-znsete", 100, stop={"max_time": "60 h"})],
                 ["red-cdse", "blue-znsete"], speedup=3000)
    return write_config(tmp_path / "study.yaml", data)


def answer_next_dialog(button_text: str) -> None:
    """Click ``button_text`` on the next modal dialog, as soon as it shows."""
    def poll() -> None:
        box = QtWidgets.QApplication.activeModalWidget()
        if isinstance(box, QtWidgets.QMessageBox):
            for button in box.buttons():
                if button.text() == button_text:
                    button.click()
                    return
        QtCore.QTimer.singleShot(50, poll)

    QtCore.QTimer.singleShot(50, poll)


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(tmp_path / "runs", bench_process=False, redraw_ms=100, follow_ms=200)
    w.show()
    yield w
    # Not qtbot.addWidget: its teardown closes the window, which (rightly) asks first.
    if w.host.running:
        w.host.stop("test teardown")
        w.host.wait(60)
    if w.session is not None:
        w.session.close()
        w.session = None
    w.close()
    assert not w.isVisible()
    w.deleteLater()


def start(qtbot, window: MainWindow, config: Path) -> None:
    window.load_config(config)
    qtbot.waitUntil(lambda: window.config is not None, timeout=10_000)
    qtbot.mouseClick(window.dashboard.start_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(window.dashboard.tiles) == 2, timeout=30_000)


def curve_points(window: MainWindow, name: str) -> int:
    curve = window.dashboard.plots._lum_curves.get(name)
    if curve is None:
        return 0
    x, _ = curve.getData()
    return 0 if x is None else len(x)


def test_study_from_the_gui_plots_live_and_pauses_and_resumes(qtbot, window, tmp_path):
    start(qtbot, window, long_study(tmp_path))
    qtbot.waitUntil(lambda: curve_points(window, "red-a") >= 5, timeout=20_000)
    first = curve_points(window, "red-a")
    qtbot.waitUntil(lambda: curve_points(window, "red-a") > first + 5, timeout=20_000)
    qtbot.waitUntil(lambda: bool(window.dashboard.plots.jv.getPlotItem().listDataItems()),
                    timeout=20_000)  # the t = 0 J–V of the selected channel is drawn
    tile = window.dashboard.tiles["red-a"]
    assert tile.pause_button.isEnabled()

    qtbot.mouseClick(tile.pause_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "paused" in tile.status.text(), timeout=20_000)
    site = window.host.engine.virtual_bench.rig.sites[0]
    assert site.present_j() == 0.0  # paused: the pixel is ramped off
    assert window.host.engine.virtual_bench.rig.sites[1].present_j() == 100.0  # the other runs
    paused_points = curve_points(window, "red-a")
    qtbot.wait(1500)
    assert curve_points(window, "red-a") <= paused_points + 1  # no samples while paused

    qtbot.mouseClick(tile.resume_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "running" in tile.status.text(), timeout=20_000)
    qtbot.waitUntil(lambda: curve_points(window, "red-a") > paused_points + 3, timeout=20_000)
    assert site.present_j() == pytest.approx(100.0)
    with RunFile(window.own_run) as run:
        actions = [(e["channel"], e["detail"]["action"]) for e in run.events(kind="operator")]
    assert ("red-a", "pause") in actions and ("red-a", "resume") in actions


def test_abort_asks_first_then_every_output_is_off(qtbot, window, tmp_path):
    start(qtbot, window, long_study(tmp_path))
    qtbot.waitUntil(lambda: curve_points(window, "blue-b") >= 3, timeout=20_000)
    answer_next_dialog("Cancel")
    qtbot.mouseClick(window.dashboard.abort_all, QtCore.Qt.MouseButton.LeftButton)
    qtbot.wait(500)
    assert window.host.running  # cancelled: nothing happened

    answer_next_dialog("Abort")
    qtbot.mouseClick(window.dashboard.abort_all, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.host.running, timeout=60_000)
    bench = window.host.engine.virtual_bench
    for site in bench.rig.sites:  # the bench itself: nothing is driven, each was ramped down
        assert site.present_j() == 0.0
        assert_ramped_down(site, 100.0, 10)
    qtbot.waitUntil(lambda: all("aborted" in t.status.text()
                                for t in window.dashboard.tiles.values()), timeout=10_000)
    assert not window.dashboard.abort_all.isEnabled()


def test_closing_mid_run_asks_and_stops_safely(qtbot, window, tmp_path):
    start(qtbot, window, long_study(tmp_path))
    qtbot.waitUntil(lambda: curve_points(window, "blue-b") >= 3, timeout=20_000)
    answer_next_dialog("Cancel")
    window.close()
    qtbot.wait(300)
    assert window.isVisible() and window.host.running  # kept running

    answer_next_dialog("Stop safely and close")
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=60_000)
    assert not window.host.running
    for site in window.host.engine.virtual_bench.rig.sites:
        assert site.present_j() == 0.0
    with RunFile(window.host.path) as run:
        assert run.meta()["stop_reason"] == "window closed"


def test_follows_a_run_written_by_another_process(qtbot, window, tmp_path):
    config = long_study(tmp_path)
    out = tmp_path / "elsewhere"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, "-m", "agelab.protocols.cli", "run", str(config),
                             "--out",
                             str(out), "--in-process-bench"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("*.sqlite")) and time.monotonic() < deadline:
            qtbot.wait(100)
        (path,) = out.glob("*.sqlite")
        window.follow(path)
        qtbot.waitUntil(lambda: curve_points(window, "red-a") >= 3, timeout=30_000)
        seen = curve_points(window, "red-a")
        qtbot.waitUntil(lambda: curve_points(window, "red-a") >= seen + 5, timeout=30_000)
        shown = next(ch.samples for ch in window.frame.channels if ch.name == "red-a")
        assert "another process" in window.status.text()
        assert not window.dashboard.tiles["red-a"].pause_button.isEnabled()  # not ours
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    qtbot.waitUntil(lambda: "written by nobody" in window.status.text(), timeout=30_000)
    # The file holds every sample the window had shown (this compared curve points, which are
    # min/max buckets, not samples, and flaked under load).
    with RunFile(path) as run:
        assert run.sample_count("red-a") >= shown > 0


def test_manual_jv_sweep_is_plotted_and_saved(qtbot, window, tmp_path):
    config = long_study(tmp_path)
    window.load_config(config)
    qtbot.waitUntil(lambda: window.config is not None, timeout=10_000)
    panel = window.benchtop
    panel.channel.setCurrentText("red-a")
    panel.level.setText("400 mA/cm^2")  # beyond the safety limit: refused before any I/O
    qtbot.mouseClick(panel.set_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "safety.max_current_density" in panel.message.text(), timeout=10_000)
    assert window.session.levels == {}

    panel.level.setText("50 mA/cm^2")
    qtbot.mouseClick(panel.set_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.output_on, timeout=20_000)
    site = window.session.station.bench.rig.sites[0]
    assert site.present_j() == pytest.approx(50.0)

    qtbot.mouseClick(panel.jv_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(panel.jv_plot.getPlotItem().listDataItems()) == 1,
                    timeout=20_000)
    window.wait_idle()
    x, _ = panel.jv_plot.getPlotItem().listDataItems()[0].getData()
    assert len(x) > 10 and np.all(np.diff(x) > 0)
    assert site.present_j() == pytest.approx(50.0)  # back at its level after the sweep

    qtbot.mouseClick(panel.off_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.output_on, timeout=20_000)
    assert site.present_j() == 0.0
    path = window.session.path
    window.session.close()
    window.session = None
    with RunFile(path) as run:
        (sweep,) = run.sweeps("red-a", "jv")
        assert sweep["x"].size == 21 and np.nanmax(sweep["z"]) > 100  # J–V–L with light
        assert run.meta()["kind"] == "benchtop"
    from agelab.protocols.report.writer import write_report

    report = write_report(path, tmp_path / "report")
    (row,) = report.summary["channels"]
    assert row["name"] == "red-a" and row["ideality_min_first"] is not None


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["channels"][1]["stress"].update(current_density="5 V"),
     "channels[1] (blue-b).stress.current_density"),
    (lambda d: d["channels"][0]["stress"].update(current_density="900 mA/cm^2"),
     "exceeds safety.max_current_density"),
])
def test_config_error_is_shown_in_the_window_at_its_line(qtbot, window, tmp_path, edit,
                                                         expected):
    data = yaml.safe_load(long_study(tmp_path).read_text())
    edit(data)
    path = write_config(tmp_path / "bad.yaml", data)
    window.load_config(path)
    qtbot.waitUntil(lambda: window.dashboard.message.isVisible(), timeout=10_000)
    message = window.dashboard.message.text()
    assert expected in message and message.startswith(f"{path}:")
    line = int(message.split(":")[1])
    view = window.dashboard.config_view
    assert view.error_line == line
    assert "current_density" in path.read_text().splitlines()[line - 1]
    assert not window.dashboard.start_button.isEnabled()
    assert "Traceback" not in message


def test_station_panel_connects_and_disconnects_and_benchtop_takes_every_measurement(
        qtbot, window, tmp_path):
    window.load_config(long_study(tmp_path))
    qtbot.waitUntil(lambda: window.config is not None, timeout=10_000)
    station = window.station
    qtbot.mouseClick(station.connect_all, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: station.table.rowCount() >= 9 and all(
        station.table.item(r, 4).text() == "connected"
        for r in range(station.table.rowCount())), timeout=20_000)
    names = [station.table.item(r, 0).text() for r in range(station.table.rowCount())]
    smu = names.index("smu1")
    assert "MODEL 2400" in station.table.item(smu, 3).text()

    station.table.cellWidget(smu, 6).click()  # disconnect smu1 only
    qtbot.waitUntil(lambda: station.table.item(smu, 4).text() == "not connected",
                    timeout=10_000)
    assert station.table.item(names.index("lcr"), 4).text() == "connected"

    panel = window.benchtop
    panel.channel.setCurrentText("red-a")
    panel.level.setText("2 mA")  # a current, reconnecting smu1 on the way
    qtbot.mouseClick(panel.set_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.output_on, timeout=20_000)
    for button in (panel.cv_button, panel.el_button, panel.pl_button):
        qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)
    window.wait_idle()
    qtbot.waitUntil(lambda: "PL (lock-in)" in panel.message.text(), timeout=20_000)
    assert len(panel.cv_plot.getPlotItem().listDataItems()) == 1
    assert len(panel.el_plot.getPlotItem().listDataItems()) == 1
    site = window.session.station.bench.rig.sites[0]
    assert site.present_j() == pytest.approx(50.0)  # 2 mA on 4 mm², back on after the C–V

    qtbot.mouseClick(station.disconnect_all, QtCore.Qt.MouseButton.LeftButton)
    window.wait_idle()
    assert site.present_j() == 0.0  # disconnecting ramps the output off first
    path = window.session.path
    window.session.close()
    window.session = None
    with RunFile(path) as run:
        assert len(run.sweeps("red-a", "cv")) == 1
        assert len(run.spectra("red-a", "el")) == 1
        assert len(run.readings("red-a", "pl")) == 1
