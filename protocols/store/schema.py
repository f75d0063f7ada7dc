"""The run file's tables, its schema version, and the path that upgrades an older file.

A run file records the schema version it was written with (``meta.schema``). A writer opening an
older file (``agelab resume`` after an upgrade of AgeLab) applies each step of ``UPGRADES`` in
order, in one transaction, before it writes anything; a file from a newer AgeLab is refused, not
guessed at. A new file is made as version 1 and taken through the same steps, so there is one
definition of each version. Readers read every version this AgeLab knows.

Version 2 gives every row a stable key, for shipping a run to AgeLab Central: the samples a
``seq`` (their rowid until then, so a row's key is the same before and after the upgrade), the
run a ``uid`` in ``meta``; and each channel its ``sample`` fields (batch, substrate, ...).
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Callable

import numpy as np

SCHEMA_VERSION = 2
BLOCK = 4096  # samples per columnar block
BLOCK_COLUMNS = ("t_h", "j_ma_cm2", "v_v", "l_cd_m2")
# The tables of schema version 1. A new version adds a step to UPGRADES, never edits these.
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


RUN_UID_NAMESPACE = uuid.UUID("5b0f4c1e-6a0e-4f57-9d4b-2a41c0de0a9e")


def derived_uid(meta: dict[str, str]) -> str:
    """The uid of a run file written before runs had one: a hash of what made it (its study,
    creation time and config), the same wherever the file is and whoever reads it."""
    made = "|".join(str(meta.get(key, "")) for key in ("study", "created", "config_yaml"))
    return str(uuid.uuid5(RUN_UID_NAMESPACE, hashlib.sha256(made.encode()).hexdigest()))


def _v1_to_v2(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE channels ADD COLUMN sample TEXT NOT NULL DEFAULT '{}'")
    db.execute("DROP INDEX IF EXISTS samples_by_channel")
    db.execute("ALTER TABLE samples RENAME TO samples_v1")
    db.execute("""CREATE TABLE samples (
        seq INTEGER PRIMARY KEY, channel INTEGER NOT NULL, t_h REAL NOT NULL, wall REAL NOT NULL,
        j_ma_cm2 REAL, v_v REAL, l_cd_m2 REAL, i_pd_a REAL)""")
    db.execute("INSERT INTO samples SELECT rowid, channel, t_h, wall, j_ma_cm2, v_v, l_cd_m2, "
               "i_pd_a FROM samples_v1 ORDER BY rowid")
    db.execute("DROP TABLE samples_v1")
    db.execute("CREATE INDEX samples_by_channel ON samples (channel, t_h)")
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    if "uid" not in meta and "study" in meta:
        db.execute("INSERT INTO meta VALUES ('uid', ?)", (derived_uid(meta),))


# Version k -> k + 1, each step one function on the open database (run inside one transaction).
UPGRADES: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2}


class SchemaError(ValueError):
    """A run file whose schema this AgeLab cannot write."""


def file_schema(db: sqlite3.Connection) -> int | None:
    """The schema version a file records (None: a new, empty file)."""
    has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
                          ).fetchone()
    if not has_meta:
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    return None if row is None else int(row[0])


def prepare(db: sqlite3.Connection, path: object = "run file",
            target: int | None = None, upgrades: dict | None = None) -> int:
    """Create the tables of a new file, or upgrade an older one to ``target`` (default: this
    AgeLab's version); returns the version the file had (``target`` for a new one)."""
    target = SCHEMA_VERSION if target is None else target
    steps = UPGRADES if upgrades is None else upgrades
    found = file_schema(db)
    if found is not None and found > target:
        raise SchemaError(f"{path}: written by a newer AgeLab (schema {found}; this one writes "
                          f"{target}); upgrade AgeLab to resume it")
    db.executescript(SCHEMA)
    with db:
        version = 1 if found is None else found
        while version < target:
            if version not in steps:
                raise SchemaError(f"{path}: no upgrade from schema {version} to {version + 1}")
            steps[version](db)
            version += 1
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(target),))
    return target if found is None else found


def blob(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype="<f8").tobytes()


def unblob(data: bytes | None) -> np.ndarray:
    return np.frombuffer(data or b"", dtype="<f8").copy()
