"""The dashboard's plots, drawn from a ``RunFrame``.

Histories (L/L0 and V against t) are one curve per channel in the channel's colour, from the
decimated series of ``gui.follow``, so a redraw costs the same on day 40 as in minute 1. The
families (J–V, C–V), the EL spectrum and its heat map, and EL / PL / exciton-generation efficiency
are for the channel picked in the selector, coloured by age (early dark, late bright).
"""

from __future__ import annotations

import numpy as np

from agelab.gui.follow import ChannelFrame, RunFrame
from agelab.gui.qt import QtCore, QtWidgets, pg
from agelab.gui.tiles import channel_colour

pg.setConfigOptions(imageAxisOrder="row-major", background="w", foreground="#202020",
                    antialias=False)
AGE_MAP = pg.colormap.get("viridis")
HEAT_MAP = pg.colormap.get("inferno")
MILESTONE_LEVELS = (0.95, 0.9, 0.5)


def _plot(title: str, x: str, y: str) -> pg.PlotWidget:
    w = pg.PlotWidget(title=title)
    w.setLabel("bottom", x)
    w.setLabel("left", y)
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMinimumSize(220, 160)
    w.getPlotItem().titleLabel.setMaximumHeight(22)
    return w


def milestone_level(key: str, state: dict) -> float | None:
    """Where a reached milestone sits on the L/L0 axis (``T90_from_max`` is 0.9·Lmax/L0)."""
    try:
        fraction = int(key.split("_")[0][1:]) / 100.0
    except ValueError:
        return None
    if key.endswith("_from_max"):
        l0, lmax = state.get("l0"), state.get("l_max")
        return fraction * lmax / l0 if l0 and lmax else None
    return fraction


class DashboardPlots(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        bar = QtWidgets.QHBoxLayout()
        self.log_time = QtWidgets.QCheckBox("log time")
        self.log_time.setChecked(True)
        self.log_time.toggled.connect(self._set_log_time)
        self.selector = QtWidgets.QComboBox()
        self.selector.setMinimumContentsLength(12)
        self.selector.currentTextChanged.connect(self._selection_changed)
        bar.addWidget(self.log_time)
        bar.addStretch(1)
        bar.addWidget(QtWidgets.QLabel("sweeps and spectra of"))
        bar.addWidget(self.selector)
        outer.addLayout(bar)
        grid = QtWidgets.QGridLayout()
        grid.setSpacing(4)
        outer.addLayout(grid, 1)

        self.lum = _plot("Luminance", "stress time (h)", "L / L0")
        self.volt = _plot("Voltage", "stress time (h)", "V (V)")
        self.elpl = _plot("EL, PL and exciton generation", "stress time (h)", "relative")
        self.jv = _plot("J–V family", "V (V)", "|J| (mA/cm²)")
        self.cv = _plot("C–V family", "bias (V)", "C (nF)")
        self.el = _plot("EL spectrum (latest)", "wavelength (nm)", "counts/s")
        self.heat = _plot("EL over time", "wavelength (nm)", "spectrum (oldest at bottom)")
        self.jv.setLogMode(y=True)
        self.lum.addLegend(offset=(10, 10), labelTextSize="8pt")  # upper left: empty early on
        self.elpl.addLegend(offset=(10, 10), labelTextSize="8pt")
        for level in MILESTONE_LEVELS:
            self.lum.addItem(pg.InfiniteLine(level, angle=0, pen=pg.mkPen("#9e9e9e", width=1,
                                                                          style=QtCore.Qt.PenStyle.DashLine)))
        grid.addWidget(self.lum, 0, 0, 1, 2)
        grid.addWidget(self.volt, 0, 2)
        grid.addWidget(self.elpl, 0, 3)
        grid.addWidget(self.jv, 1, 0)
        grid.addWidget(self.cv, 1, 1)
        grid.addWidget(self.el, 1, 2)
        grid.addWidget(self.heat, 1, 3)
        for col in range(4):
            grid.setColumnStretch(col, 1)

        self.heat_image = pg.ImageItem()
        self.heat_image.setColorMap(HEAT_MAP)
        self.heat.addItem(self.heat_image)
        self.el_curve = self.el.plot(pen=pg.mkPen("#c62828", width=1.5))
        self.elpl_curves = {
            "EL": self.elpl.plot(pen=pg.mkPen("#c62828", width=1.5), symbol="o", symbolSize=5,
                                 symbolBrush="#c62828", name="EL"),
            "PL": self.elpl.plot(pen=pg.mkPen("#1565c0", width=1.5), symbol="s", symbolSize=5,
                                 symbolBrush="#1565c0", name="PL"),
            "EGE": self.elpl.plot(pen=pg.mkPen("#2e7d32", width=1.5), symbol="t", symbolSize=6,
                                  symbolBrush="#2e7d32", name="EL / (J·PL)"),
        }
        self.milestone_marks = pg.ScatterPlotItem(symbol="d", size=9, pen=pg.mkPen("k"))
        self.lum.addItem(self.milestone_marks)
        self._lum_curves: dict[str, pg.PlotDataItem] = {}
        self._volt_curves: dict[str, pg.PlotDataItem] = {}
        self._family_key: tuple | None = None
        self._frame: RunFrame | None = None
        self._set_log_time(True)

    # ---------------------------------------------------------------- drawing
    def clear(self) -> None:
        for curves, plot in ((self._lum_curves, self.lum), (self._volt_curves, self.volt)):
            for item in curves.values():
                plot.removeItem(item)
            curves.clear()
        self.selector.clear()
        self._family_key = None
        self._frame = None

    def draw(self, frame: RunFrame) -> None:
        self._frame = frame
        names = [ch.name for ch in frame.channels]
        if [self.selector.itemText(i) for i in range(self.selector.count())] != names:
            current = self.selector.currentText()
            self.selector.blockSignals(True)
            self.selector.clear()
            self.selector.addItems(names)
            if current in names:
                self.selector.setCurrentText(current)
            self.selector.blockSignals(False)
        self._draw_histories(frame)
        selected = self.selected_channel()
        if selected is not None:
            self._draw_families(selected)

    def selected_channel(self) -> ChannelFrame | None:
        if self._frame is None:
            return None
        name = self.selector.currentText()
        return next((ch for ch in self._frame.channels if ch.name == name), None)

    def _draw_histories(self, frame: RunFrame) -> None:
        log = self.log_time.isChecked()
        marks = []
        count = len(frame.channels)
        for index, ch in enumerate(frame.channels):
            colour = channel_colour(index, count)
            for curves, plot, t, y in ((self._lum_curves, self.lum, ch.t_l, ch.l_rel),
                                       (self._volt_curves, self.volt, ch.t_v, ch.v)):
                item = curves.get(ch.name)
                if item is None:
                    item = curves[ch.name] = plot.plot(
                        pen=pg.mkPen(colour, width=1), connect="finite",
                        name=ch.name if plot is self.lum else None)
                if log:
                    keep = t > 0
                    t, y = t[keep], y[keep]
                # All finite (the usual case): pyqtgraph's fast path, no per-point checks.
                finite = bool(np.isfinite(y).all())
                item.setData(t, y, connect="all" if finite else "finite",
                             skipFiniteCheck=finite)
            for key, t_cross in (ch.state.get("milestones") or {}).items():
                level = milestone_level(key, ch.state)
                if level is not None and t_cross and (t_cross > 0 or not log):
                    marks.append({"pos": (np.log10(t_cross) if log else t_cross, level),
                                  "brush": colour, "data": f"{ch.name} {key}"})
        self.milestone_marks.setData(marks)

    def _draw_families(self, ch: ChannelFrame) -> None:
        key = (ch.name, len(ch.jv), len(ch.cv), len(ch.heat_t), len(ch.el_pl),
               ch.latest_el["t_h"] if ch.latest_el else None)
        if key == self._family_key:
            return
        self._family_key = key
        ages = [s["t_h"] for s in (*ch.jv, *ch.cv)] or [0.0]
        span = max(max(ages) - min(ages), 1e-9)
        for plot, sweeps, scale in ((self.jv, ch.jv, 1.0), (self.cv, ch.cv, 1e9)):
            plot.clear()
            for s in sweeps:
                colour = AGE_MAP.map((s["t_h"] - min(ages)) / span, mode="qcolor")
                y = np.abs(s["y"]) * scale if plot is self.jv else s["y"] * scale
                x = s["x"]
                if plot is self.jv:
                    keep = y > 0
                    x, y = x[keep], y[keep]
                plot.plot(x, y, pen=pg.mkPen(colour, width=1.2))
            plot.setTitle(f"{'J–V' if plot is self.jv else 'C–V'} · {ch.name} "
                          f"({len(sweeps)})")
        if ch.latest_el is not None:
            s = ch.latest_el
            self.el_curve.setData(s["wavelength_nm"],
                                  s["counts"] / max(s["integration_s"] or 1.0, 1e-9))
            self.el.setTitle(f"EL · {ch.name} · {s['t_h']:.2f} h")
        else:
            self.el_curve.setData([], [])
        self._draw_heat(ch)
        points = ch.el_pl
        t = np.array([p.t_h for p in points])
        for name, attr in (("EL", "el_rel"), ("PL", "pl_rel"), ("EGE", "ege_rel")):
            y = np.array([np.nan if getattr(p, attr) is None else getattr(p, attr)
                          for p in points])
            keep = np.isfinite(y) & ((t > 0) if self.log_time.isChecked() else True)
            self.elpl_curves[name].setData(t[keep], y[keep])

    def _draw_heat(self, ch: ChannelFrame) -> None:
        if ch.heat is None or ch.heat_grid is None:
            self.heat_image.clear()
            return
        image = ch.heat / max(float(np.nanmax(ch.heat)), 1e-12)
        self.heat_image.setImage(image, levels=(0.0, 1.0))
        wl = ch.heat_grid
        self.heat_image.setRect(QtCore.QRectF(wl[0], 0, wl[-1] - wl[0], len(image)))
        rows = len(ch.heat_t)
        picks = sorted({0, rows // 2, rows - 1}) if rows > 1 else [0]
        ticks = [(i + 0.5, f"{ch.heat_t[i]:.1f} h") for i in picks]
        self.heat.getAxis("left").setTicks([ticks])
        self.heat.setLabel("left", "stress time")

    # ---------------------------------------------------------------- controls
    def _set_log_time(self, on: bool) -> None:
        for plot in (self.lum, self.volt, self.elpl):
            plot.setLogMode(x=on, y=False)
        self._family_key = None
        if self._frame is not None:
            self.draw(self._frame)

    def _selection_changed(self, _name: str) -> None:
        self._family_key = None
        selected = self.selected_channel()
        if selected is not None:
            self._draw_families(selected)
