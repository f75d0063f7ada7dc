"""The engine of a study started from the window, on its own thread.

The GUI thread never runs the engine: ``EngineHost.start`` builds an ``Engine`` and runs it on a
plain Python thread, and reports its life (started, finished, failed) as Qt signals. Pause, resume
and abort only set flags the runners read, so they return at once. The data themselves reach the
window through the run file (``gui.follow``), like those of any other run.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import Counter
from pathlib import Path

from agelab.gui.qt import QtCore, Signal
from agelab.protocols.config import RunConfig
from agelab.protocols.engine.engine import Engine
from agelab.protocols.store.records import EventRecord


class EngineHost(QtCore.QObject):
    started = Signal(str)      # the run file's path
    finished = Signal(object)  # {channel: final status}
    failed = Signal(str)       # the engine could not run (the run file says what it did)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.engine: Engine | None = None
        self.path: Path | None = None
        self._thread: threading.Thread | None = None
        self._faults: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, config: RunConfig, config_text: str, out_dir: Path, *,
              bench_process: bool = True) -> Path:
        if self.running:
            raise RuntimeError("a study is already running in this window")
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = out_dir / f"{config.study}-{stamp}.sqlite"
        n = 1
        while path.exists():  # two starts in the same second
            path = out_dir / f"{config.study}-{stamp}-{n}.sqlite"
            n += 1
        engine = Engine(config, path, config_text=config_text, bench_process=bench_process)
        engine.bus.subscribe(self._count_fault)
        self.engine, self.path = engine, path
        with self._lock:
            self._faults.clear()
        self._thread = threading.Thread(target=self._run, args=(engine,), name="engine",
                                        daemon=True)
        self._thread.start()
        return path

    def _run(self, engine: Engine) -> None:
        waiter = threading.Thread(target=self._announce, args=(engine,), daemon=True)
        waiter.start()
        try:
            statuses = engine.run()
        except Exception as exc:
            traceback.print_exc()
            self.failed.emit(f"the study stopped: {exc}")
            return
        self.finished.emit(statuses)

    def _announce(self, engine: Engine) -> None:
        if engine.wait_started(120):
            self.started.emit(str(engine.path))

    def _count_fault(self, record: object) -> None:
        if isinstance(record, EventRecord) and record.kind == "fault":
            with self._lock:
                self._faults[str(record.detail.get("instrument"))] += 1

    def fault_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._faults)

    # ---------------------------------------------------------------- control (returns at once)
    def pause(self, channel: str | None = None) -> None:
        if self.engine is not None and self.running:
            self.engine.pause(channel)

    def resume(self, channel: str | None = None) -> None:
        if self.engine is not None and self.running:
            self.engine.resume_channel(channel)

    def abort(self, channel: str | None = None, reason: str = "operator abort") -> None:
        if self.engine is not None and self.running:
            self.engine.abort(channel, reason)

    def stop(self, reason: str = "window closed") -> None:
        """Stop the whole study: every channel aborted (each ramps its output off); the engine
        thread then makes every instrument safe and closes the file."""
        self.abort(None, reason)

    def wait(self, timeout_s: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.running
