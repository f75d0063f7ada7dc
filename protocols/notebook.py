"""Run files as pandas DataFrames, for notebooks.

    from agelab.protocols.notebook import open_run
    run = open_run("runs/my-study-20261122-120000.sqlite")
    run.samples("red-100")          # t_h, J_mA_cm2, V_V, L_cd_m2
    run.jv("red-100")               # one row per sweep point, with a ``sweep`` column
    run.summary()                   # one row per channel: L0, T-values, trends (report figures)

Column names carry their units, as in the CSV export. Works on a run still being written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agelab.protocols.analysis.study import Options, analyse
from agelab.protocols.report.summary import summary
from agelab.protocols.store import RunFile


class RunFrames:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._run = RunFile(self.path)

    def close(self) -> None:
        self._run.close()

    def __enter__(self) -> RunFrames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def channels(self) -> list[str]:
        return [c.name for c in self._run.channels()]

    def meta(self) -> dict[str, Any]:
        return self._run.meta()

    def samples(self, channel: str) -> pd.DataFrame:
        data = self._run.samples(channel)
        return pd.DataFrame(data, columns=["t_h", "J_mA_cm2", "V_V", "L_cd_m2"])

    def _sweeps(self, channel: str, kind: str, names: tuple[str, str, str]) -> pd.DataFrame:
        frames = [pd.DataFrame({"sweep": k, "label": s["label"], "t_h": s["t_h"],
                                names[0]: s["x"], names[1]: s["y"], names[2]: s["z"]})
                  for k, s in enumerate(self._run.sweeps(channel, kind))]
        columns = ["sweep", "label", "t_h", *names]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def jv(self, channel: str) -> pd.DataFrame:
        return self._sweeps(channel, "jv", ("V_V", "J_mA_cm2", "L_cd_m2"))

    def cv(self, channel: str) -> pd.DataFrame:
        return self._sweeps(channel, "cv", ("V_V", "C_F", "G_S"))

    def spectra(self, channel: str, kind: str | None = None) -> pd.DataFrame:
        frames = [pd.DataFrame({"spectrum": k, "kind": s["kind"], "label": s["label"],
                                "t_h": s["t_h"], "integration_s": s["integration_s"],
                                "wavelength_nm": s["wavelength_nm"], "counts": s["counts"]})
                  for k, s in enumerate(self._run.spectra(channel, kind))]
        columns = ["spectrum", "kind", "label", "t_h", "integration_s", "wavelength_nm", "counts"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def pl(self, channel: str) -> pd.DataFrame:
        rows = [{"label": r["label"], "t_h": r["t_h"], "X_V": r["x"], "Y_V": r["y"],
                 "R_V": math.hypot(r["x"], r["y"])} for r in self._run.readings(channel, "pl")]
        return pd.DataFrame(rows, columns=["label", "t_h", "X_V", "Y_V", "R_V"])

    def events(self, channel: str | None = None) -> pd.DataFrame:
        rows = [{"channel": e["channel"], "t_h": e["t_h"], "wall": e["wall"], "kind": e["kind"],
                 "detail": json.dumps(e["detail"], sort_keys=True)}
                for e in self._run.events(channel)]
        return pd.DataFrame(rows, columns=["channel", "t_h", "wall", "kind", "detail"])

    def summary(self, options: Options | None = None) -> pd.DataFrame:
        """The report's per-channel figures (summary.json's channels), one row per channel."""
        rows = summary(analyse(self._run, options))["channels"]
        frame = pd.DataFrame(rows).set_index("name")
        return frame.replace({None: np.nan})


def open_run(path: Path | str) -> RunFrames:
    return RunFrames(path)
