"""The benchtop panel: one pixel by hand — a level, output on and off through the ramp, and a
single J–V–L, C–V, EL spectrum or PL reading, each plotted and saved to the benchtop run file."""

from __future__ import annotations

import numpy as np

from agelab.gui.qt import QtCore, QtWidgets, Signal, pg
from agelab.protocols.store.records import ReadingRecord, Sample, SpectrumRecord, SweepRecord

MONITOR_INTERVAL_MS = 1000


class BenchtopPanel(QtWidgets.QWidget):
    # (channel, action, argument): the window runs it on its worker thread
    requested = Signal(str, str, str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        controls = QtWidgets.QVBoxLayout()
        layout.addLayout(controls, 0)
        form = QtWidgets.QFormLayout()
        self.channel = QtWidgets.QComboBox()
        self.level = QtWidgets.QLineEdit("10 mA/cm^2")
        self.level.setToolTip("a current density (10 mA/cm^2), a current (2 mA) or a voltage "
                              "(3 V); checked against the config's safety limits")
        self.limits = QtWidgets.QLabel("")
        self.limits.setStyleSheet("color: palette(dark);")
        form.addRow("pixel", self.channel)
        form.addRow("level", self.level)
        form.addRow("", self.limits)
        controls.addLayout(form)
        row = QtWidgets.QHBoxLayout()
        self.set_button = self._button(row, "Output on / set", "set", "ramps to the level")
        self.off_button = self._button(row, "Output off", "off", "ramps to zero, then off")
        controls.addLayout(row)
        grid = QtWidgets.QGridLayout()
        self.jv_button = self._button(None, "J–V–L sweep", "jv", "")
        self.cv_button = self._button(None, "C–V sweep", "cv", "")
        self.el_button = self._button(None, "EL spectrum", "el", "")
        self.pl_button = self._button(None, "PL reading", "pl", "")
        for i, b in enumerate((self.jv_button, self.cv_button, self.el_button, self.pl_button)):
            grid.addWidget(b, i // 2, i % 2)
        controls.addLayout(grid)
        self.monitor = QtWidgets.QCheckBox("read V, I, L every second while on")
        self.monitor.setChecked(True)
        controls.addWidget(self.monitor)
        self.readout = QtWidgets.QLabel("output off")
        self.readout.setStyleSheet("font-size: 15px; font-weight: 600;")
        controls.addWidget(self.readout)
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setMinimumWidth(260)
        controls.addWidget(self.message)
        self.file_label = QtWidgets.QLabel("benchtop file: none yet")
        self.file_label.setWordWrap(True)
        self.file_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        controls.addWidget(self.file_label)
        controls.addStretch(1)

        plots = QtWidgets.QGridLayout()
        layout.addLayout(plots, 1)
        self.jv_plot = pg.PlotWidget(title="J–V–L")
        self.jv_plot.setLabel("bottom", "V (V)")
        self.jv_plot.setLabel("left", "|J| (mA/cm²)")
        self.jv_plot.setLogMode(y=True)
        self.jv_plot.addLegend()
        self.cv_plot = pg.PlotWidget(title="C–V")
        self.cv_plot.setLabel("bottom", "bias (V)")
        self.cv_plot.setLabel("left", "C (nF)")
        self.el_plot = pg.PlotWidget(title="EL spectrum")
        self.el_plot.setLabel("bottom", "wavelength (nm)")
        self.el_plot.setLabel("left", "counts/s")
        self.history = pg.PlotWidget(title="readings")
        self.history.setLabel("bottom", "time (device h)")
        self.history.setLabel("left", "L (cd/m²)")
        for plot in (self.jv_plot, self.cv_plot, self.el_plot, self.history):
            plot.showGrid(x=True, y=True, alpha=0.2)
        plots.addWidget(self.jv_plot, 0, 0)
        plots.addWidget(self.cv_plot, 0, 1)
        plots.addWidget(self.el_plot, 1, 0)
        plots.addWidget(self.history, 1, 1)
        self._history: list[tuple[float, float]] = []
        self._history_curve = self.history.plot(pen=None, symbol="o", symbolSize=5)
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(MONITOR_INTERVAL_MS)
        self._timer.timeout.connect(self._monitor_tick)
        self.output_on = False
        self.busy = False
        self.set_enabled(False, "open a config to work at the bench")

    def _button(self, row, text: str, action: str, tip: str) -> QtWidgets.QPushButton:
        button = QtWidgets.QPushButton(text)
        if tip:
            button.setToolTip(tip)
        button.clicked.connect(lambda: self._request(action))
        if row is not None:
            row.addWidget(button)
        return button

    def _request(self, action: str) -> None:
        name = self.channel.currentText()
        if not name:
            return
        self.requested.emit(name, action, self.level.text() if action == "set" else "")

    def _monitor_tick(self) -> None:
        if self.output_on and self.monitor.isChecked() and not self.busy:
            self.requested.emit(self.channel.currentText(), "read", "")

    def set_channels(self, names: list[str], limits: str) -> None:
        self.channel.clear()
        self.channel.addItems(names)
        self.limits.setText(limits)

    def set_enabled(self, on: bool, why: str = "") -> None:
        for w in (self.channel, self.level, self.set_button, self.off_button, self.jv_button,
                  self.cv_button, self.el_button, self.pl_button):
            w.setEnabled(on)
        if why:
            self.say(why)

    def say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #c62828;" if error else "")
        self.message.setText(text)

    def set_output(self, on: bool, text: str) -> None:
        self.output_on = on
        self.readout.setText(text)
        if on:
            self._timer.start()
        else:
            self._timer.stop()

    # ---------------------------------------------------------------- results
    def show_result(self, record: object) -> None:
        if isinstance(record, Sample):
            self._history.append((record.t_h, record.l_cd_m2))
            self._history = self._history[-2000:]
            t, lum = np.array(self._history).T
            self._history_curve.setData(t, lum)
            if self.output_on:
                self.readout.setText(f"{record.v_v:.3f} V   {record.j_ma_cm2:.2f} mA/cm²   "
                                     f"{record.l_cd_m2:.4g} cd/m²")
        elif isinstance(record, SweepRecord) and record.kind == "jv":
            j = np.abs(record.y)
            keep = j > 0
            n = len(self.jv_plot.listDataItems())
            colour = pg.intColor(n, hues=8)
            self.jv_plot.plot(record.x[keep], j[keep], pen=pg.mkPen(colour, width=1.5),
                              name=f"t = {record.t_h:.2f} h")
            self.say(f"J–V–L: {len(record.x)} points, max L {np.nanmax(record.z):.4g} cd/m²")
        elif isinstance(record, SweepRecord) and record.kind == "cv":
            n = len(self.cv_plot.listDataItems())
            self.cv_plot.plot(record.x, record.y * 1e9, pen=pg.mkPen(pg.intColor(n, hues=8),
                                                                     width=1.5))
            self.say(f"C–V: {len(record.x)} points")
        elif isinstance(record, SpectrumRecord):
            self.el_plot.clear()
            self.el_plot.plot(record.wavelength_nm, record.counts / record.integration_s,
                              pen=pg.mkPen("#c62828", width=1.5))
            peak = record.wavelength_nm[int(np.argmax(record.counts))]
            self.say(f"EL: peak near {peak:.1f} nm ({record.integration_s * 1e3:g} ms)")
        elif isinstance(record, ReadingRecord):
            self.say(f"PL (lock-in): R = {np.hypot(record.x, record.y) * 1e3:.4g} mV")
