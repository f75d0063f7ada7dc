"""Work off the GUI thread: following a run file, and instrument I/O.

The GUI thread only draws. ``FollowWorker`` polls a run file on its own ``QThread`` and hands
frames over by a queued signal; ``TaskRunner`` runs instrument work (connect, sweeps, set a level)
one job at a time on a worker thread and reports each result back on the GUI thread.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agelab.gui.follow import RunFollower
from agelab.gui.qt import QtCore, Signal
from agelab.instruments.resilience import InstrumentFault
from agelab.protocols.store import RunFileError

FOLLOW_INTERVAL_MS = 500
IDLE_INTERVAL_MS = 2000  # a finished run is still polled, slowly (it may be resumed)

# Errors that mean "the instrument or the input said no", shown as one line; anything else is a
# defect and is shown with its type so it can be reported.
EXPECTED_ERRORS = (InstrumentFault, ValueError, OSError, RuntimeError, TimeoutError)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, EXPECTED_ERRORS):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc} (a defect; details on the console)"


class FollowWorker(QtCore.QObject):
    """Polls one run file on the thread it is moved to; emits each new ``RunFrame``."""

    frame = Signal(object)
    failed = Signal(str)

    def __init__(self, path: Path, interval_ms: int = FOLLOW_INTERVAL_MS) -> None:
        super().__init__()
        self.follower = RunFollower(path)
        self.interval_ms = interval_ms
        self._timer: QtCore.QTimer | None = None
        self._reported = False

    @QtCore.Slot()
    def start(self) -> None:
        # A slot, so every binding runs it on the worker's thread (PySide6 ran an undecorated
        # method on the emitting thread, and two threads then polled the same follower).
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._tick)
        self._tick()

    @QtCore.Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.follower.close()

    @QtCore.Slot()
    def _tick(self) -> None:
        delay = self.interval_ms
        try:
            frame = self.follower.poll()
            self._reported = False
            self.frame.emit(frame)
            if not frame.live:
                delay = max(delay, IDLE_INTERVAL_MS)
        except RunFileError as exc:  # not there yet, or not a run: say so once, keep trying
            if not self._reported:
                self.failed.emit(str(exc))
                self._reported = True
            delay = IDLE_INTERVAL_MS
        except Exception as exc:
            traceback.print_exc()
            self.failed.emit(describe_error(exc))
            delay = IDLE_INTERVAL_MS
        if self._timer is not None:
            self._timer.start(delay)


class Follower(QtCore.QObject):
    """A ``FollowWorker`` on its own thread; ``close()`` stops both."""

    frame = Signal(object)
    failed = Signal(str)

    def __init__(self, path: Path, interval_ms: int = FOLLOW_INTERVAL_MS,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self._thread = QtCore.QThread()
        self._thread.setObjectName(f"follow:{self.path.name}")
        self._worker = FollowWorker(self.path, interval_ms)
        self._worker.moveToThread(self._thread)
        self._worker.frame.connect(self.frame)
        self._worker.failed.connect(self.failed)
        self._thread.started.connect(self._worker.start)
        self._thread.start()

    def close(self) -> None:
        if self._thread.isRunning():
            QtCore.QMetaObject.invokeMethod(self._worker, "stop",
                                            QtCore.Qt.ConnectionType.BlockingQueuedConnection)
            self._thread.quit()
            self._thread.wait(5000)


class TaskRunner(QtCore.QObject):
    """Instrument work, one job at a time, off the GUI thread.

    ``submit(fn, on_done)`` returns at once; ``on_done(result, error)`` is later called on the GUI
    thread with the result or with a one-line error. Jobs run in the order submitted, so a
    "set level" and a "sweep" never interleave on the bus.
    """

    _finished = Signal(object, object)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gui-io")
        self._finished.connect(self._deliver)
        self.pending = 0

    def submit(self, fn: Callable[[], Any],
               on_done: Callable[[Any, str | None], None] | None = None) -> Future:
        self.pending += 1
        future = self._pool.submit(fn)
        future.add_done_callback(lambda f: self._finished.emit(f, on_done))
        return future

    def _deliver(self, future: Future, on_done) -> None:
        self.pending -= 1
        error = future.exception()
        if error is not None and not isinstance(error, EXPECTED_ERRORS):
            traceback.print_exception(error)
        if on_done is not None:
            on_done(None if error else future.result(),
                    describe_error(error) if error else None)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)
