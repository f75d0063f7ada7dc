"""The station panel: each instrument with its identity, link state and fault count.

Outside a study it drives the window's own benchtop station (connect, disconnect; all I/O on the
worker thread). During a study the engine owns the instruments: the panel shows them and their
fault counts, and the connect buttons are off.
"""

from __future__ import annotations

from collections.abc import Callable

from agelab.gui.qt import QtGui, QtWidgets, Signal

COLUMNS = ("instrument", "driver", "resource", "identity", "link", "faults", "")


class StationPanel(QtWidgets.QWidget):
    connect_requested = Signal(object)     # an instrument name, or None for all
    disconnect_requested = Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        bar = QtWidgets.QHBoxLayout()
        self.owner = QtWidgets.QLabel("no station: open a config")
        self.connect_all = QtWidgets.QPushButton("Connect all")
        self.disconnect_all = QtWidgets.QPushButton("Disconnect all")
        self.disconnect_all.setToolTip("every output ramped off, every instrument made safe, "
                                       "then released")
        self.connect_all.clicked.connect(lambda: self.connect_requested.emit(None))
        self.disconnect_all.clicked.connect(lambda: self.disconnect_requested.emit(None))
        bar.addWidget(self.owner, 1)
        bar.addWidget(self.connect_all)
        bar.addWidget(self.disconnect_all)
        layout.addLayout(bar)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QtWidgets.QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table)
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        self._editable = False

    def show_rows(self, rows: list[dict], owner: str, editable: bool) -> None:
        self.owner.setText(owner)
        self._editable = editable
        self.connect_all.setEnabled(editable)
        self.disconnect_all.setEnabled(editable)
        if self.table.rowCount() != len(rows):
            self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            link = "connected" if row["connected"] else "not connected"
            cells = (row["name"], row["driver"], row["resource"], row["identity"] or "–", link,
                     str(row["faults"]))
            for c, text in enumerate(cells):
                item = self.table.item(r, c)
                if item is None or item.text() != text:
                    item = QtWidgets.QTableWidgetItem(text)
                    if c == 4:
                        item.setForeground(QtGui.QColor("#2e7d32" if row["connected"]
                                                        else "#757575"))
                    if c == 5 and row["faults"]:
                        item.setBackground(QtGui.QColor("#fff3c4"))
                    self.table.setItem(r, c, item)
            self._row_button(r, row)

    def _row_button(self, r: int, row: dict) -> None:
        button = self.table.cellWidget(r, 6)
        wanted = "Disconnect" if row["connected"] else "Connect"
        if not isinstance(button, QtWidgets.QPushButton) or button.text() != wanted:
            button = QtWidgets.QPushButton(wanted)
            signal = self.disconnect_requested if row["connected"] else self.connect_requested
            name = row["name"]
            button.clicked.connect(_emitter(signal, name))
            self.table.setCellWidget(r, 6, button)
        button.setEnabled(self._editable)

    def say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #c62828;" if error else "")
        self.message.setText(text)


def _emitter(signal, name: str) -> Callable[[], None]:
    return lambda: signal.emit(name)
