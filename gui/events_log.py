"""The events log: every event of the run, newest last, faults highlighted."""

from __future__ import annotations

import json
import time
from typing import Any

from agelab.gui.follow import MAX_EVENTS
from agelab.gui.qt import QtGui, QtWidgets

BACKGROUNDS = {"error": "#ffcdd2", "warning": "#fff3c4"}


def _detail(event: dict[str, Any]) -> str:
    d = dict(event.get("detail") or {})
    if event["kind"] == "fault":
        return f"{d.get('instrument')}: {d.get('fault')} — {d.get('detail', '')}"
    if event["kind"] == "milestone":
        return f"{d.get('name')} at {d.get('t_cross_h', 0):.3f} h"
    if event["kind"] == "interruption":
        return f"{', '.join(d.get('steps', []))} ({d.get('label')}), off {d.get('wall_s', 0):.2f} s"
    return json.dumps(d, default=str)[:300] if d else ""


class EventsLog(QtWidgets.QWidget):
    COLUMNS = ("time", "t (h)", "channel", "event", "detail")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QtWidgets.QHBoxLayout()
        self.summary = QtWidgets.QLabel("no events")
        self.problems_only = QtWidgets.QCheckBox("faults and warnings only")
        self.problems_only.toggled.connect(self._refilter)
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.problems_only)
        layout.addLayout(bar)
        self.table = QtWidgets.QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        for col in range(4):
            header.setSectionResizeMode(col, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table)
        self._shown_id = 0
        self._rows: list[str] = []  # each row's severity

    def clear(self) -> None:
        self.table.setRowCount(0)
        self._rows.clear()
        self._shown_id = 0
        self.summary.setText("no events")

    def add(self, events: tuple[dict[str, Any], ...], counts: dict[str, int]) -> None:
        new = [e for e in events if e["id"] > self._shown_id]
        if not new:
            return
        at_bottom = (self.table.verticalScrollBar().value()
                     >= self.table.verticalScrollBar().maximum() - 2)
        self._shown_id = new[-1]["id"]
        self.table.setUpdatesEnabled(False)
        for event in new[-MAX_EVENTS:]:
            row = self.table.rowCount()
            self.table.insertRow(row)
            t_h = event.get("t_h")
            cells = (time.strftime("%m-%d %H:%M:%S", time.localtime(event["wall"])),
                     "" if t_h is None else f"{t_h:.3f}", event.get("channel") or "run",
                     event["kind"], _detail(event))
            colour = BACKGROUNDS.get(event["severity"])
            for col, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                if colour:
                    item.setBackground(QtGui.QColor(colour))
                self.table.setItem(row, col, item)
            self._rows.append(event["severity"])
            self.table.setRowHidden(row, self._hidden(event["severity"]))
        excess = self.table.rowCount() - MAX_EVENTS
        for _ in range(max(0, excess)):
            self.table.removeRow(0)
            self._rows.pop(0)
        self.table.setUpdatesEnabled(True)
        if at_bottom:
            self.table.scrollToBottom()
        self.summary.setText(f"{sum(counts.values())} events: {counts.get('error', 0)} errors, "
                             f"{counts.get('warning', 0)} warnings")

    def _hidden(self, level: str) -> bool:
        return self.problems_only.isChecked() and level == "info"

    def _refilter(self) -> None:
        for row, level in enumerate(self._rows):
            self.table.setRowHidden(row, self._hidden(level))

    def problem_rows(self) -> list[tuple[str, str]]:
        """(event, severity) of each highlighted row (for tests and the status bar)."""
        return [(self.table.item(r, 3).text(), level) for r, level in enumerate(self._rows)
                if level != "info"]
