"""Qt through pyqtgraph's shim, so the GUI runs on PyQt5 (the default), PyQt6 or PySide6."""

from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

Signal = QtCore.Signal
Qt = QtCore.Qt

__all__ = ["Qt", "QtCore", "QtGui", "QtWidgets", "Signal", "pg"]
