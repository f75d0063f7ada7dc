"""Every example config in examples/ passes the checks and runs to its end on the virtual bench."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agelab.protocols.config import check_study, load_config
from agelab.protocols.engine.engine import Engine
from agelab.protocols.store import RunFile

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_an_example_runs_to_its_end_on_the_virtual_bench(path, tmp_path):
    config = load_config(path)
    assert check_study(config) == []
    run_path = tmp_path / "run.sqlite"
    statuses = Engine(config, run_path, config_text=path.read_text()).run()
    assert set(statuses.values()) == {"finished"}, statuses
    with RunFile(run_path) as run:
        for ch in config.channels:
            samples = run.samples(ch.name, ("t_h", "l_cd_m2"))
            assert len(samples) > 5 and np.all(np.isfinite(samples[:, 1])), ch.name
            assert run.channel(ch.name).state["milestones"], ch.name
            jv = run.sweeps(ch.name, "jv")
            if not any(config.measurements[m].kind == "jv" for m in ch.checkpoints.measure):
                continue
            assert jv, ch.name
            # Light at every J–V point exactly where the photodetector follows the sweep.
            linked = not ch.pd_name.startswith("daq")
            assert np.isfinite(jv[0]["z"]).all() == linked, ch.name
