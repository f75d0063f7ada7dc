"""The dashboard's reads: every station with its runs and a tile per channel, in few queries.

A tile is the channel's state as its run file last held it (status, milestones), its newest
sample (L/L0, V, stress time), its fault count and a sparkline of L on a log time axis (the page
draws L/L0). The sparkline comes from ``sample_sparks`` (ten buckets a decade), so a tile costs
at most ~70 rows however long the run: the fleet of 16 stations x 96 channels is one call.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from typing import Any

import numpy as np

from agelab.protocols.central.database import Database
from agelab.protocols.central.wire import json_object

# How many of a station's runs the fleet page shows: the running ones, then the latest ended.
RUNS_A_STATION = 4



def spark_text(t_h: list[float], lum: list[float | None]) -> str:
    """A sparkline as the page reads it: base64 of little-endian float32, every t_h then every
    L (the page divides by L0, or before L0 is set by the first L). A fleet's thousands of
    sparklines travel as a fifth of their JSON size, and cost no JSON encoding."""
    values = np.array([*t_h, *(np.nan if v is None else v for v in lum)], dtype="<f4")
    return base64.b64encode(values.tobytes()).decode()


def tile(name: str, state: dict[str, Any], faults: int, sample: dict[str, Any],
         j_ma_cm2: float | None, latest: tuple[float | None, ...] = (None, None, None)
         ) -> dict[str, Any]:
    """One channel's tile, from its state row (as the engine wrote it), its newest sample
    (t_h, L, V) and its fault count."""
    t_h, l_now, v_now = latest
    l0 = state.get("l0") if isinstance(state.get("l0"), float | int) else None
    l_rel = l_now / l0 if l_now is not None and l0 else None
    milestones = state.get("milestones") if isinstance(state.get("milestones"), dict) else {}
    t_state = state.get("t_h")
    return {"name": name, "status": state.get("status") or "pending",
            "t_h": max((t for t in (t_h, t_state) if isinstance(t, float | int)), default=None),
            "t_sample": t_h,
            "l_rel": l_rel, "l0": l0, "l_cd_m2": l_now, "v_v": v_now,
            "milestones": sorted(milestones), "faults": faults,
            "stop_reason": state.get("stop_reason"), "j_ma_cm2": j_ma_cm2,
            "batch": sample.get("batch")}


def run_tiles(db: Database, run_ids: list[int], sparks: bool = True
              ) -> dict[int, list[dict[str, Any]]]:
    """The tiles of each run in ``run_ids``, each with its sparkline ([t_h, L/L0] pairs)."""
    if not run_ids:
        return {}
    with db.pool.connection() as pg:
        channels = pg.execute(
            "SELECT c.run_id, c.id, c.name, c.state, c.sample, c.j_ma_cm2, COALESCE(f.n, 0), "
            "s.t_h, s.l_cd_m2, s.v_v FROM channels c LEFT JOIN fault_counts f ON f.run_id = "
            "c.run_id AND f.channel = c.id LEFT JOIN channel_latest s ON s.run_id = c.run_id "
            "AND s.channel = c.id WHERE c.run_id = ANY(%s) ORDER BY c.run_id, c.id",
            (run_ids,)).fetchall()
        spark_rows = pg.cursor(binary=True).execute(
            "SELECT run_id, channel, array_agg(t_sum / n ORDER BY bucket), array_agg(l_sum / n "
            "ORDER BY bucket) FROM sample_sparks WHERE run_id = ANY(%s) GROUP BY 1, 2",
            (run_ids,)).fetchall() if sparks else []
    lines = {(run_id, cid): spark_text(ts, ls) for run_id, cid, ts, ls in spark_rows}
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for run_id, cid, name, state, sample, j, faults, *latest in channels:
        t = tile(name, json_object(state), faults, json_object(sample), j, tuple(latest))
        if sparks:
            t["spark"] = lines.get((run_id, cid), "")
        out[run_id].append(t)
    return out


def fleet(db: Database) -> dict[str, Any]:
    """Every station: when it was last heard, its shipper's progress, its latest runs' tiles."""
    with db.pool.connection() as pg:
        stations = pg.execute(
            "SELECT name, last_heard, shipper, extract(epoch FROM now() - last_heard), "
            "extract(epoch FROM now()) FROM stations ORDER BY name").fetchall()
        runs = pg.execute(
            "SELECT id, uid, station, study, status, last_heard FROM (SELECT r.*, row_number() "
            "OVER (PARTITION BY station ORDER BY (status = 'running') DESC, first_heard DESC) "
            "AS k FROM runs r) x WHERE k <= %s ORDER BY station, first_heard",
            (RUNS_A_STATION,)).fetchall()
        now = pg.execute("SELECT extract(epoch FROM now())").fetchone()[0]
    tiles = run_tiles(db, [r[0] for r in runs])
    by_station: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run_id, uid, station, study, status, last_heard in runs:
        by_station[station].append({"uid": str(uid), "study": study, "status": status,
                                    "last_heard": last_heard.isoformat(),
                                    "channels": tiles.get(run_id, [])})
    return {"now": float(now), "stations": [
        {"name": name, "last_heard": heard.timestamp() if heard else None,
         "silent_s": float(silent) if silent is not None else None, "shipper": shipper,
         "runs": by_station.get(name, [])}
        for name, heard, shipper, silent, _ in stations]}


def run_update(db: Database, run_id: int) -> dict[str, Any] | None:
    """What the live feed sends when a run's rows arrive: its tiles without sparklines, each
    with its newest sample's point for the sparkline."""
    with db.pool.connection() as pg:
        row = pg.execute("SELECT uid, station, study, status FROM runs WHERE id = %s",
                         (run_id,)).fetchone()
    if row is None:
        return None
    tiles = run_tiles(db, [run_id], sparks=False).get(run_id, [])
    for t in tiles:
        if t["t_h"] is not None and t.get("l_cd_m2") is not None:
            t["point"] = [t["t_h"], t["l_cd_m2"]]
    return {"type": "run", "uid": str(row[0]), "station": row[1], "study": row[2],
            "status": row[3], "channels": tiles}


def station_update(db: Database, name: str) -> dict[str, Any] | None:
    with db.pool.connection() as pg:
        row = pg.execute("SELECT last_heard, shipper FROM stations WHERE name = %s",
                         (name,)).fetchone()
    if row is None:
        return None
    return {"type": "station", "name": name,
            "last_heard": row[0].timestamp() if row[0] else None, "shipper": row[1]}
