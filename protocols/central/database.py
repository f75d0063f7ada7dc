"""Central's tables in PostgreSQL, and every statement that reads or writes them.

Each row a station sends keeps its key from the run file (the run's uid, the table, the row's
``seq`` or ``id``) and is inserted with ``ON CONFLICT DO NOTHING``: a batch sent twice leaves one
copy. A batch commits in one transaction, and a station sends its rows in key order, one batch
at a time, so the highest key Central holds for a run's table (its high-water mark) has every
row below it too: the shipper resumes from it and keeps no cursor of its own. Rows that change
in place in the run file (its metadata, a channel's state) arrive as snapshots and are upserted.
Values are kept as the file stores them (JSON as its text, arrays as their bytes), so a run
rebuilt from Central is the file's twin.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from agelab.protocols.store.reader import APPEND_ONLY

# The levels whose T-values are also kept as typed columns (t50_h, t50_done, ...), which the
# comparison reads: JSON extraction and an ordered-set median took 4x its time budget.
LEVELS = ("T97", "T95", "T90", "T80", "T70", "T50")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    name text PRIMARY KEY, role text NOT NULL CHECK (role IN ('station', 'viewer')),
    hash text UNIQUE NOT NULL, created timestamptz NOT NULL DEFAULT now(),
    revoked timestamptz);
CREATE TABLE IF NOT EXISTS stations (
    name text PRIMARY KEY, last_heard timestamptz, shipper jsonb NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS runs (
    id serial PRIMARY KEY, uid uuid UNIQUE NOT NULL, station text NOT NULL, study text,
    status text, meta jsonb NOT NULL DEFAULT '{}', first_heard timestamptz NOT NULL DEFAULT now(),
    last_heard timestamptz NOT NULL DEFAULT now(), file_sha256 text, file_size bigint,
    file_state text);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS file_state text;  -- Centrals made before it
CREATE TABLE IF NOT EXISTS channels (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, id int NOT NULL, name text NOT NULL,
    pixel int, area_cm2 float8, j_ma_cm2 float8, state text NOT NULL DEFAULT '{}',
    sample text NOT NULL DEFAULT '{}', PRIMARY KEY (run_id, id));
CREATE TABLE IF NOT EXISTS samples (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, seq bigint NOT NULL,
    channel int NOT NULL, t_h float8 NOT NULL, wall float8 NOT NULL, j_ma_cm2 float8,
    v_v float8, l_cd_m2 float8, i_pd_a float8, received timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq));
-- No (channel, t_h) index: it cost a fifth of the ingest rate; plots read sample_minutes.
DROP INDEX IF EXISTS samples_by_channel;
CREATE TABLE IF NOT EXISTS sample_minutes (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, channel int NOT NULL,
    minute bigint NOT NULL, t_min float8 NOT NULL, t_max float8 NOT NULL, n int NOT NULL,
    l_min float8, l_max float8, v_min float8, v_max float8,
    PRIMARY KEY (run_id, channel, minute));
CREATE TABLE IF NOT EXISTS sweeps (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, id bigint NOT NULL,
    channel int NOT NULL, kind text NOT NULL, label text, t_h float8 NOT NULL,
    wall float8 NOT NULL, params text, x bytea, y bytea, z bytea, PRIMARY KEY (run_id, id));
CREATE TABLE IF NOT EXISTS spectra (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, id bigint NOT NULL,
    channel int NOT NULL, kind text NOT NULL, label text, t_h float8 NOT NULL,
    wall float8 NOT NULL, integration_s float8, wavelength bytea, counts bytea,
    PRIMARY KEY (run_id, id));
CREATE TABLE IF NOT EXISTS readings (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, id bigint NOT NULL,
    channel int NOT NULL, kind text NOT NULL, label text, t_h float8 NOT NULL,
    wall float8 NOT NULL, x float8, y float8, params text, PRIMARY KEY (run_id, id));
CREATE TABLE IF NOT EXISTS events (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, id bigint NOT NULL, channel int,
    kind text NOT NULL, t_h float8, wall float8 NOT NULL, detail text, PRIMARY KEY (run_id, id));
CREATE TABLE IF NOT EXISTS run_files (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, part int NOT NULL,
    data bytea NOT NULL, PRIMARY KEY (run_id, part));
CREATE TABLE IF NOT EXISTS summaries (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, channel text NOT NULL,
    device text, j_ma_cm2 float8, temperature_c float8, l0 float8, l_max float8, t_end_h float8,
    status text, stop_reason text, batch text, substrate text, device_id text, recipe text,
    operator text, tags jsonb NOT NULL DEFAULT '{}', t_values jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, channel));
CREATE INDEX IF NOT EXISTS summaries_by_batch ON summaries (batch, device);
-- Operators stop channels from the dashboard (Centrals made before it knew two roles).
ALTER TABLE tokens DROP CONSTRAINT IF EXISTS tokens_role_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check
    CHECK (role IN ('station', 'viewer', 'operator'));
CREATE TABLE IF NOT EXISTS sessions (
    hash text PRIMARY KEY, token text NOT NULL REFERENCES tokens ON DELETE CASCADE,
    expires timestamptz NOT NULL);
-- L against log stress time, ten buckets a decade from 3.6 s: a tile's sparkline in <= 70 rows.
CREATE TABLE IF NOT EXISTS sample_sparks (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, channel int NOT NULL,
    bucket int NOT NULL, n int NOT NULL, t_sum float8 NOT NULL, l_sum float8 NOT NULL,
    PRIMARY KEY (run_id, channel, bucket));
-- Each channel's newest sample (a tile shows it), kept as batches arrive.
CREATE TABLE IF NOT EXISTS channel_latest (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, channel int NOT NULL,
    seq bigint NOT NULL, t_h float8, l_cd_m2 float8, v_v float8,
    PRIMARY KEY (run_id, channel));
-- Channels' faults counted as their events arrive (a tile shows the count).
CREATE TABLE IF NOT EXISTS fault_counts (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, channel int NOT NULL,
    n int NOT NULL, PRIMARY KEY (run_id, channel));
-- An operator's stop, queued until the station's shipper fetches it.
CREATE TABLE IF NOT EXISTS commands (
    id serial PRIMARY KEY, run_id int NOT NULL REFERENCES runs ON DELETE CASCADE,
    channel text, action text NOT NULL CHECK (action IN ('stop')), by_token text NOT NULL,
    requested timestamptz NOT NULL DEFAULT now(), delivered timestamptz, done timestamptz);
CREATE TABLE IF NOT EXISTS alerts (
    id serial PRIMARY KEY, rule text NOT NULL, key text NOT NULL, fired timestamptz NOT NULL
    DEFAULT now(), title text NOT NULL, body text NOT NULL, targets int NOT NULL,
    delivered bool NOT NULL, error text);
CREATE INDEX IF NOT EXISTS alerts_by_key ON alerts (rule, key, fired);
CREATE TABLE IF NOT EXISTS alert_marks (
    run_id int PRIMARY KEY REFERENCES runs ON DELETE CASCADE, event_id bigint NOT NULL,
    status text);
""" + "".join(f"ALTER TABLE summaries ADD COLUMN IF NOT EXISTS {c.lower()}_h float8, "
              f"ADD COLUMN IF NOT EXISTS {c.lower()}_done bool;\n" for c in LEVELS)

# The key column of each append-only table in Central (the run file's rowid).
KEY = {table: ("seq" if table == "samples" else "id") for table in APPEND_ONLY}
BYTEA = {"sweeps": {"x", "y", "z"}, "spectra": {"wavelength", "counts"}}
FILE_PART = 8 << 20  # a finished run file is stored in parts of 8 MiB
# New samples (the CTE ``new``) folded into per-minute (of stress time) minima and maxima: a
# curve for a plot is then read from at most 60 rows an hour, however densely the run sampled.
ROLLUP = """rolled AS (INSERT INTO sample_minutes SELECT %s, channel, floor(t_h * 60)::bigint,
    min(t_h), max(t_h), count(*), min(l_cd_m2), max(l_cd_m2), min(v_v), max(v_v) FROM new
    GROUP BY 2, 3 ON CONFLICT (run_id, channel, minute) DO UPDATE SET
    t_min = LEAST(sample_minutes.t_min, EXCLUDED.t_min),
    t_max = GREATEST(sample_minutes.t_max, EXCLUDED.t_max), n = sample_minutes.n + EXCLUDED.n,
    l_min = LEAST(sample_minutes.l_min, EXCLUDED.l_min),
    l_max = GREATEST(sample_minutes.l_max, EXCLUDED.l_max),
    v_min = LEAST(sample_minutes.v_min, EXCLUDED.v_min),
    v_max = GREATEST(sample_minutes.v_max, EXCLUDED.v_max)),
sparked AS (INSERT INTO sample_sparks SELECT %s, channel,
    GREATEST(floor(10 * log(GREATEST(t_h, 1e-6) * 1000)), -30)::int, count(*), sum(t_h),
    sum(l_cd_m2) FROM new WHERE l_cd_m2 IS NOT NULL GROUP BY 2, 3
    ON CONFLICT (run_id, channel, bucket) DO UPDATE SET n = sample_sparks.n + EXCLUDED.n,
    t_sum = sample_sparks.t_sum + EXCLUDED.t_sum, l_sum = sample_sparks.l_sum + EXCLUDED.l_sum),
newest AS (INSERT INTO channel_latest SELECT DISTINCT ON (channel) %s, channel, seq, t_h,
    l_cd_m2, v_v FROM new ORDER BY channel, seq DESC ON CONFLICT (run_id, channel) DO UPDATE
    SET seq = EXCLUDED.seq, t_h = EXCLUDED.t_h, l_cd_m2 = EXCLUDED.l_cd_m2, v_v = EXCLUDED.v_v
    WHERE channel_latest.seq < EXCLUDED.seq)"""
# New events' faults added to each channel's count.
FAULTS = """counted AS (INSERT INTO fault_counts SELECT %s, channel, count(*) FROM new
    WHERE kind = 'fault' AND channel IS NOT NULL GROUP BY 2
    ON CONFLICT (run_id, channel) DO UPDATE SET n = fault_counts.n + EXCLUDED.n)"""
# A batch of samples as sent in binary: little-endian float64, one row of SAMPLE_WIDTH each
# (seq, channel, then the file's columns; NaN where the file holds NULL, as SQLite stores NaN).
SAMPLE_WIDTH = 1 + len(APPEND_ONLY["samples"])
_COPY_ROW = np.dtype([("fields", ">i2"), ("len_seq", ">i4"), ("seq", ">i8"),
                      ("len_channel", ">i4"), ("channel", ">i4"),
                      *[(f, t) for c in APPEND_ONLY["samples"][1:]
                        for f, t in ((f"len_{c}", ">i4"), (c, ">f8"))]])


class CentralError(ValueError):
    """A request Central refuses (its message says why)."""


def token_hash(token: str) -> str:
    # Tokens are 256 random bits, so one SHA-256 is enough: nothing to guess by brute force.
    return hashlib.sha256(token.encode()).hexdigest()


class Database:
    """A pool of connections to Central's PostgreSQL."""

    def __init__(self, url: str, size: int = 8) -> None:
        self.url = url
        self.pool = ConnectionPool(url, min_size=1, max_size=size, open=True,
                                   kwargs={"autocommit": False})
        with self.pool.connection() as db:
            db.execute(SCHEMA)

    def close(self) -> None:
        self.pool.close()

    # ---------------------------------------------------------------- tokens
    def add_token(self, name: str, role: str, token: str) -> None:
        with self.pool.connection() as db:
            try:
                db.execute("INSERT INTO tokens (name, role, hash) VALUES (%s, %s, %s)",
                           (name, role, token_hash(token)))
            except psycopg.errors.UniqueViolation:
                raise CentralError(f"a token named {name!r} exists already (revoke it first)"
                                   ) from None

    def tokens(self) -> list[dict[str, Any]]:
        with self.pool.connection() as db:
            rows = db.execute("SELECT name, role, created, revoked FROM tokens ORDER BY name")
            return [{"name": r[0], "role": r[1], "created": r[2].isoformat(),
                     "revoked": r[3].isoformat() if r[3] else None} for r in rows]

    def revoke_token(self, name: str) -> bool:
        with self.pool.connection() as db:
            cur = db.execute("UPDATE tokens SET revoked = now() WHERE name = %s AND revoked IS "
                             "NULL", (name,))
            return cur.rowcount == 1

    def who(self, token: str) -> tuple[str, str] | None:
        """(name, role) of a live token, or None."""
        with self.pool.connection() as db:
            row = db.execute("SELECT name, role FROM tokens WHERE hash = %s AND revoked IS NULL",
                             (token_hash(token),)).fetchone()
        return (row[0], row[1]) if row else None

    # ---------------------------------------------------------------- stations
    def heard_from(self, station: str, shipper: dict[str, Any] | None = None) -> None:
        with self.pool.connection() as db:
            text = None if shipper is None else json.dumps(shipper)
            db.execute("INSERT INTO stations (name, last_heard, shipper) VALUES "
                       "(%s, now(), COALESCE(%s::jsonb, '{}')) ON CONFLICT (name) DO UPDATE SET "
                       "last_heard = now(), shipper = COALESCE(%s::jsonb, stations.shipper)",
                       (station, text, text))
            db.execute("SELECT pg_notify('agelab_live', %s)", (f"station {station}",))

    def stations(self) -> list[dict[str, Any]]:
        with self.pool.connection() as db:
            rows = db.execute("SELECT name, last_heard, shipper, now() - last_heard FROM "
                              "stations ORDER BY name").fetchall()
        return [{"name": r[0], "last_heard": r[1].isoformat() if r[1] else None,
                 "silent_s": r[3].total_seconds() if r[3] is not None else None,
                 "shipper": r[2]} for r in rows]

    # ---------------------------------------------------------------- runs
    def register_run(self, uid: str, station: str, meta: dict[str, str]) -> int:
        """The run's id, registering it for ``station``; refused if another station owns it."""
        with self.pool.connection() as db:
            row = db.execute("SELECT id, station FROM runs WHERE uid = %s", (uid,)).fetchone()
            if row is None:
                row = db.execute(
                    "INSERT INTO runs (uid, station, study, status, meta) VALUES "
                    "(%s, %s, %s, %s, %s) ON CONFLICT (uid) DO UPDATE SET uid = EXCLUDED.uid "
                    "RETURNING id, station",
                    (uid, station, _loads(meta.get("study")), _loads(meta.get("status")),
                     json.dumps(meta))).fetchone()
        if row[1] != station:
            raise PermissionError(f"run {uid} belongs to station {row[1]!r}")
        return row[0]

    def run_id(self, uid: str) -> tuple[int, str] | None:
        with self.pool.connection() as db:
            row = db.execute("SELECT id, station FROM runs WHERE uid = %s", (uid,)).fetchone()
        return (row[0], row[1]) if row else None

    def has_channel(self, run_id: int, name: str) -> bool:
        with self.pool.connection() as db:
            return db.execute("SELECT 1 FROM channels WHERE run_id = %s AND name = %s",
                              (run_id, name)).fetchone() is not None

    def run_meta(self, run_id: int) -> dict[str, Any]:
        """The run's metadata, each value decoded from the JSON text the file keeps."""
        with self.pool.connection() as db:
            meta = db.execute("SELECT meta FROM runs WHERE id = %s", (run_id,)).fetchone()[0]
        return {k: _loads(v) for k, v in (meta or {}).items()}

    def marks(self, run_id: int) -> dict[str, Any]:
        """The high-water mark of each append-only table, and the finished file's checksum."""
        out: dict[str, Any] = {}
        with self.pool.connection() as db:
            for table, key in KEY.items():
                out[table] = db.execute(f"SELECT COALESCE(MAX({key}), 0) FROM {table} WHERE "
                                        "run_id = %s", (run_id,)).fetchone()[0]
            out["file_sha256"], out["file_state"] = db.execute(
                "SELECT file_sha256, file_state FROM runs WHERE id = %s", (run_id,)).fetchone()
        return out

    def insert_rows(self, run_id: int, table: str, rows: Sequence[Sequence[Any]]) -> int:
        """Append rows (each the file's key then its columns), each at most once, in one
        transaction; returns how many were new. COPY into a scratch table, then one
        INSERT ... ON CONFLICT DO NOTHING."""
        names = ", ".join((KEY[table], *APPEND_ONLY[table]))

        def load(copy: Any) -> None:
            for row in rows:
                copy.write_row(row)

        return self._append(run_id, table, f"COPY incoming_{table} ({names}) FROM STDIN", load)

    def insert_samples(self, run_id: int, block: np.ndarray) -> int:
        """Append samples sent as one (n, SAMPLE_WIDTH) float64 block, as ``insert_rows`` does,
        through PostgreSQL's binary COPY (no per-row Python: the catch-up's bottleneck)."""
        if block.ndim != 2 or block.shape[1] != SAMPLE_WIDTH:
            raise CentralError(f"samples: rows of {SAMPLE_WIDTH} values")
        keys = block[:, :2]
        if not np.isfinite(keys).all() or (keys != np.round(keys)).any() or (keys < 0).any():
            raise CentralError("samples: seq and channel must be whole numbers")
        rows = np.zeros(len(block), dtype=_COPY_ROW)
        rows["fields"] = SAMPLE_WIDTH
        rows["len_seq"], rows["seq"] = 8, block[:, 0]
        rows["len_channel"], rows["channel"] = 4, block[:, 1]
        for k, column in enumerate(APPEND_ONLY["samples"][1:], start=2):
            rows[f"len_{column}"], rows[column] = 8, block[:, k]
        payload = (b"PGCOPY\n\xff\r\n\x00" + bytes(8) + rows.tobytes()
                   + np.array(-1, ">i2").tobytes())
        names = ", ".join(("seq", *APPEND_ONLY["samples"]))
        return self._append(run_id, "samples",
                            f"COPY incoming_samples ({names}) FROM STDIN (FORMAT binary)",
                            lambda copy: copy.write(payload))

    def _append(self, run_id: int, table: str, copy_sql: str, load: Any) -> int:
        columns = (KEY[table], *APPEND_ONLY[table])
        names = ", ".join(columns)
        # NaN arrives where the file holds NULL (SQLite keeps no NaN); stored as NULL again.
        values = ", ".join(f"NULLIF({c}, 'NaN'::float8)" if table == "samples" and k > 1
                           else c for k, c in enumerate(columns))
        with self.pool.connection() as db, db.transaction():
            db.execute(f"CREATE TEMP TABLE IF NOT EXISTS incoming_{table} ON COMMIT DELETE ROWS "
                       f"AS SELECT {names} FROM {table} WITH NO DATA")
            with db.cursor().copy(copy_sql) as copy:
                load(copy)
            insert = (f"INSERT INTO {table} (run_id, {names}) SELECT %s, {values} FROM "
                      f"incoming_{table} ORDER BY {KEY[table]} ON CONFLICT DO NOTHING")
            if table == "samples":  # and each new row into its minute's min/max for plots
                added = db.execute(f"WITH new AS ({insert} RETURNING seq, channel, t_h, "
                                   f"v_v, l_cd_m2), {ROLLUP} SELECT count(*) FROM new",
                                   (run_id,) * 4).fetchone()[0]
            elif table == "events":
                added = db.execute(f"WITH new AS ({insert} RETURNING channel, kind), {FAULTS} "
                                   "SELECT count(*) FROM new", (run_id, run_id)).fetchone()[0]
            else:
                added = db.execute(insert, (run_id,)).rowcount
            db.execute("UPDATE runs SET last_heard = now() WHERE id = %s", (run_id,))
            db.execute("SELECT pg_notify('agelab_rows', %s)", (f"{run_id} {table}",))
            return added

    def snapshot(self, run_id: int, meta: dict[str, str] | None,
                 channels: Iterable[dict[str, Any]]) -> None:
        """The rows that change in place: the run's metadata, each channel's row."""
        with self.pool.connection() as db, db.transaction():
            if meta is not None:
                db.execute("UPDATE runs SET meta = %s, status = %s, study = %s, last_heard = "
                           "now() WHERE id = %s",
                           (json.dumps(meta), _loads(meta.get("status")),
                            _loads(meta.get("study")), run_id))
            for ch in channels:
                db.execute(
                    "INSERT INTO channels (run_id, id, name, pixel, area_cm2, j_ma_cm2, state, "
                    "sample) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (run_id, id) DO "
                    "UPDATE SET name = EXCLUDED.name, pixel = EXCLUDED.pixel, area_cm2 = "
                    "EXCLUDED.area_cm2, j_ma_cm2 = EXCLUDED.j_ma_cm2, state = EXCLUDED.state, "
                    "sample = EXCLUDED.sample",
                    (run_id, ch["id"], ch["name"], ch["pixel"], ch["area_cm2"], ch["j_ma_cm2"],
                     ch["state"], ch["sample"]))
            db.execute("SELECT pg_notify('agelab_rows', %s)", (f"{run_id} snapshot",))

    def store_file(self, run_id: int, data: bytes, sha256: str, state: str | None = None
                   ) -> None:
        """The finished run file; ``state`` is the shipper's digest of the run's metadata and
        channels when it was taken (a resumed run that ends again differs, and is sent again)."""
        with self.pool.connection() as db, db.transaction():
            db.execute("DELETE FROM run_files WHERE run_id = %s", (run_id,))
            for part, start in enumerate(range(0, max(len(data), 1), FILE_PART)):
                db.execute("INSERT INTO run_files VALUES (%s, %s, %s)",
                           (run_id, part, data[start:start + FILE_PART]))
            db.execute("UPDATE runs SET file_sha256 = %s, file_size = %s, file_state = %s "
                       "WHERE id = %s", (sha256, len(data), state, run_id))

    def run_file(self, run_id: int) -> bytes | None:
        with self.pool.connection() as db:
            parts = db.execute("SELECT data FROM run_files WHERE run_id = %s ORDER BY part",
                               (run_id,)).fetchall()
        return b"".join(bytes(p[0]) for p in parts) if parts else None

    def runs(self) -> list[dict[str, Any]]:
        with self.pool.connection() as db:
            rows = db.execute(
                "SELECT r.uid, r.station, r.study, r.status, r.last_heard, r.file_sha256, "
                "(SELECT COUNT(*) FROM channels c WHERE c.run_id = r.id), "
                "(SELECT COALESCE(MAX(seq), 0) FROM samples s WHERE s.run_id = r.id) "
                "FROM runs r ORDER BY r.first_heard").fetchall()
        return [{"uid": str(r[0]), "station": r[1], "study": r[2], "status": r[3],
                 "last_heard": r[4].isoformat(), "file": bool(r[5]), "channels": r[6],
                 "samples": r[7]} for r in rows]

    def dump_run(self, run_id: int) -> dict[str, Any]:
        """Everything Central holds of a run, as the file stores it (for rebuilding it)."""
        with self.pool.connection() as db:
            meta = db.execute("SELECT meta FROM runs WHERE id = %s", (run_id,)).fetchone()[0]
            channels = db.execute("SELECT id, name, pixel, area_cm2, j_ma_cm2, state, sample "
                                  "FROM channels WHERE run_id = %s ORDER BY id",
                                  (run_id,)).fetchall()
            tables = {}
            for table, key in KEY.items():
                names = ", ".join((key, *APPEND_ONLY[table]))
                tables[table] = db.execute(f"SELECT {names} FROM {table} WHERE run_id = %s "
                                           f"ORDER BY {key}", (run_id,)).fetchall()
        return {"meta": meta, "channels": channels, "tables": tables}

    def curve(self, run_id: int, channel: str, points: int = 2000) -> dict[str, Any]:
        """A channel's L and V against stress time for a plot of ``points`` pixels: the raw
        samples if there are no more, else each bucket's minimum and maximum (two points a
        bucket), from the per-minute rollup."""
        with self.pool.connection() as db:
            row = db.execute("SELECT id FROM channels WHERE run_id = %s AND name = %s",
                             (run_id, channel)).fetchone()
            if row is None:
                raise CentralError(f"no channel {channel!r} in this run")
            cid = row[0]
            total, first, last = db.execute(
                "SELECT COALESCE(SUM(n), 0), MIN(minute), MAX(minute) FROM sample_minutes "
                "WHERE run_id = %s AND channel = %s", (run_id, cid)).fetchone()
            if total <= points:
                rows = db.execute("SELECT t_h, l_cd_m2, v_v FROM samples WHERE run_id = %s AND "
                                  "channel = %s ORDER BY t_h", (run_id, cid)).fetchall()
                return {"decimated": False, "t_h": [r[0] for r in rows],
                        "l_cd_m2": [r[1] for r in rows], "v_v": [r[2] for r in rows]}
            width = max(1, -(-(last - first + 1) // max(points // 2, 1)))
            rows = db.execute(
                "SELECT min(t_min), max(t_max), min(l_min), max(l_max), min(v_min), max(v_max) "
                "FROM sample_minutes WHERE run_id = %s AND channel = %s "
                "GROUP BY (minute - %s) / %s ORDER BY 1", (run_id, cid, first, width)).fetchall()
        out: dict[str, list] = {"t_h": [], "l_cd_m2": [], "v_v": []}
        for t0, t1, l_lo, l_hi, v_lo, v_hi in rows:
            out["t_h"] += [t0, t1]
            out["l_cd_m2"] += [l_hi, l_lo]  # a decaying trace: its maximum comes first
            out["v_v"] += [v_lo, v_hi]
        return {"decimated": True, "bucket_minutes": width, **out}

    # ---------------------------------------------------------------- summaries
    def store_summaries(self, run_id: int, rows: list[dict[str, Any]]) -> None:
        columns = ("channel", "device", "j_ma_cm2", "temperature_c", "l0", "l_max", "t_end_h",
                   "status", "stop_reason", "batch", "substrate", "device_id", "recipe",
                   "operator", "tags", "t_values")
        with self.pool.connection() as db, db.transaction():
            db.execute("DELETE FROM summaries WHERE run_id = %s", (run_id,))
            typed = [f"{level.lower()}_{part}" for level in LEVELS for part in ("h", "done")]
            names = ", ".join((*columns, *typed))
            for row in rows:
                values = [json.dumps(row[c]) if c in ("tags", "t_values") else row.get(c)
                          for c in columns]
                for level in LEVELS:
                    t = (row.get("t_values") or {}).get(level) or {}
                    values += [t.get("t_h"), t.get("reached")]
                db.execute(f"INSERT INTO summaries (run_id, {names}) VALUES "
                           f"(%s, {', '.join(['%s'] * len(values))})", (run_id, *values))

    @staticmethod
    def _selection(runs: Sequence[str], device: str | None, batches: Sequence[str],
                   field_filters: dict[str, str] | None) -> tuple[str, list[Any]]:
        where, args = [], []
        if runs:
            where.append("r.uid = ANY(%s::uuid[])")
            args.append(list(runs))
        if device:
            where.append("s.device = %s")
            args.append(device)
        if batches:
            where.append("s.batch = ANY(%s)")
            args.append(list(batches))
        for name, value in (field_filters or {}).items():
            if name in ("substrate", "recipe", "operator", "device_id", "station"):
                where.append(f"{'r.station' if name == 'station' else 's.' + name} = %s")
                args.append(value)
            else:
                where.append("s.tags ->> %s = %s")
                args += [name, value]
        return (" WHERE " + " AND ".join(where)) if where else "", args

    def summaries(self, *, runs: Sequence[str] = (), device: str | None = None,
                  batches: Sequence[str] = (), field_filters: dict[str, str] | None = None
                  ) -> list[dict[str, Any]]:
        where, args = self._selection(runs, device, batches, field_filters)
        names = ("run", "station", "channel", "device", "j_ma_cm2", "temperature_c", "l0",
                 "l_max", "t_end_h", "status", "stop_reason", "batch", "substrate", "device_id",
                 "recipe", "operator", "tags", "t_values")
        query = (f"SELECT r.uid, r.station, {', '.join('s.' + n for n in names[2:])} "
                 "FROM summaries s JOIN runs r ON r.id = s.run_id" + where)
        with self.pool.connection() as db:
            rows = db.execute(query + " ORDER BY r.first_heard, s.channel", args).fetchall()
        return [dict(zip(names, (str(r[0]), *r[1:]), strict=True)) for r in rows]

    def compare(self, by: str, level: str, *, runs: Sequence[str] = (),
                device: str | None = None, batches: Sequence[str] = (),
                field_filters: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Each group's lifetimes at ``level`` at each current density, computed in the
        database: channels, how many reached it, the median and range of those that did, and
        the longest stress of those that did not (their T is longer)."""
        if by.startswith("tag:"):
            group, group_args = "s.tags ->> %s", [by[4:]]
        elif by in GROUP_COLUMNS:
            group, group_args = GROUP_COLUMNS[by], []
        else:
            raise CentralError(f"cannot group by {by!r}: one of {', '.join(GROUP_COLUMNS)} "
                               "or tag:NAME")
        if level not in LEVELS:
            raise CentralError(f"level {level!r}: one of {', '.join(LEVELS)}")
        where, args = self._selection(runs, device, batches, field_filters)
        t, done = f"s.{level.lower()}_h", f"s.{level.lower()}_done"
        # The reached values come back as one array a group, their median taken here: an
        # ordered-set aggregate sorted each group in the database at 4x the cost.
        query = (
            "SELECT g, j, count(*), count(*) FILTER (WHERE NOT done), "
            "max(t) FILTER (WHERE NOT done), array_agg(t) FILTER (WHERE done) FROM ("
            f"SELECT COALESCE(({group})::text, '(none)') AS g, s.j_ma_cm2 AS j, {t} AS t, "
            f"{done} AS done FROM summaries s"
            + (" JOIN runs r ON r.id = s.run_id" if "r." in group + where else "") + where
            + ") x WHERE t IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2")
        with self.pool.connection() as db:
            rows = db.cursor(binary=True).execute(query, [*group_args, *args]).fetchall()
        out = []
        for name, j, n, censored, beyond, values in rows:
            reached = np.asarray(values if values is not None else [], dtype=float)
            out.append({by: name, "j_ma_cm2": float(j or 0), "channels": n,
                        "reached": int(reached.size), "censored": censored,
                        "median_h": float(np.median(reached)) if reached.size else None,
                        "min_h": float(reached.min()) if reached.size else None,
                        "max_h": float(reached.max()) if reached.size else None,
                        "censored_beyond_h": beyond,
                        "median_is_bound": censored >= reached.size and censored > 0})
        return out


GROUP_COLUMNS = {"batch": "s.batch", "substrate": "s.substrate", "recipe": "s.recipe",
                 "operator": "s.operator", "device": "s.device", "device_id": "s.device_id",
                 "station": "r.station"}


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
