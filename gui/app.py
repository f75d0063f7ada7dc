"""``agelab gui [CONFIG | RUN]``: the main window, with a config loaded or a run followed."""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from pathlib import Path

RUN_SUFFIXES = (".sqlite", ".db", ".sqlite3")


def add_gui_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="the benchtop GUI: run, watch and drive the rig live")
    p.add_argument("path", nargs="?", type=Path,
                   help="a study config to load, or a run file to follow (default: ./config.yaml "
                        "if there is one)")
    p.add_argument("--out", type=Path, default=Path("runs"),
                   help="folder for run files and benchtop files")
    p.add_argument("--in-process-bench", action="store_true",
                   help="run the virtual bench inside this process (no resume after a crash)")
    p.set_defaults(func=cmd_gui)


def cmd_gui(args: argparse.Namespace) -> int:
    path: Path | None = args.path
    if path is None and Path("config.yaml").is_file():
        path = Path("config.yaml")
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    warnings.filterwarnings("ignore", category=FutureWarning)
    from agelab.gui.main_window import MainWindow
    from agelab.gui.qt import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("AgeLab")
    window = MainWindow(args.out, bench_process=not args.in_process_bench)
    if path is not None and path.suffix.lower() in RUN_SUFFIXES:
        window.follow(path)
    elif path is not None:
        window.load_config(path)
    install_signal_handlers(window)
    # Python handles signals only between bytecodes: a timer lets it run while Qt waits.
    heartbeat = QtCore.QTimer()
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(200)
    window.show()
    return int(app.exec())


def install_signal_handlers(window) -> None:
    """Ctrl-C or SIGTERM: stop safely (every output ramped off), then quit."""
    def stop(signum, frame) -> None:
        print("agelab gui: stopping safely, ramping outputs down", file=sys.stderr, flush=True)
        window.stop_and_close()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
