"""The main window: the run dashboard, the benchtop panel and the station panel, and the one
place that acts on what they ask.

Threads: the engine runs on its own thread (``EngineHost``); run files are followed on another
(``Follower``); instrument work by hand runs one job at a time on a third (``TaskRunner``). The GUI
thread only draws, at most ``REDRAW_MS`` apart, the newest frame it has: a slow redraw never holds
up acquisition, it only skips frames.

Closing the window while a study runs, or with a benchtop output on, asks first; stopping then
ramps every output down and closes the files before the window goes.
"""

from __future__ import annotations

import time
from pathlib import Path

from agelab.gui.benchtop import BenchtopSession
from agelab.gui.benchtop_panel import BenchtopPanel
from agelab.gui.dashboard import RunDashboard
from agelab.gui.engine_host import EngineHost
from agelab.gui.follow import RunFrame
from agelab.gui.qt import QtCore, QtWidgets
from agelab.gui.station_panel import StationPanel
from agelab.gui.workers import Follower, TaskRunner
from agelab.protocols.config import ConfigError, RunConfig, parse_config

REDRAW_MS = 250
STATION_REFRESH_MS = 1000


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, out_dir: Path = Path("runs"), *, bench_process: bool = True,
                 redraw_ms: int = REDRAW_MS, follow_ms: int = 500) -> None:
        super().__init__()
        self.setWindowTitle("AgeLab")
        self.resize(1600, 960)
        self.out_dir = Path(out_dir)
        self.bench_process = bench_process
        self.follow_ms = follow_ms
        self.host = EngineHost(self)
        self.tasks = TaskRunner(self)
        self.follower: Follower | None = None
        self.own_run: Path | None = None     # the run file of the study this window runs
        self.frame: RunFrame | None = None
        self.frames_drawn = 0
        self._dirty = False
        self.config: RunConfig | None = None
        self.config_text = ""
        self.config_path: Path | None = None
        self.session: BenchtopSession | None = None
        self._closing = False
        self._may_close = False

        self.dashboard = RunDashboard()
        self.benchtop = BenchtopPanel()
        self.station = StationPanel()
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.dashboard, "Run")
        self.tabs.addTab(self.benchtop, "Benchtop")
        self.tabs.addTab(self.station, "Station")
        self.setCentralWidget(self.tabs)
        self.status = QtWidgets.QLabel("")
        self.statusBar().addWidget(self.status, 1)

        d = self.dashboard
        d.open_config.connect(self._ask_config)
        d.open_run.connect(self._ask_run)
        d.start_study.connect(self.start_study)
        d.pause.connect(self.host.pause)
        d.resume.connect(self.host.resume)
        d.abort.connect(self.abort)
        self.host.started.connect(self._study_started)
        self.host.finished.connect(self._study_finished)
        self.host.failed.connect(self._study_failed)
        self.benchtop.requested.connect(self._bench_request)
        self.benchtop.channel.currentTextChanged.connect(self._bench_channel_changed)
        self.station.connect_requested.connect(self._station_connect)
        self.station.disconnect_requested.connect(self._station_disconnect)

        self._redraw_timer = QtCore.QTimer(self)
        self._redraw_timer.timeout.connect(self._redraw)
        self._redraw_timer.start(redraw_ms)
        self._station_timer = QtCore.QTimer(self)
        self._station_timer.timeout.connect(self._refresh_station)
        self._station_timer.start(STATION_REFRESH_MS)
        self._close_timer = QtCore.QTimer(self)
        self._close_timer.timeout.connect(self._close_when_safe)

    # ---------------------------------------------------------------- config
    def _ask_config(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a study config", "",
                                                        "YAML (*.yaml *.yml);;All files (*)")
        if path:
            self.load_config(Path(path))

    def load_config(self, path: Path) -> None:
        """Read and validate (on the worker thread); the result, or its error at its line, is
        shown when ready."""
        def job() -> tuple[str, RunConfig | None, str | None]:
            try:
                text = Path(path).read_text()
            except OSError as exc:
                return "", None, f"{path}: cannot read: {exc.strerror or exc}"
            try:
                return text, parse_config(text, str(path)), None
            except ConfigError as exc:
                return text, None, str(exc)

        self.tasks.submit(job, lambda result, error: self._config_loaded(path, result, error))

    def _config_loaded(self, path: Path, result, error: str | None) -> None:
        text, config, problem = result if result else ("", None, error)
        self.dashboard.show_config(str(path), text, problem)
        self.config_path = path
        self.config, self.config_text = config, text
        self.dashboard.start_button.setEnabled(config is not None and not self.host.running)
        if config is not None:
            safety = config.safety
            self.benchtop.set_channels(
                [c.name for c in config.channels],
                f"limits: ≤ {safety.max_current_density:g} mA/cm², ≤ {safety.max_voltage:g} V")
            self.benchtop.set_enabled(not self.host.running, "ready: pick a pixel and a level")
        else:
            self.benchtop.set_enabled(False, "the config has an error (see the Run tab)")

    # ---------------------------------------------------------------- runs
    def _ask_run(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a run file",
                                                        str(self.out_dir),
                                                        "AgeLab runs (*.sqlite);;All files (*)")
        if path:
            self.follow(Path(path))

    def follow(self, path: Path, own: bool = False) -> None:
        """Show a run file, following it as it grows."""
        if self.follower is not None:
            self.follower.close()
        self.dashboard.clear_run()
        self.frame = None
        self.own_run = Path(path) if own else None
        self.follower = Follower(Path(path), self.follow_ms, self)
        self.follower.frame.connect(self._on_frame)
        self.follower.failed.connect(lambda text: self.dashboard.say(text, error=True))
        self.dashboard.set_controls(own and self.host.running)
        if not own:
            self.dashboard.say(f"following {path}")

    def _on_frame(self, frame: RunFrame) -> None:
        if self.follower is not None and frame.path == self.follower.path:
            self.frame, self._dirty = frame, True

    def _redraw(self) -> None:
        if not self._dirty or self.frame is None:
            return
        self._dirty = False
        frame = self.frame
        own = self.own_run is not None and frame.path == self.own_run and self.host.running
        self.dashboard.draw(frame, own)
        self.frames_drawn += 1
        live = "live" if frame.live else frame.status
        age = (f", last commit {frame.heartbeat_age_s:.0f} s ago"
               if frame.heartbeat_age_s is not None and frame.live else "")
        owner = "this window" if own else "another process" if frame.live else "nobody"
        self.status.setText(f"{frame.path}  ·  {frame.study}  ·  {live}{age}  ·  written by "
                            f"{owner}  ·  {sum(ch.samples for ch in frame.channels)} samples")

    def start_study(self) -> None:
        if self.config is None or self.host.running:
            return
        if self.session is not None:  # the study needs the instruments: release them first
            session, self.session = self.session, None
            self.benchtop.set_output(False, "output off")
            self.dashboard.say("switching benchtop outputs off and releasing the station…")
            self.tasks.submit(session.close, lambda _r, err: self._start_engine(err))
        else:
            self._start_engine(None)

    def _start_engine(self, release_error: str | None) -> None:
        if release_error:
            self.dashboard.say(f"the benchtop station could not be released: {release_error}",
                               error=True)
            return
        try:
            path = self.host.start(self.config, self.config_text, self.out_dir,
                                   bench_process=self.bench_process)
        except (OSError, RuntimeError, ValueError) as exc:
            self.dashboard.say(f"the study could not start: {exc}", error=True)
            return
        self.dashboard.start_button.setEnabled(False)
        self.benchtop.set_enabled(False, "a study is running: it owns the instruments")
        self.dashboard.say(f"starting {self.config.study}: opening the station… run file {path}")

    def _study_started(self, path: str) -> None:
        self.follow(Path(path), own=True)
        self.dashboard.say(f"running · run file {path}")

    def _study_finished(self, statuses: dict) -> None:
        self.dashboard.set_controls(False)
        text = ", ".join(f"{k}: {v}" for k, v in statuses.items())
        self.dashboard.say(f"the study ended ({text}); every output is off. Report: agelab "
                           f"report {self.host.path}")
        self._after_study()

    def _study_failed(self, message: str) -> None:
        self.dashboard.set_controls(False)
        self.dashboard.say(f"{message}. Every output was ramped off; the run file keeps what "
                           f"was measured: {self.host.path}", error=True)
        self._after_study()

    def _after_study(self) -> None:
        self.dashboard.start_button.setEnabled(self.config is not None)
        if self.config is not None:
            self.benchtop.set_enabled(True, "ready: pick a pixel and a level")

    def abort(self, channel: str | None) -> None:
        what = f"channel {channel}" if channel else "every channel of the study"
        if self.confirm("Abort?", f"Abort {what}? The output is ramped down and switched off; "
                        "the run file keeps everything measured.", "Abort"):
            self.host.abort(channel)

    def confirm(self, title: str, text: str, yes: str) -> bool:
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, text,
                                    parent=self)
        ok = box.addButton(yes, QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Cancel", QtWidgets.QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return box.clickedButton() is ok

    # ---------------------------------------------------------------- benchtop
    def _session(self) -> BenchtopSession | None:
        if self.host.running:
            self.benchtop.say("a study is running: it owns the instruments", error=True)
            return None
        if self.config is None:
            self.benchtop.say("open a valid config first", error=True)
            return None
        if self.session is None:
            self.session = BenchtopSession(self.config, self.config_text, self.out_dir)
        return self.session

    def _bench_request(self, channel: str, action: str, argument: str) -> None:
        session = self._session()
        if session is None:
            return
        jobs = {"set": lambda: session.set_level(channel, argument),
                "off": lambda: session.output_off(channel),
                "read": lambda: session.read(channel)}
        job = jobs.get(action, lambda: session.measure(channel, action))
        if action not in jobs:
            self.benchtop.say(f"{action.upper()} on {channel}…")
        self.benchtop.busy = True
        self.tasks.submit(job, lambda result, error: self._bench_done(channel, action, result,
                                                                      error))

    def _bench_done(self, channel: str, action: str, result, error: str | None) -> None:
        self.benchtop.busy = False
        session = self.session
        if error:
            self.benchtop.say(error, error=True)
        elif action == "set":
            self.benchtop.set_output(True, result.describe(session.channel(channel).area))
            self.benchtop.say(f"{channel}: {result.describe(session.channel(channel).area)}")
            self._bench_request(channel, "read", "")
        elif action == "off":
            self.benchtop.set_output(False, "output off")
            self.benchtop.say(f"{channel}: output off (ramped)")
        else:
            self.benchtop.show_result(result)
        if session is not None and session.path is not None:
            self.benchtop.file_label.setText(f"benchtop file: {session.path}")

    def _bench_channel_changed(self, name: str) -> None:
        level = self.session.levels.get(name) if self.session else None
        if level is None:
            self.benchtop.set_output(False, "output off")
        else:
            self.benchtop.set_output(True, level.describe(self.session.channel(name).area))

    # ---------------------------------------------------------------- station
    def _refresh_station(self) -> None:
        engine = self.host.engine
        if self.host.running and engine is not None and engine.station is not None:
            faults = self.host.fault_counts()
            station = engine.station
            rows = [{"name": n, "driver": s.driver, "resource": s.resource,
                     "identity": (station.instruments[n].cached_identity
                                  if n in station.instruments else ""),
                     "connected": n in station.instruments and station.instruments[n].connected,
                     "faults": faults.get(n, 0)} for n, s in station.resolved_specs().items()]
            self.station.show_rows(rows, "the running study owns these instruments", False)
        elif self.session is not None:
            self.station.show_rows(self.session.rows(), "benchtop station", True)
        elif self.config is not None:
            self.station.show_rows([], "not connected: 'Connect all' opens the station"
                                   + (" (starts the virtual bench)"
                                      if self.config.station.virtual else ""), True)
        else:
            self.station.show_rows([], "no station: open a config", False)

    def _station_connect(self, name: str | None) -> None:
        session = self._session()
        if session is not None:
            self.station.say("connecting…")
            self.tasks.submit(lambda: session.connect(name), self._station_done)

    def _station_disconnect(self, name: str | None) -> None:
        if self.session is not None:
            session = self.session
            self.tasks.submit(lambda: session.disconnect(name), self._station_done)
            if name is None:
                self.benchtop.set_output(False, "output off")

    def _station_done(self, result, error: str | None) -> None:
        if error:
            self.station.say(error, error=True)
        else:
            self.station.say("connected: " + ", ".join(result) if isinstance(result, dict)
                             else "disconnected (outputs ramped off first)")
        self._refresh_station()

    # ---------------------------------------------------------------- closing
    def stop_and_close(self) -> None:
        """Stop everything safely, then close (no question: SIGINT/SIGTERM, or the user chose
        to)."""
        self._closing = True
        self.status.setText("stopping safely: ramping every output down…")
        self.host.stop("window closed")
        if self.session is not None:
            session, self.session = self.session, None
            self.tasks.submit(session.close)
        self._close_timer.start(100)

    def _close_when_safe(self) -> None:
        if not self.host.running and self.tasks.pending == 0:
            self._close_timer.stop()
            self._may_close = True
            self.close()

    def closeEvent(self, event) -> None:
        if self._may_close or (not self.host.running and self.session is None):
            self._shutdown_threads()
            event.accept()
            return
        event.ignore()
        if self._closing:
            return
        reasons = []
        if self.host.running:
            reasons.append("A study is running: its pixels are under stress.")
        if self.session is not None and self.session.levels:
            reasons.append("Benchtop outputs are on: " + ", ".join(self.session.levels) + ".")
        if not reasons or self.confirm(
                "Close AgeLab?", " ".join(reasons) + " Closing stops everything safely: each "
                "output is ramped down and switched off and the run files are closed "
                "(a study can be continued later with 'agelab resume').", "Stop safely and close"):
            self.stop_and_close()

    def _shutdown_threads(self) -> None:
        self._redraw_timer.stop()
        self._station_timer.stop()
        if self.follower is not None:
            self.follower.close()
            self.follower = None
        self.tasks.shutdown(wait=True)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """For scripts and tests: wait (processing events) until no job is pending."""
        deadline = time.monotonic() + timeout_s
        app = QtWidgets.QApplication.instance()
        while self.tasks.pending and time.monotonic() < deadline:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        return self.tasks.pending == 0
