"""A run file exported: as CSV (one folder per channel, plain CSV a spreadsheet opens) and
as HDF5 (one group per channel, units as attributes).

Files per channel: samples.csv (t_h, J_mA_cm2, V_V, L_cd_m2), jv.csv (sweep, t_h, V_V, J_mA_cm2,
L_cd_m2), cv.csv (sweep, t_h, V_V, C_F, G_S), spectra.csv (spectrum, t_h, kind, wavelength_nm,
counts), pl.csv (reading, t_h, X_V, Y_V, R_V) and events.csv (t_h, kind, detail); run-wide
events go to the top folder's events.csv, and channels.csv lists every channel with its sample
fields (batch, substrate, device, recipe, operator, tags as JSON).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from agelab.protocols.store.reader import RunFile

SAMPLE_FIELDS = ("batch", "substrate", "device", "recipe", "operator")
SAMPLE_COLUMNS = (("t", "h"), ("J", "mA/cm^2"), ("V", "V"), ("L", "cd/m^2"))
SWEEP_COLUMNS = {"jv": (("V", "V"), ("J", "mA/cm^2"), ("L", "cd/m^2")),
                 "cv": (("V", "V"), ("C", "F"), ("G", "S"))}


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
        written.append(_write(
            out / "channels.csv",
            ["channel", "pixel", "area_cm2", "J_mA_cm2", *SAMPLE_FIELDS, "tags"],
            ([ch.name, ch.pixel, _g(ch.area_cm2), _g(ch.j_ma_cm2),
              *(ch.sample.get(k, "") for k in SAMPLE_FIELDS),
              json.dumps(ch.sample.get("tags", {}), sort_keys=True)] for ch in run.channels())))
    return written


def export_hdf5(run_path: Path, target: Path) -> Path:
    """One HDF5 file: a group per channel (samples, jv/, cv/, spectra/, pl, events), units as
    attributes, and the run's metadata (config, identities, software) on the root."""
    import h5py

    target.parent.mkdir(parents=True, exist_ok=True)
    with RunFile(run_path) as run, h5py.File(target, "w") as h5:
        for key, value in run.meta().items():
            h5.attrs[key] = value if isinstance(value, str) else json.dumps(value)
        for ch in run.channels():
            g = h5.create_group(ch.name)
            g.attrs.update(pixel=ch.pixel, area_cm2=ch.area_cm2, j_ma_cm2=ch.j_ma_cm2,
                           state=json.dumps(ch.state), sample=json.dumps(ch.sample))
            data = run.samples(ch.name)
            s = g.create_group("samples")
            for k, (name, unit) in enumerate(SAMPLE_COLUMNS):
                s.create_dataset(name, data=data[:, k], compression="gzip").attrs["units"] = unit
            for kind, names in SWEEP_COLUMNS.items():
                kg = g.create_group(kind)
                for k, sweep in enumerate(run.sweeps(ch.name, kind)):
                    sg = kg.create_group(f"{k:04d}")
                    sg.attrs.update(t_h=sweep["t_h"], label=sweep["label"] or "",
                                    params=json.dumps(sweep["params"]))
                    for (name, unit), values in zip(names, (sweep["x"], sweep["y"], sweep["z"]),
                                                    strict=True):
                        sg.create_dataset(name, data=values).attrs["units"] = unit
            sp = g.create_group("spectra")
            for k, spectrum in enumerate(run.spectra(ch.name)):
                sg = sp.create_group(f"{k:04d}")
                sg.attrs.update(t_h=spectrum["t_h"], kind=spectrum["kind"],
                                label=spectrum["label"] or "",
                                integration_s=spectrum["integration_s"])
                for name, unit, values in (("wavelength", "nm", spectrum["wavelength_nm"]),
                                           ("counts", "counts", spectrum["counts"])):
                    sg.create_dataset(name, data=values).attrs["units"] = unit
            readings = run.readings(ch.name, "pl")
            pl = g.create_group("pl")
            for name, unit, values in (("t", "h", [r["t_h"] for r in readings]),
                                       ("X", "V", [r["x"] for r in readings]),
                                       ("Y", "V", [r["y"] for r in readings])):
                pl.create_dataset(name, data=np.asarray(values, dtype=float)).attrs["units"] = unit
            events = [json.dumps(e, default=str) for e in run.events(ch.name)]
            g.create_dataset("events", data=np.array(events, dtype=h5py.string_dtype()))
        h5.create_dataset("events", data=np.array(
            [json.dumps(e, default=str) for e in run.events() if e["channel"] is None],
            dtype=h5py.string_dtype()))
    return target
