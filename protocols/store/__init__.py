"""The run file: one SQLite database per run, in WAL mode, that survives a crash.

``RunWriter`` owns the only write connection, on its own thread: the engine hands it records
through a queue (acquisition never waits on the disk) and it commits at least every
``commit_interval_s`` (default 0.25 s), so a killed process loses at most that last moment.
``RunFile`` opens a run read-only, also while another process is writing it.

Samples are rows (the record of truth, one per sample, committed within the second) and, once a
channel has ``BLOCK`` more of them, also one columnar block (t, J, V, L as float64), so a plot can
load a 1000-hour history as a few hundred blobs instead of millions of rows.

Arrays (sweeps, spectra) are stored as little-endian float64 blobs; the config, instrument
identities, software version and bench details are in ``meta`` as text/JSON, so a run file
describes itself.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from agelab.protocols.store.records import (
    ChannelState,
    EventRecord,
    ReadingRecord,
    Record,
    Sample,
    SpectrumRecord,
    SweepRecord,
)

SCHEMA_VERSION = 1
BLOCK = 4096  # samples per columnar block
BLOCK_COLUMNS = ("t_h", "j_ma_cm2", "v_v", "l_cd_m2")
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, pixel INTEGER, area_cm2 REAL,
    j_ma_cm2 REAL, state TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS samples (
    channel INTEGER NOT NULL, t_h REAL NOT NULL, wall REAL NOT NULL, j_ma_cm2 REAL, v_v REAL,
    l_cd_m2 REAL, i_pd_a REAL);
CREATE INDEX IF NOT EXISTS samples_by_channel ON samples (channel, t_h);
CREATE TABLE IF NOT EXISTS sample_blocks (
    channel INTEGER NOT NULL, first_t REAL NOT NULL, last_t REAL NOT NULL, n INTEGER NOT NULL,
    data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS blocks_by_channel ON sample_blocks (channel, first_t);
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY, channel INTEGER NOT NULL, kind TEXT NOT NULL, label TEXT,
    t_h REAL NOT NULL, wall REAL NOT NULL, params TEXT, x BLOB, y BLOB, z BLOB);
CREATE TABLE IF NOT EXISTS spectra (
    id INTEGER PRIMARY KEY, channel INTEGER NOT NULL, kind TEXT NOT NULL, label TEXT,
    t_h REAL NOT NULL, wall REAL NOT NULL, integration_s REAL, wavelength BLOB, counts BLOB);
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY, channel INTEGER NOT NULL, kind TEXT NOT NULL, label TEXT,
    t_h REAL NOT NULL, wall REAL NOT NULL, x REAL, y REAL, params TEXT);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, channel INTEGER, kind TEXT NOT NULL, t_h REAL, wall REAL NOT NULL,
    detail TEXT);
"""


def blob(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype="<f8").tobytes()


def unblob(data: bytes | None) -> np.ndarray:
    return np.frombuffer(data or b"", dtype="<f8").copy()


def engine_is_writing(meta: dict[str, Any]) -> bool:
    """Whether an engine on this machine is still writing the run: its status says running and
    the process whose pid it recorded is alive (after a kill -9 the status still says running)."""
    pid = meta.get("engine_pid")
    return meta.get("status") == "running" and bool(pid) and pid_alive(int(pid))


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie, exited but not reaped, does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:  # gone, or not ours to see
        return psutil.pid_exists(pid)


class RunFileError(ValueError):
    """A file that is not a readable AgeLab run."""


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

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not only a kill
        db.executescript(SCHEMA)
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

    def add_channel(self, name: str, pixel: int, area_cm2: float, j_ma_cm2: float) -> None:
        """Add a channel; once the writer runs, queued like any record (benchtop work adds
        channels as pixels are used)."""
        if self._thread is not None:
            self._queue.put(("channel", (name, pixel, area_cm2, j_ma_cm2)))
            return
        with self._db:
            self._insert_channel(self._db, name, pixel, area_cm2, j_ma_cm2)

    def _insert_channel(self, db: sqlite3.Connection, name: str, pixel: int, area_cm2: float,
                        j_ma_cm2: float) -> None:
        if name not in self._channel_ids:
            cur = db.execute(
                "INSERT INTO channels (name, pixel, area_cm2, j_ma_cm2) VALUES (?,?,?,?)",
                (name, pixel, area_cm2, j_ma_cm2))
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
        db.executemany("INSERT INTO samples VALUES (?,?,?,?,?,?,?)", rows)
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


@dataclass(frozen=True)
class ChannelInfo:
    id: int
    name: str
    pixel: int
    area_cm2: float
    j_ma_cm2: float
    state: dict[str, Any]


class RunFile:
    """A run file opened read-only (safe while another process writes it)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise RunFileError(f"{self.path}: no such run file")
        try:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                       check_same_thread=False)
            self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise RunFileError(f"{self.path}: not an AgeLab run file ({exc})") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- metadata
    def meta(self) -> dict[str, Any]:
        out = {}
        for key, value in self._db.execute("SELECT key, value FROM meta"):
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError:
                out[key] = value
        return out

    def channels(self) -> list[ChannelInfo]:
        rows = self._db.execute(
            "SELECT id, name, pixel, area_cm2, j_ma_cm2, state FROM channels ORDER BY id")
        return [ChannelInfo(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}"))
                for r in rows]

    def channel(self, name: str) -> ChannelInfo:
        for ch in self.channels():
            if ch.name == name:
                return ch
        raise RunFileError(f"{self.path}: no channel {name!r}")

    # ---------------------------------------------------------------- data
    def samples(self, name: str, columns: tuple[str, ...] = ("t_h", "j_ma_cm2", "v_v",
                                                               "l_cd_m2")) -> np.ndarray:
        """An (n, len(columns)) float array of a channel's samples, in time order."""
        allowed = {"t_h", "wall", "j_ma_cm2", "v_v", "l_cd_m2", "i_pd_a"}
        if not set(columns) <= allowed:
            raise ValueError(f"unknown sample columns {set(columns) - allowed}")
        cid = self.channel(name).id
        if set(columns) <= set(BLOCK_COLUMNS):
            return self._samples_from_blocks(cid, columns)
        cur = self._db.execute(f"SELECT {', '.join(columns)} FROM samples WHERE channel = ? "
                               "ORDER BY t_h", (cid,))
        flat = np.fromiter((v if v is not None else np.nan for row in cur for v in row),
                           dtype=float)
        return flat.reshape(-1, len(columns))

    def _samples_from_blocks(self, cid: int, columns: tuple[str, ...]) -> np.ndarray:
        """Whole blocks as arrays, then the rows after the last block."""
        pick = [BLOCK_COLUMNS.index(c) for c in columns]
        parts, last = [], -1e300
        for data, last_t in self._db.execute(
                "SELECT data, last_t FROM sample_blocks WHERE channel = ? ORDER BY first_t",
                (cid,)):
            parts.append(np.frombuffer(data, dtype="<f8").reshape(-1, len(BLOCK_COLUMNS))[:, pick])
            last = last_t
        tail = self._db.execute(f"SELECT {', '.join(columns)} FROM samples WHERE channel = ? AND "
                                "t_h > ? ORDER BY t_h", (cid, last)).fetchall()
        if tail:
            parts.append(np.array(tail, dtype=float).reshape(-1, len(columns)))
        if not parts:
            return np.empty((0, len(columns)))
        return np.concatenate(parts)

    def sample_count(self, name: str | None = None) -> int:
        if name is None:
            return self._db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        cid = self.channel(name).id
        return self._db.execute("SELECT COUNT(*) FROM samples WHERE channel = ?",
                                (cid,)).fetchone()[0]

    def samples_after(self, name: str, t_after: float,
                      columns: tuple[str, ...] = BLOCK_COLUMNS) -> np.ndarray:
        """A channel's samples later than stress time ``t_after`` (for following a live run)."""
        if not set(columns) <= set(BLOCK_COLUMNS):
            raise ValueError(f"unknown sample columns {set(columns) - set(BLOCK_COLUMNS)}")
        rows = self._db.execute(f"SELECT {', '.join(columns)} FROM samples WHERE channel = ? "
                                "AND t_h > ? ORDER BY t_h", (self.channel(name).id, t_after)
                                ).fetchall()
        return np.array(rows, dtype=float).reshape(-1, len(columns))

    def sweeps(self, name: str, kind: str, after_id: int = 0) -> list[dict[str, Any]]:
        """A channel's sweeps of one kind, in order (only those with id > ``after_id``)."""
        cid = self.channel(name).id
        rows = self._db.execute("SELECT id, label, t_h, wall, params, x, y, z FROM sweeps "
                                "WHERE channel = ? AND kind = ? AND id > ? ORDER BY id",
                                (cid, kind, after_id))
        return [{"id": r[0], "label": r[1], "t_h": r[2], "wall": r[3],
                 "params": json.loads(r[4] or "{}"), "x": unblob(r[5]), "y": unblob(r[6]),
                 "z": unblob(r[7])} for r in rows]

    def spectra(self, name: str, kind: str | None = None, after_id: int = 0
                ) -> list[dict[str, Any]]:
        cid = self.channel(name).id
        query = ("SELECT id, kind, label, t_h, wall, integration_s, wavelength, counts "
                 "FROM spectra WHERE channel = ? AND id > ?")
        args: tuple = (cid, after_id)
        if kind:
            query += " AND kind = ?"
            args += (kind,)
        rows = self._db.execute(query + " ORDER BY id", args)
        return [{"id": r[0], "kind": r[1], "label": r[2], "t_h": r[3], "wall": r[4],
                 "integration_s": r[5], "wavelength_nm": unblob(r[6]), "counts": unblob(r[7])}
                for r in rows]

    def readings(self, name: str, kind: str, after_id: int = 0) -> list[dict[str, Any]]:
        cid = self.channel(name).id
        rows = self._db.execute("SELECT label, t_h, wall, x, y, params, id FROM readings "
                                "WHERE channel = ? AND kind = ? AND id > ? ORDER BY id",
                                (cid, kind, after_id))
        return [{"label": r[0], "t_h": r[1], "wall": r[2], "x": r[3], "y": r[4],
                 "params": json.loads(r[5] or "{}"), "id": r[6]} for r in rows]

    def events(self, name: str | None = None, kind: str | None = None, after_id: int = 0
               ) -> list[dict[str, Any]]:
        names = {ch.id: ch.name for ch in self.channels()}
        query, args = "SELECT channel, kind, t_h, wall, detail, id FROM events", []
        where = ["id > ?"]
        args.append(after_id)
        if name is not None:
            where.append("channel = ?")
            args.append(self.channel(name).id)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        query += " WHERE " + " AND ".join(where)
        rows = self._db.execute(query + " ORDER BY id", args)
        return [{"channel": names.get(r[0]), "kind": r[1], "t_h": r[2], "wall": r[3],
                 "detail": json.loads(r[4] or "{}"), "id": r[5]} for r in rows]

    def integrity(self) -> str:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0]
