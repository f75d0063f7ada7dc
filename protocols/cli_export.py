"""``agelab export RUN --csv DIR``: one folder per channel, plain CSV a spreadsheet opens.

Files per channel: samples.csv (t_h, J_mA_cm2, V_V, L_cd_m2), jv.csv (sweep, t_h, V_V, J_mA_cm2,
L_cd_m2), cv.csv (sweep, t_h, V_V, C_F, G_S), spectra.csv (spectrum, t_h, kind, wavelength_nm,
counts), pl.csv (reading, t_h, X_V, Y_V, R_V) and events.csv (t_h, kind, detail); run-wide
events go to the top folder's events.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

from .store import RunFile


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a run's data as CSV")
    p.add_argument("run", type=Path)
    p.add_argument("--csv", type=Path, required=True, metavar="DIR")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    written = export_csv(args.run, args.csv)
    print(f"wrote {len(written)} files under {args.csv}")
    return 0


def _g(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))


def _write(path: Path, header: list[str], rows) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _events(run: RunFile, name: str | None) -> list[list[str]]:
    rows = []
    for e in run.events():
        if e["channel"] == name:
            rows.append([_g(e["t_h"]), e["kind"], json.dumps(e["detail"], sort_keys=True)])
    return rows


def export_csv(run_path: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with RunFile(run_path) as run:
        for ch in run.channels():
            d = out / ch.name
            d.mkdir(exist_ok=True)
            data = run.samples(ch.name)
            written.append(_write(d / "samples.csv", ["t_h", "J_mA_cm2", "V_V", "L_cd_m2"],
                                  ([_g(v) for v in row] for row in data)))
            for kind, header in (("jv", ["sweep", "t_h", "V_V", "J_mA_cm2", "L_cd_m2"]),
                                 ("cv", ["sweep", "t_h", "V_V", "C_F", "G_S"])):
                rows = []
                for k, s in enumerate(run.sweeps(ch.name, kind)):
                    rows += [[k, _g(s["t_h"]), _g(x), _g(y), _g(z)]
                             for x, y, z in zip(s["x"], s["y"], s["z"], strict=True)]
                written.append(_write(d / f"{kind}.csv", header, rows))
            rows = []
            for k, s in enumerate(run.spectra(ch.name)):
                rows += [[k, _g(s["t_h"]), s["kind"], _g(w), _g(c)]
                         for w, c in zip(s["wavelength_nm"], s["counts"], strict=True)]
            written.append(_write(d / "spectra.csv",
                                  ["spectrum", "t_h", "kind", "wavelength_nm", "counts"], rows))
            rows = [[k, _g(r["t_h"]), _g(r["x"]), _g(r["y"]), _g(math.hypot(r["x"], r["y"]))]
                    for k, r in enumerate(run.readings(ch.name, "pl"))]
            written.append(_write(d / "pl.csv", ["reading", "t_h", "X_V", "Y_V", "R_V"], rows))
            written.append(_write(d / "events.csv", ["t_h", "kind", "detail"],
                                  _events(run, ch.name)))
        written.append(_write(out / "events.csv", ["t_h", "kind", "detail"], _events(run, None)))
    return written
