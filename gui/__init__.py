"""AgeLab's Qt window (PyQt5 + pyqtgraph)."""
