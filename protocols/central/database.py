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

import psycopg
from psycopg_pool import ConnectionPool

from agelab.protocols.store.reader import APPEND_ONLY

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
    last_heard timestamptz NOT NULL DEFAULT now(), file_sha256 text, file_size bigint);
CREATE TABLE IF NOT EXISTS channels (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, id int NOT NULL, name text NOT NULL,
    pixel int, area_cm2 float8, j_ma_cm2 float8, state text NOT NULL DEFAULT '{}',
    sample text NOT NULL DEFAULT '{}', PRIMARY KEY (run_id, id));
CREATE TABLE IF NOT EXISTS samples (
    run_id int NOT NULL REFERENCES runs ON DELETE CASCADE, seq bigint NOT NULL,
    channel int NOT NULL, t_h float8 NOT NULL, wall float8 NOT NULL, j_ma_cm2 float8,
    v_v float8, l_cd_m2 float8, i_pd_a float8, received timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq));
CREATE INDEX IF NOT EXISTS samples_by_channel ON samples (run_id, channel, t_h);
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
"""

# The key column of each append-only table in Central (the run file's rowid).
KEY = {table: ("seq" if table == "samples" else "id") for table in APPEND_ONLY}
BYTEA = {"sweeps": {"x", "y", "z"}, "spectra": {"wavelength", "counts"}}
FILE_PART = 8 << 20  # a finished run file is stored in parts of 8 MiB


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

    def marks(self, run_id: int) -> dict[str, Any]:
        """The high-water mark of each append-only table, and the finished file's checksum."""
        out: dict[str, Any] = {}
        with self.pool.connection() as db:
            for table, key in KEY.items():
                out[table] = db.execute(f"SELECT COALESCE(MAX({key}), 0) FROM {table} WHERE "
                                        "run_id = %s", (run_id,)).fetchone()[0]
            out["file_sha256"] = db.execute("SELECT file_sha256 FROM runs WHERE id = %s",
                                            (run_id,)).fetchone()[0]
        return out

    def insert_rows(self, run_id: int, table: str, rows: Sequence[Sequence[Any]]) -> int:
        """Append rows (each the file's key then its columns), each at most once, in one
        transaction; returns how many were new. Uses COPY into a scratch table, then one
        INSERT ... ON CONFLICT DO NOTHING."""
        columns = (KEY[table], *APPEND_ONLY[table])
        names = ", ".join(columns)
        with self.pool.connection() as db, db.transaction():
            db.execute(f"CREATE TEMP TABLE IF NOT EXISTS incoming_{table} ON COMMIT DELETE ROWS "
                       f"AS SELECT {names} FROM {table} WITH NO DATA")
            with db.cursor().copy(f"COPY incoming_{table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur = db.execute(
                f"INSERT INTO {table} (run_id, {names}) SELECT %s, {names} FROM "
                f"incoming_{table} ORDER BY {KEY[table]} ON CONFLICT DO NOTHING", (run_id,))
            db.execute("UPDATE runs SET last_heard = now() WHERE id = %s", (run_id,))
            db.execute("SELECT pg_notify('agelab_rows', %s)", (f"{run_id} {table}",))
            return cur.rowcount

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

    def store_file(self, run_id: int, data: bytes, sha256: str) -> None:
        with self.pool.connection() as db, db.transaction():
            db.execute("DELETE FROM run_files WHERE run_id = %s", (run_id,))
            for part, start in enumerate(range(0, max(len(data), 1), FILE_PART)):
                db.execute("INSERT INTO run_files VALUES (%s, %s, %s)",
                           (run_id, part, data[start:start + FILE_PART]))
            db.execute("UPDATE runs SET file_sha256 = %s, file_size = %s WHERE id = %s",
                       (sha256, len(data), run_id))

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

    # ---------------------------------------------------------------- summaries
    def store_summaries(self, run_id: int, rows: list[dict[str, Any]]) -> None:
        columns = ("channel", "device", "j_ma_cm2", "temperature_c", "l0", "l_max", "t_end_h",
                   "status", "stop_reason", "batch", "substrate", "device_id", "recipe",
                   "operator", "tags", "t_values")
        with self.pool.connection() as db, db.transaction():
            db.execute("DELETE FROM summaries WHERE run_id = %s", (run_id,))
            for row in rows:
                values = [json.dumps(row[c]) if c in ("tags", "t_values") else row.get(c)
                          for c in columns]
                db.execute(f"INSERT INTO summaries (run_id, {', '.join(columns)}) VALUES "
                           f"(%s, {', '.join(['%s'] * len(columns))})", (run_id, *values))

    def summaries(self, *, runs: Sequence[str] = (), device: str | None = None,
                  batches: Sequence[str] = (), field_filters: dict[str, str] | None = None
                  ) -> list[dict[str, Any]]:
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
        query = ("SELECT r.uid, r.station, s.channel, s.device, s.j_ma_cm2, s.temperature_c, "
                 "s.l0, s.l_max, s.t_end_h, s.status, s.stop_reason, s.batch, s.substrate, "
                 "s.device_id, s.recipe, s.operator, s.tags, s.t_values FROM summaries s "
                 "JOIN runs r ON r.id = s.run_id")
        if where:
            query += " WHERE " + " AND ".join(where)
        names = ("run", "station", "channel", "device", "j_ma_cm2", "temperature_c", "l0",
                 "l_max", "t_end_h", "status", "stop_reason", "batch", "substrate", "device_id",
                 "recipe", "operator", "tags", "t_values")
        with self.pool.connection() as db:
            rows = db.execute(query + " ORDER BY r.first_heard, s.channel", args).fetchall()
        return [dict(zip(names, (str(r[0]), *r[1:]), strict=True)) for r in rows]


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
