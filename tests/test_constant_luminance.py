"""Constant-luminance stress: the current follows the aging pixel to hold L0, never past the
safety limit, and the milestones are read from the drive."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import as_config, channel, current_drives, run_in_thread, study

from agelab.protocols.config import ConfigError
from agelab.protocols.store import RunFile


def _held(j: float, band: float = 0.01, **extra) -> dict:
    ch = channel("cl", 1, "blue-znsete", j, sampling="30 s", stop={"at": "T80"},
                 milestones={"T90": []})
    ch["stress"]["hold_luminance"] = {"band": band}
    ch.update(extra)
    return ch


def test_the_luminance_is_held_and_the_current_rise_marks_the_milestones(tmp_path):
    engine, thread, result = run_in_thread(study([_held(100)], ["blue-znsete"]),
                                           tmp_path / "run.sqlite")
    thread.join(300)
    assert result.get("statuses") == {"cl": "finished"}, result
    with RunFile(tmp_path / "run.sqlite") as run:
        data = run.samples("cl", ("t_h", "l_cd_m2", "j_ma_cm2"))
        milestones = {e["detail"]["name"]: e["detail"] for e in run.events("cl", "milestone")}
    t, lum, j = data.T
    l0 = lum[0]
    # Held: past the first few samples, the luminance stays within the band and the noise.
    assert np.median(np.abs(lum[5:] / l0 - 1)) < 0.01
    assert np.max(np.abs(lum[5:] / l0 - 1)) < 0.05
    # The current rose as the pixel aged: by 1/0.8 at the stop (efficiency at 80 %).
    assert j[0] == pytest.approx(100, rel=0.01)
    assert j[-1] == pytest.approx(100 / 0.8, rel=0.03)
    # T90: where the drive had risen by 1/0.9.
    t90 = milestones["T90"]["t_cross_h"]
    assert np.interp(t90, t, j) == pytest.approx(100 / 0.9, rel=0.02)
    assert engine.virtual_bench.safety_violations() == {}


def test_the_current_never_passes_the_safety_limit(tmp_path):
    data = study([_held(200)], ["blue-znsete"],
                 safety={"max_current_density": "220 mA/cm^2", "max_voltage": "10 V"})
    engine, thread, result = run_in_thread(data, tmp_path / "run.sqlite")
    thread.join(300)
    assert result.get("statuses") == {"cl": "finished"}, result
    site = engine.virtual_bench.rig.sites[0]
    assert max(current_drives(site)) <= 220 * (1 + 1e-9)
    with RunFile(tmp_path / "run.sqlite") as run:
        (limit,) = run.events("cl", "luminance-not-held")
        lum = run.samples("cl", ("t_h", "l_cd_m2"))[:, 1]
    assert limit["detail"]["level_a"] == pytest.approx(0.220 * 0.04)
    assert lum[-1] < 0.95 * lum[0]  # from the limit on, the luminance falls


def test_a_held_luminance_needs_a_current_to_adjust():
    ch = _held(100)
    ch["stress"] = {"voltage": "4 V", "current_limit": "150 mA/cm^2",
                    "hold_luminance": {"band": 0.01}}
    with pytest.raises(ConfigError, match="constant luminance is held by adjusting a current"):
        as_config(study([ch], ["blue-znsete"]))
