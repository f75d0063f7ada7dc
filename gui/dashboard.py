"""The run dashboard: the config, the study's controls, a tile per channel, the plots and the
events log. It only displays and asks; ``gui.main_window`` acts."""

from __future__ import annotations

import re

from agelab.gui.events_log import EventsLog
from agelab.gui.follow import RunFrame
from agelab.gui.plots import DashboardPlots
from agelab.gui.qt import QtCore, QtGui, QtWidgets, Signal
from agelab.gui.tiles import ChannelTile, channel_colour

_LINE = re.compile(r":(\d+):")


class ConfigView(QtWidgets.QPlainTextEdit):
    """The config as loaded, read-only, with the line of an error highlighted."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
        font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        self.setFont(font)
        self.error_line: int | None = None

    def show_text(self, text: str, error_line: int | None = None) -> None:
        if text != self.toPlainText():
            self.setPlainText(text)
        self.error_line = error_line
        selections = []
        if error_line is not None:
            block = self.document().findBlockByLineNumber(error_line - 1)
            selection = QtWidgets.QTextEdit.ExtraSelection()
            selection.format.setBackground(QtGui.QColor("#ffcdd2"))
            selection.format.setProperty(QtGui.QTextFormat.Property.FullWidthSelection, True)
            cursor = QtGui.QTextCursor(block)
            selection.cursor = cursor
            selections.append(selection)
            self.setTextCursor(cursor)
            self.centerCursor()
        self.setExtraSelections(selections)


class RunDashboard(QtWidgets.QWidget):
    open_config = Signal()
    open_run = Signal()
    start_study = Signal()
    pause = Signal(object)    # a channel name, or None for every channel
    resume = Signal(object)
    abort = Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)

        bar = QtWidgets.QHBoxLayout()
        self.config_label = QtWidgets.QLabel("no config")
        self.open_config_button = QtWidgets.QPushButton("Open config…")
        self.open_run_button = QtWidgets.QPushButton("Open run…")
        self.open_run_button.setToolTip("a finished run, or one still being written by "
                                        "'agelab run' elsewhere: followed live")
        self.start_button = QtWidgets.QPushButton("Start study")
        self.start_button.setEnabled(False)
        self.start_button.setStyleSheet("QPushButton:enabled { font-weight: 600; }")
        self.pause_all = QtWidgets.QPushButton("Pause all")
        self.resume_all = QtWidgets.QPushButton("Resume all")
        self.abort_all = QtWidgets.QPushButton("Abort all")
        self.abort_all.setStyleSheet("QPushButton:enabled { color: #c62828; }")
        self.open_config_button.clicked.connect(self.open_config)
        self.open_run_button.clicked.connect(self.open_run)
        self.start_button.clicked.connect(self.start_study)
        self.pause_all.clicked.connect(lambda: self.pause.emit(None))
        self.resume_all.clicked.connect(lambda: self.resume.emit(None))
        self.abort_all.clicked.connect(lambda: self.abort.emit(None))
        bar.addWidget(self.config_label, 1)
        for b in (self.open_config_button, self.open_run_button, self.start_button):
            bar.addWidget(b)
        bar.addSpacing(16)
        for b in (self.pause_all, self.resume_all, self.abort_all):
            bar.addWidget(b)
        outer.addLayout(bar)

        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        outer.addWidget(self.message)

        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        top = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.tiles_box = QtWidgets.QWidget()
        self.tiles_layout = QtWidgets.QVBoxLayout(self.tiles_box)
        self.tiles_layout.setContentsMargins(0, 0, 0, 0)
        self.tiles_layout.setSpacing(4)
        self.tiles_layout.addStretch(1)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.tiles_box)
        scroll.setMinimumWidth(300)
        top.addWidget(scroll)
        self.plots = DashboardPlots()
        top.addWidget(self.plots)
        top.setStretchFactor(1, 1)
        top.setSizes([330, 1200])
        split.addWidget(top)
        self.bottom = QtWidgets.QTabWidget()
        self.events = EventsLog()
        self.config_view = ConfigView()
        self.bottom.addTab(self.events, "Events")
        self.bottom.addTab(self.config_view, "Config")
        split.addWidget(self.bottom)
        split.setStretchFactor(0, 1)
        split.setSizes([700, 200])
        outer.addWidget(split, 1)
        self.tiles: dict[str, ChannelTile] = {}
        self.set_controls(False)

    # ---------------------------------------------------------------- config
    def show_config(self, path: str, text: str, error: str | None) -> None:
        """A loaded config: ready to start, or its one error shown in plain words at its line."""
        self.config_label.setText(f"config: {path}")
        line = None
        if error:
            m = _LINE.search(error)
            line = int(m.group(1)) if m else None
            self.say(error, error=True)
            self.bottom.setCurrentWidget(self.config_view)
        else:
            self.say(f"{path} is valid. Start the study when ready.")
        self.config_view.show_text(text, line)

    def say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet(
            "QLabel { background: #ffebee; color: #b71c1c; padding: 6px; border-radius: 3px; }"
            if error else "QLabel { background: #e8f5e9; color: #1b5e20; padding: 6px; "
                          "border-radius: 3px; }")
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # ---------------------------------------------------------------- the run
    def clear_run(self) -> None:
        for tile in self.tiles.values():
            tile.setParent(None)
            tile.deleteLater()
        self.tiles.clear()
        self.plots.clear()
        self.events.clear()

    def set_controls(self, on: bool) -> None:
        """Pause/resume/abort work only on a study this window runs."""
        for b in (self.pause_all, self.resume_all, self.abort_all):
            b.setEnabled(on)
        for tile in self.tiles.values():
            tile.set_controllable(on)

    def draw(self, frame: RunFrame, controllable: bool) -> None:
        count = len(frame.channels)
        for index, ch in enumerate(frame.channels):
            tile = self.tiles.get(ch.name)
            if tile is None:
                tile = self.tiles[ch.name] = ChannelTile(ch.name, channel_colour(index, count))
                tile.pause_clicked.connect(self.pause)
                tile.resume_clicked.connect(self.resume)
                tile.abort_clicked.connect(self.abort)
                tile.set_controllable(controllable)
                self.tiles_layout.insertWidget(self.tiles_layout.count() - 1, tile)
            tile.show_frame(ch)
        self.plots.draw(frame)
        self.events.add(frame.events, frame.event_counts)
