"""Reading a run file: read-only, and safe while another process writes it."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from agelab.protocols.store.schema import BLOCK_COLUMNS, derived_uid, unblob

# The tables whose rows are appended and never changed, each row keyed by its rowid (the
# samples' ``seq``, the others' ``id``), with the columns that follow the key.
APPEND_ONLY: dict[str, tuple[str, ...]] = {
    "samples": ("channel", "t_h", "wall", "j_ma_cm2", "v_v", "l_cd_m2", "i_pd_a"),
    "sweeps": ("channel", "kind", "label", "t_h", "wall", "params", "x", "y", "z"),
    "spectra": ("channel", "kind", "label", "t_h", "wall", "integration_s", "wavelength",
                "counts"),
    "readings": ("channel", "kind", "label", "t_h", "wall", "x", "y", "params"),
    "events": ("channel", "kind", "t_h", "wall", "detail"),
}


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


NULL_SAMPLE = "'{}'"  # a file from before channels had sample fields


class RunFileError(ValueError):
    """A file that is not a readable AgeLab run."""


@dataclass(frozen=True)
class ChannelInfo:
    id: int
    name: str
    pixel: int
    area_cm2: float
    j_ma_cm2: float
    state: dict[str, Any]
    sample: dict[str, Any] = field(default_factory=dict)  # batch, substrate, device, tags...


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

    @property
    def uid(self) -> str:
        """The run's uid (a file from before uids: one derived from what made it)."""
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        return meta["uid"] if "uid" in meta else derived_uid(meta)

    def channels(self) -> list[ChannelInfo]:
        has_sample = any(r[1] == "sample" for r in self._db.execute("PRAGMA table_info(channels)"))
        rows = self._db.execute(
            "SELECT id, name, pixel, area_cm2, j_ma_cm2, state, "
            f"{'sample' if has_sample else NULL_SAMPLE} FROM channels ORDER BY id")
        return [ChannelInfo(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}"),
                            json.loads(r[6] or "{}")) for r in rows]

    def meta_text(self) -> dict[str, str]:
        """The meta table as stored (each value its JSON text)."""
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def rows_after(self, table: str, after: int, limit: int) -> list[tuple]:
        """Up to ``limit`` rows of an append-only table with a key above ``after``, in key order,
        each as stored: (key, *APPEND_ONLY[table])."""
        columns = APPEND_ONLY[table]
        return self._db.execute(f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid > ? "
                                "ORDER BY rowid LIMIT ?", (after, limit)).fetchall()

    def last_key(self, table: str) -> int:
        if table not in APPEND_ONLY:
            raise ValueError(f"not an append-only table: {table!r}")
        return self._db.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {table}").fetchone()[0]

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
