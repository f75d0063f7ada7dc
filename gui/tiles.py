"""Per-channel tiles: status, L/L0, V, stress time, milestones reached, and the channel's own
pause / resume / abort."""

from __future__ import annotations

from agelab.gui.follow import ChannelFrame
from agelab.gui.qt import QtWidgets, Signal, pg
from agelab.protocols.store.records import FINAL_STATUSES

STATUS_COLOURS = {
    "running": "#2e7d32", "paused": "#f9a825", "finished": "#1565c0", "stopped": "#6a1b9a",
    "aborted": "#c62828", "failed": "#c62828", "pending": "#757575",
}


def channel_colour(index: int, count: int) -> str:
    """The colour a channel has in every plot and on its tile."""
    return pg.intColor(index, hues=max(count, 6), values=1, maxValue=220).name()


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "–" if value is None else f"{format(value, spec)}{unit}"


class ChannelTile(QtWidgets.QFrame):
    pause_clicked = Signal(object)
    resume_clicked = Signal(object)
    abort_clicked = Signal(object)

    def __init__(self, name: str, colour: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName("tile")
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        self.setStyleSheet(f"#tile {{ border: 1px solid #c8c8c8; border-left: 5px solid {colour};"
                           " border-radius: 4px; background: palette(base); }")
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(8, 4, 6, 4)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(1)
        title = QtWidgets.QLabel(f"<b>{name}</b>")
        self.status = QtWidgets.QLabel("pending")
        self.l_rel = QtWidgets.QLabel("–")
        self.l_rel.setStyleSheet("font-size: 17px; font-weight: 600;")
        self.l_rel.setToolTip("L/L0: luminance relative to its first sample at the stress current")
        self.detail = QtWidgets.QLabel("")
        self.milestones = QtWidgets.QLabel("")
        self.milestones.setWordWrap(True)
        self.milestones.setStyleSheet("color: palette(dark);")
        grid.addWidget(title, 0, 0)
        grid.addWidget(self.status, 0, 1)
        grid.addWidget(self.l_rel, 1, 0)
        grid.addWidget(self.detail, 1, 1)
        grid.addWidget(self.milestones, 2, 0, 1, 2)
        buttons = QtWidgets.QHBoxLayout()
        self.pause_button = self._button("Pause", self.pause_clicked, "ramp this pixel off and "
                                         "stop its stress clock")
        self.resume_button = self._button("Resume", self.resume_clicked, "ramp back to the set "
                                          "point and carry on")
        self.abort_button = self._button("Abort", self.abort_clicked, "end this channel: ramp "
                                         "off, output off (asks first)")
        for b in (self.pause_button, self.resume_button, self.abort_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        grid.addLayout(buttons, 3, 0, 1, 2)
        self.set_controllable(False)

    def _button(self, text: str, signal, tip: str) -> QtWidgets.QToolButton:
        button = QtWidgets.QToolButton()
        button.setText(text)
        button.setAutoRaise(False)
        button.setToolTip(tip)
        button.clicked.connect(lambda: signal.emit(self.name))
        return button

    def set_controllable(self, on: bool) -> None:
        for b in (self.pause_button, self.resume_button, self.abort_button):
            b.setEnabled(on)

    def show_frame(self, ch: ChannelFrame) -> None:
        colour = STATUS_COLOURS.get(ch.status, "#757575")
        self.status.setText(f"<span style='color:{colour}; font-weight:600'>{ch.status}</span>")
        self.l_rel.setText(_fmt(ch.l_rel_now, ".3f"))
        t, _, v, _ = ch.last if ch.last else (None, None, None, None)
        self.detail.setText(f"{_fmt(v, '.3f', ' V')}   t {_fmt(t, '.2f', ' h')}")
        reached = ch.state.get("milestones") or {}
        text = "  ".join(f"{k.replace('_from_max', '·max')} {v:.2f} h"
                         for k, v in reached.items())
        self.milestones.setText(text or "no milestone yet")
        if ch.status in FINAL_STATUSES:
            self.set_controllable(False)
