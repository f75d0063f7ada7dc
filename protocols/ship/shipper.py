"""The shipper: reads run files (read-only) and sends Central what it lacks.

It runs as its own process, never inside the engine, so it cannot slow acquisition or touch the
file. On every (re)connect Central tells it the highest key it holds of each table; it sends
the rows above, in key order, one batch at a time, and keeps no cursor of its own. So a cut
network, a killed shipper, a restarted Central or one restored from an older backup all end
with Central holding every row once. The rows that change in place (the run's metadata, its
channels) go as snapshots when they change. When a run has ended and every row is across, the
finished file is uploaded with its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agelab.protocols import __version__
from agelab.protocols.ship.client import CentralClient, CentralRefused, CentralUnreachable
from agelab.protocols.store import inbox
from agelab.protocols.store.reader import APPEND_ONLY, RunFile, RunFileError, engine_is_writing

HEARTBEAT_S = 5.0  # the shipper's own heartbeat to Central, with its progress
BATCH_ROWS = {"samples": 50_000, "sweeps": 200, "spectra": 200, "readings": 5_000,
              "events": 5_000}


def file_snapshot(path: Path) -> bytes:
    """The run file's consistent content (its write-ahead log included), via SQLite's backup."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "run.sqlite"
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return copy.read_bytes()


@dataclass
class RunProgress:
    path: Path
    uid: str | None = None
    marks: dict[str, Any] | None = None          # Central's, from the last hello
    last_keys: dict[str, int] = field(default_factory=dict)  # the file's, at the last look
    sent_rows: int = 0
    last_sample_wall: float | None = None        # when the newest sample sent was taken
    snapshot_hash: str | None = None
    done: bool = False                            # ended, every row across, file uploaded
    refused: str | None = None
    file: RunFile | None = None                   # kept open between exchanges

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    @property
    def backlog(self) -> int:
        if self.marks is None:
            return sum(self.last_keys.values())
        return sum(max(self.last_keys.get(t, 0) - int(self.marks.get(t) or 0), 0)
                   for t in APPEND_ONLY)


class Shipper:
    """Ships the run files found at ``paths`` (files, or folders of ``*.sqlite``)."""

    def __init__(self, client: CentralClient, paths: Iterable[Path],
                 log: Callable[[str], None] = print, patient: bool = True) -> None:
        """``patient``: a file that cannot be read is tried again (one the engine is still
        creating); otherwise (a one-off backfill) it is passed over and reported."""
        self.client = client
        self.patient = patient
        self.paths = [Path(p) for p in paths]
        self.runs: dict[Path, RunProgress] = {}
        self.log = log
        self.connected = False
        self._last_heartbeat = -HEARTBEAT_S

    def file_signature(self) -> tuple:
        """What changes when an engine commits to a watched run, or a new run file appears:
        the size and modification time of each given path (a folder's changes when a file is
        added) and of each unfinished run's file and write-ahead log. A look costs a few
        ``stat`` calls and never touches SQLite."""
        watched = [*self.paths]
        watched += [path for run in self.runs.values() if not (run.done or run.refused)
                    for path in (run.path, run.path.with_name(run.path.name + "-wal"))]
        return tuple(_stat_of(path) for path in watched)

    def discover(self) -> None:
        for p in self.paths:
            found = sorted(p.glob("*.sqlite")) if p.is_dir() else [p] if p.is_file() else []
            for f in found:
                self.runs.setdefault(f.resolve(), RunProgress(f.resolve()))

    def pass_once(self) -> bool:
        """One exchange for every run not done yet; True if Central was reached for all."""
        self.discover()
        ok = True
        for progress in self.runs.values():
            if progress.done or progress.refused:
                continue
            try:
                self._exchange(progress)
            except CentralUnreachable as exc:
                if self.connected:
                    self.log(f"Central unreachable ({exc}); the run files keep everything, "
                             "retrying")
                self.connected = False
                for p in self.runs.values():
                    p.marks = None  # ask Central again once it is back
                return False
            except CentralRefused as exc:
                progress.refused = str(exc)
                self.log(f"{progress.path.name}: refused by Central: {exc}")
                ok = False
            except (RunFileError, sqlite3.Error) as exc:
                progress.close()
                if self.patient:
                    self.log(f"{progress.path.name}: cannot be read yet ({exc}); retrying")
                else:
                    progress.refused = f"not readable as a run file: {exc}"
                    self.log(f"{progress.path.name}: passed over: {progress.refused}")
            if progress.done or progress.refused:
                progress.close()
        if time.monotonic() - self._last_heartbeat >= HEARTBEAT_S:
            self.heartbeat()
        return ok

    def _exchange(self, progress: RunProgress) -> None:
        if progress.file is None:
            progress.file = RunFile(progress.path)  # kept open for the next exchange
        run = progress.file
        meta = run.meta_text()
        if "study" not in meta:
            return  # a file the engine is still creating
        progress.uid = progress.uid or run.uid
        if progress.marks is None:
            progress.marks = self.client.hello(progress.uid, meta, self._identity())
            if not self.connected:
                self.log(f"connected to {self.client.url}")
            self.connected = True
            progress.snapshot_hash = None
        channels = [{"id": c.id, "name": c.name, "pixel": c.pixel, "area_cm2": c.area_cm2,
                     "j_ma_cm2": c.j_ma_cm2, "state": json.dumps(c.state),
                     "sample": json.dumps(c.sample, sort_keys=True)} for c in run.channels()]
        digest = hashlib.sha256(json.dumps([meta, channels], sort_keys=True).encode()
                                ).hexdigest()
        if digest != progress.snapshot_hash:
            self.client.snapshot(progress.uid, meta, channels)
            progress.snapshot_hash = digest
        for table in APPEND_ONLY:
            progress.last_keys[table] = run.last_key(table)
            while True:
                mark = int(progress.marks.get(table) or 0)
                rows = run.rows_after(table, mark, BATCH_ROWS[table])
                if not rows:
                    break
                self.client.rows(progress.uid, table, rows)
                progress.marks[table] = rows[-1][0]
                progress.sent_rows += len(rows)
                if table == "samples":
                    progress.last_sample_wall = rows[-1][3]
        decoded = {k: _loads(v) for k, v in meta.items() if k in ("status", "engine_pid")}
        ended = decoded.get("status") != "running" and not engine_is_writing(decoded)
        if ended and progress.backlog == 0:
            if progress.marks.get("file_state") != digest:  # Central lacks this ending's file
                data = file_snapshot(progress.path)
                sha = hashlib.sha256(data).hexdigest()
                self.client.upload(progress.uid, data, sha, digest)
                progress.marks.update(file_sha256=sha, file_state=digest)
                self.log(f"{progress.path.name}: run ended; file uploaded "
                         f"({len(data) / 1e6:.1f} MB, sha256 {sha[:12]})")
            progress.done = decoded.get("status") in ("finished", "failed", "aborted")

    def _identity(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "software": f"agelab {__version__}"}

    def status(self) -> dict[str, Any]:
        lags = [time.time() - p.last_sample_wall for p in self.runs.values()
                if p.last_sample_wall is not None and not p.done]
        return {**self._identity(), "runs": len(self.runs),
                "sent_rows": sum(p.sent_rows for p in self.runs.values()),
                "backlog_rows": sum(p.backlog for p in self.runs.values()),
                "lag_s": max(lags) if lags else None, "connected": self.connected,
                "at": time.time(), "interval_s": HEARTBEAT_S}

    def heartbeat(self) -> None:
        """Tell Central the shipper lives; hand any operator command it queued for one of
        these runs to the run's engine, and tell Central it was handed over."""
        self._last_heartbeat = time.monotonic()
        try:
            commands = self.client.heartbeat(self.status())
            for c in commands:
                progress = next((p for p in self.runs.values() if p.uid == c.get("run")), None)
                if progress is None or progress.done:
                    continue  # another shipper of this station has that run
                inbox.post(progress.path, inbox.Command(
                    id=f"central-{c['id']}", action=c["action"], channel=c.get("channel"),
                    by=str(c.get("by")), via="central"))
                self.client.delivered(c["id"])
                self.log(f"{progress.path.name}: {c['by']} asked to {c['action']} "
                         f"{c.get('channel') or 'the run'}; handed to the engine")
        except (CentralUnreachable, CentralRefused):
            self.connected = False
        except (OSError, KeyError, ValueError) as exc:
            self.log(f"an operator command could not be handed over: {exc}")

    def all_done(self) -> bool:
        return bool(self.runs) and all(p.done or p.refused for p in self.runs.values())

    def drained(self) -> bool:
        return all(p.refused or (p.marks is not None and p.backlog == 0)
                   for p in self.runs.values())


def _stat_of(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
