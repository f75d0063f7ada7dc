"""One channel's page as the dashboard draws it, read from Central's rows.

The same set as the Qt window: the J–V–L and C–V families (coloured by age on the page), the
newest EL spectrum and the EL heat map, EL, PL and EL/(J·PL) relative to their first values, and
the events. Each part is capped so a page never carries more than a plot can show: at most
``FAMILY_CURVES`` sweeps a family (picked evenly by age), ``HEAT_ROWS`` x ``HEAT_BINS`` for
the heat map.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agelab.protocols.analysis.spectra import spectrum_figures
from agelab.protocols.analysis.study import el_pl_trend
from agelab.protocols.central.database import CentralError, Database
from agelab.protocols.central.wire import json_object

FAMILY_CURVES = 40
HEAT_ROWS = 200
HEAT_BINS = 200
EVENTS_SHOWN = 500
FAULT_KINDS = ("fault", "runaway", "error", "step-failed", "output-off-failed", "route-failed",
               "command-rejected")


def _floats(blob: bytes | None) -> list[float | None]:
    values = np.frombuffer(blob or b"", dtype="<f8")
    return [float(v) if np.isfinite(v) else None for v in values]


def _evenly(rows: list, count: int) -> list:
    if len(rows) <= count:
        return rows
    picks = np.unique(np.linspace(0, len(rows) - 1, count).round().astype(int))
    return [rows[k] for k in picks]



def channel_detail(db: Database, run_id: int, channel: str) -> dict[str, Any]:
    with db.pool.connection() as pg:
        row = pg.execute("SELECT id, state, sample, j_ma_cm2, area_cm2 FROM channels WHERE "
                         "run_id = %s AND name = %s", (run_id, channel)).fetchone()
        if row is None:
            raise CentralError(f"no channel {channel!r} in this run")
        cid, state, sample, j, area = row
        sweeps = pg.execute("SELECT kind, label, t_h, x, y, z FROM sweeps WHERE run_id = %s "
                            "AND channel = %s ORDER BY id", (run_id, cid)).fetchall()
        spectra = pg.execute("SELECT label, t_h, integration_s, wavelength, counts FROM spectra"
                             " WHERE run_id = %s AND channel = %s AND kind = 'el' ORDER BY id",
                             (run_id, cid)).fetchall()
        pl = pg.execute("SELECT label, t_h, x, y FROM readings WHERE run_id = %s AND channel = "
                        "%s AND kind = 'pl' ORDER BY id", (run_id, cid)).fetchall()
        events = pg.execute(
            "SELECT e.id, c.name, e.kind, e.t_h, e.wall, e.detail FROM events e LEFT JOIN "
            "channels c ON c.run_id = e.run_id AND c.id = e.channel WHERE e.run_id = %s AND "
            "(e.channel = %s OR e.channel IS NULL) ORDER BY e.id DESC LIMIT %s",
            (run_id, cid, EVENTS_SHOWN)).fetchall()
    families: dict[str, list[dict[str, Any]]] = {"jv": [], "cv": []}
    for kind in families:
        rows = [r for r in sweeps if r[0] == kind]
        families[kind] = [{"label": r[1], "t_h": r[2], "x": _floats(r[3]), "y": _floats(r[4]),
                           "z": _floats(r[5])} for r in _evenly(rows, FAMILY_CURVES)]
    el, figures, heat_rows, heat_t = [], [], [], []
    grid: np.ndarray | None = None
    latest: dict[str, Any] | None = None
    for label, t_h, integration, wl_blob, counts_blob in spectra:
        wl = np.frombuffer(wl_blob or b"", dtype="<f8")
        counts = np.frombuffer(counts_blob or b"", dtype="<f8")
        if not counts.size or wl.size != counts.size:
            continue
        el.append({"t_h": t_h, "label": label})
        figures.append(spectrum_figures(t_h, wl, counts, integration or 1.0))
        rate = counts / max(integration or 1.0, 1e-9)
        if grid is None:
            grid = np.linspace(float(wl.min()), float(wl.max()), HEAT_BINS)
        heat_rows.append(np.interp(grid, wl, rate))
        heat_t.append(t_h)
        latest = {"t_h": t_h, "label": label, "wavelength_nm": wl.tolist(),
                  "rate": rate.tolist()}
    picks = _evenly(list(range(len(heat_rows))), HEAT_ROWS)
    heat = None
    if grid is not None:
        matrix = np.array([heat_rows[k] for k in picks])
        heat = {"wavelength_nm": grid.tolist(), "t_h": [heat_t[k] for k in picks],
                "rate": (matrix / max(float(matrix.max()), 1e-12)).round(4).tolist()}
    readings = [{"label": r[0], "t_h": r[1], "x": r[2], "y": r[3]} for r in pl]
    trend = el_pl_trend(el, figures, readings)
    st = json_object(state)
    return {
        "channel": channel, "state": st, "sample": json_object(sample), "j_ma_cm2": j,
        "area_cm2": area, "milestones": st.get("milestones") or {},
        "jv": families["jv"], "cv": families["cv"], "el": latest, "heat": heat,
        "el_pl": [{"t_h": p.t_h, "el": p.el_rel, "pl": p.pl_rel, "ege": p.ege_rel}
                  for p in trend],
        "events": [{"id": e[0], "channel": e[1], "kind": e[2], "t_h": e[3], "wall": e[4],
                    "detail": json_object(e[5]), "fault": e[2] in FAULT_KINDS} for e in events],
    }
