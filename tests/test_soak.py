"""The short versions of the soak and crash tests (``make soak`` runs the long ones): the engine
runs as ``agelab run`` in its own process against a virtual bench that injects faults, or is
killed with SIGKILL and resumed."""

from __future__ import annotations

import numpy as np
import pytest

from protocols.crash import CrashPlan, run_crash_test
from protocols.soak import SoakPlan, run_soak
from protocols.store import RunFile

pytestmark = pytest.mark.timeout(400)


def _check(result, name):
    return next(c for c in result.checks if c.name == name)


def test_short_soak_completes_safely_and_reports_every_fault(tmp_path):
    plan = SoakPlan(hours=12.0, channels=4, sampling_min=1.0, speedup=2000.0, seed=3)
    result = run_soak(plan, tmp_path, say=lambda _: None)
    for name in ("run completes", "safety invariants", "resident memory after warm-up"):
        assert _check(result, name).ok, (name, _check(result, name).measured)
    faults = _check(result, "every bench fault is an event").measured
    matched, total = (int(x) for x in faults.split(" ")[0].split("/"))
    assert total > 50 and matched >= 0.98 * total, faults
    # Garbage never reached the file: every stored reading is one a pixel could give.
    (run_path,) = (tmp_path / "faulty").glob("*.sqlite")
    with RunFile(run_path) as run:
        for ch in run.channels():
            data = run.samples(ch.name, ("t_h", "v_v", "l_cd_m2"))
            assert np.isfinite(data).all()
            assert (data[:, 1] > -1).all() and (data[:, 1] < 9.5).all()
            assert (data[:, 2] >= -1).all() and (data[:, 2] < 1e5).all()


def test_short_crash_test_loses_nothing_and_records_every_gap(tmp_path):
    result = run_crash_test(CrashPlan.short(), tmp_path, say=lambda _: None)
    for name in ("kills, then the run completes", "SQLite integrity check",
                 "committed samples lost", "gaps recorded"):
        assert _check(result, name).ok, (name, _check(result, name).measured)
