"""``python -m agelab.gui.screenshot CONFIG PNG``: the window mid-study, saved as a PNG (``make
screenshot`` runs it under Xvfb, in a real X window).

It starts the study from the window as a user would, waits until the study is well under way
(``--after`` wall seconds), shows the channel asked for, saves the window, then stops the study
safely (every output ramped off) and exits.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agelab.gui.screenshot")
    parser.add_argument("config", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--after", type=float, default=40.0, help="wall seconds into the study")
    parser.add_argument("--channel", default=None, help="the channel shown in the families")
    parser.add_argument("--out", type=Path, default=Path("runs"))
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)

    from agelab.gui.main_window import MainWindow
    from agelab.gui.qt import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    window = MainWindow(args.out, bench_process=False)
    window.resize(1600, 960)
    window.show()
    window.load_config(args.config)
    window.wait_idle()
    if window.config is None:
        print(f"agelab.gui.screenshot: {window.dashboard.message.text()}", file=sys.stderr)
        return 2
    window.start_study()

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)

    pump(args.after)
    if args.channel:
        window.dashboard.plots.selector.setCurrentText(args.channel)
    pump(1.0)
    args.png.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(args.png))
    print(f"saved {args.png} ({window.width()}x{window.height()}, platform "
          f"{app.platformName()})")
    window.stop_and_close()
    deadline = time.monotonic() + 120
    while window.isVisible() and time.monotonic() < deadline:
        pump(0.1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
