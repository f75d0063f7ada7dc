"""The single writer of a run file: one SQLite connection, on its own thread.

The engine hands it records through a queue (acquisition never waits on the disk) and it commits
at least every ``commit_interval_s`` (default 0.25 s), so a killed process loses at most that last
moment. Once a channel has ``BLOCK`` more samples, they are also stored as one columnar block.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from agelab.protocols import __version__
from agelab.protocols.store.reader import RunFileError
from agelab.protocols.store.records import (
    ChannelState,
    EventRecord,
    ReadingRecord,
    Record,
    Sample,
    SpectrumRecord,
    SweepRecord,
)
from agelab.protocols.store.schema import BLOCK, BLOCK_COLUMNS, blob, prepare


class RunWriter:
    """The single writer of a run file."""

    def __init__(self, path: Path | str, commit_interval_s: float = 0.25) -> None:
        self.path = Path(path)
        self.commit_interval_s = commit_interval_s
        self._queue: queue.Queue[Record | tuple[str, Any] | None] = queue.Queue()
        self._channel_ids: dict[str, int] = {}
        self._error: BaseException | None = None
        self.committed_at = 0.0
        self.rows_written = 0
        self._thread: threading.Thread | None = None
        self._db = self._open()

    @classmethod
    def new_run(cls, path: Path | str, *, study: str, config_yaml: str, config: dict[str, Any],
                speedup: float, **meta: Any) -> RunWriter:
        """A new run file that describes itself from its first commit: the study, its config as
        written and as validated, the software version, when it was made and the speed-up."""
        writer = cls(path)
        writer.set_meta(study=study, config_yaml=config_yaml, config=config,
                        software=f"agelab {__version__}", created=time.time(), speedup=speedup,
                        uid=str(uuid.uuid4()), **meta)
        return writer

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not only a kill
        try:
            prepare(db, self.path)  # the tables, or an older file upgraded; stamps the schema
        except BaseException:
            db.close()
            raise
        for row in db.execute("SELECT name, id FROM channels"):
            self._channel_ids[row[0]] = row[1]
        self._unblocked: dict[int, list[tuple]] = {}
        with db:
            for cid in self._channel_ids.values():
                self._unblocked[cid] = self._tail(db, cid)
                self._flush_blocks(db, cid)
        return db

    @staticmethod
    def _tail(db: sqlite3.Connection, cid: int) -> list[tuple]:
        """The samples not yet in a block (after a resume, or a file filled some other way)."""
        last = db.execute("SELECT MAX(last_t) FROM sample_blocks WHERE channel = ?",
                          (cid,)).fetchone()[0]
        return db.execute(f"SELECT {', '.join(BLOCK_COLUMNS)} FROM samples WHERE channel = ? "
                          "AND t_h > ? ORDER BY t_h", (cid, -1e300 if last is None else last)
                          ).fetchall()

    def _flush_blocks(self, db: sqlite3.Connection, cid: int) -> None:
        rows = self._unblocked.setdefault(cid, [])
        while len(rows) >= BLOCK:
            block = np.array(rows[:BLOCK], dtype="<f8")
            db.execute("INSERT INTO sample_blocks VALUES (?,?,?,?,?)",
                       (cid, block[0, 0], block[-1, 0], BLOCK, block.tobytes()))
            del rows[:BLOCK]

    # ---------------------------------------------------------------- set-up (before start)
    def set_meta(self, **items: Any) -> None:
        with self._db:
            for key, value in items.items():
                text = value if isinstance(value, str) else json.dumps(value)
                self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, text))

    def add_channel(self, name: str, pixel: int, area_cm2: float, j_ma_cm2: float,
                    sample: dict[str, Any] | None = None) -> None:
        """Add a channel, with its sample's fields (batch, substrate, ...); once the writer
        runs, queued like any record (benchtop work adds channels as pixels are used)."""
        if self._thread is not None:
            self._queue.put(("channel", (name, pixel, area_cm2, j_ma_cm2, sample)))
            return
        with self._db:
            self._insert_channel(self._db, name, pixel, area_cm2, j_ma_cm2, sample)

    def _insert_channel(self, db: sqlite3.Connection, name: str, pixel: int, area_cm2: float,
                        j_ma_cm2: float, sample: dict[str, Any] | None = None) -> None:
        if name not in self._channel_ids:
            cur = db.execute(
                "INSERT INTO channels (name, pixel, area_cm2, j_ma_cm2, sample) "
                "VALUES (?,?,?,?,?)", (name, pixel, area_cm2, j_ma_cm2,
                                       json.dumps(sample or {}, sort_keys=True)))
            self._channel_ids[name] = cur.lastrowid
            self._unblocked[cur.lastrowid] = []

    # ---------------------------------------------------------------- running
    def start(self) -> RunWriter:
        self._thread = threading.Thread(target=self._loop, name="run-writer", daemon=True)
        self._thread.start()
        return self

    def write(self, record: Record) -> None:
        """Queue a record (never blocks on the disk). A writer that has failed raises here."""
        if self._error is not None:
            raise RunFileError(f"{self.path}: the run file can no longer be written: "
                               f"{self._error}")
        self._queue.put(record)

    def update_meta(self, **items: Any) -> None:
        """Change metadata while the writer runs (queued like every record)."""
        self._queue.put(("meta", items))

    def flush(self, timeout_s: float = 10.0) -> None:
        """Block until everything queued so far is committed."""
        done = threading.Event()
        self._queue.put(("flush", done))
        done.wait(timeout_s)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    def _loop(self) -> None:
        db = self._db
        pending = 0
        last_commit = time.monotonic()
        db.execute("BEGIN")
        while True:
            timeout = max(0.0, self.commit_interval_s - (time.monotonic() - last_commit))
            batch = self._take(timeout)
            stop = any(item is None for item in batch)
            flushes = [item[1] for item in batch if isinstance(item, tuple) and
                       item[0] == "flush"]
            try:
                pending += self._apply(db, [item for item in batch if item is not None])
            except (sqlite3.Error, ValueError, TypeError, KeyError) as exc:
                self._error = exc
            due = time.monotonic() - last_commit >= self.commit_interval_s
            if stop or flushes or (due and pending):
                try:
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('heartbeat', ?)",
                               (repr(time.time()),))
                    db.execute("COMMIT")
                    self.committed_at = time.time()
                    self.rows_written += pending
                except sqlite3.Error as exc:
                    self._error = exc
                pending = 0
                last_commit = time.monotonic()
                if stop:
                    for done in flushes:
                        done.set()
                    return
                db.execute("BEGIN")
            elif due:
                last_commit = time.monotonic()
            for done in flushes:
                done.set()

    def _take(self, timeout: float, most: int = 20_000) -> list:
        """The next item (waiting up to ``timeout``), and whatever else is already queued."""
        try:
            batch = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(batch) < most:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _apply(self, db: sqlite3.Connection, batch: list) -> int:
        """Write a batch in order; runs of samples go in one executemany. Returns rows written."""
        written, samples = 0, []
        for item in [*batch, None]:
            if isinstance(item, Sample):
                samples.append(item)
                continue
            if samples:
                self._insert_samples(db, samples)
                written += len(samples)
                samples = []
            if item is None:
                continue
            if isinstance(item, tuple):
                if item[0] == "channel":
                    self._insert_channel(db, *item[1])
                    written += 1
                elif item[0] == "meta":
                    for key, value in item[1].items():
                        text = value if isinstance(value, str) else json.dumps(value)
                        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, text))
                    written += 1
                continue
            self._insert(db, item)
            written += 1
        return written

    def _insert_samples(self, db: sqlite3.Connection, samples: list[Sample]) -> None:
        rows = [(self._cid(r.channel), r.t_h, r.wall, r.j_ma_cm2, r.v_v, r.l_cd_m2, r.i_pd_a)
                for r in samples]
        db.executemany("INSERT INTO samples (channel, t_h, wall, j_ma_cm2, v_v, l_cd_m2, "
                       "i_pd_a) VALUES (?,?,?,?,?,?,?)", rows)
        touched = set()
        for cid, t, _, j, v, lum, _ in rows:
            self._unblocked.setdefault(cid, []).append((t, j, v, lum))
            touched.add(cid)
        for cid in touched:
            self._flush_blocks(db, cid)

    def _cid(self, name: str) -> int:
        return self._channel_ids[name]

    def _insert(self, db: sqlite3.Connection, r: Record) -> None:
        if isinstance(r, SweepRecord):
            db.execute("INSERT INTO sweeps (channel, kind, label, t_h, wall, params, x, y, z) "
                       "VALUES (?,?,?,?,?,?,?,?,?)",
                       (self._cid(r.channel), r.kind, r.label, r.t_h, r.wall,
                        json.dumps(r.params), blob(r.x), blob(r.y), blob(r.z)))
        elif isinstance(r, SpectrumRecord):
            db.execute("INSERT INTO spectra (channel, kind, label, t_h, wall, integration_s, "
                       "wavelength, counts) VALUES (?,?,?,?,?,?,?,?)",
                       (self._cid(r.channel), r.kind, r.label, r.t_h, r.wall, r.integration_s,
                        blob(r.wavelength_nm), blob(r.counts)))
        elif isinstance(r, ReadingRecord):
            db.execute("INSERT INTO readings (channel, kind, label, t_h, wall, x, y, params) "
                       "VALUES (?,?,?,?,?,?,?,?)",
                       (self._cid(r.channel), r.kind, r.label, r.t_h, r.wall, r.x, r.y,
                        json.dumps(r.params)))
        elif isinstance(r, EventRecord):
            cid = self._channel_ids.get(r.channel) if r.channel else None
            db.execute("INSERT INTO events (channel, kind, t_h, wall, detail) VALUES (?,?,?,?,?)",
                       (cid, r.kind, r.t_h, r.wall, json.dumps(r.detail, default=str)))
        elif isinstance(r, ChannelState):
            db.execute("UPDATE channels SET state = ? WHERE id = ?",
                       (json.dumps(r.state), self._cid(r.channel)))
