"""Benchtop work by hand (no window): the engine's ramp, fault records and run-file metadata."""

from __future__ import annotations

import pytest
from engine_helpers import as_config, assert_ramped_down, channel, current_drives, study

from agelab.gui.benchtop import BenchtopSession
from agelab.protocols import __version__
from agelab.protocols.store import SCHEMA_VERSION, RunFile


@pytest.fixture
def session(tmp_path):
    config, text = as_config(study([channel("red-a", 1, "red-cdse", 100, stop={"max_time": "1 h"})],
                                   ["red-cdse"]))
    s = BenchtopSession(config, text, tmp_path)
    yield s
    s.close()


def test_an_unsafe_level_is_refused_before_any_instrument_is_touched(session):
    with pytest.raises(ValueError, match=r"safety\.max_current_density"):
        session.set_level("red-a", "5000 mA/cm^2")
    with pytest.raises(ValueError, match=r"safety\.max_voltage"):
        session.set_level("red-a", "40 V")
    assert not session.station.instruments and session.station.bench is None


def test_a_level_goes_on_and_off_through_the_engines_ramp(session):
    session.set_level("red-a", "2 mA")  # 50 mA/cm^2 on 4 mm^2, below the 100 mA/cm^2 stress
    site = session.station.bench.rig.sites[0]
    assert site.present_j() == pytest.approx(50.0)
    up = current_drives(site)
    assert max(up) <= 50.0 * (1 + 1e-9), "the current overshot the level"
    # sized on the channel's stress, in its ramp_steps (10): steps of at most 10 mA/cm^2
    assert len([j for j in up if 0 < j < 50.0]) >= 4
    session.output_off("red-a")
    assert_ramped_down(site, 50.0, 5)


def test_a_sweep_with_the_output_on_ramps_it_off_and_back(session):
    session.set_level("red-a", "4 mA")
    site = session.station.bench.rig.sites[0]
    session.measure("red-a", "jv")
    assert site.present_j() == pytest.approx(100.0)  # back at its level after the J-V
    drives = current_drives(site)
    assert 0.0 in drives[drives.index(100.0):], "the J-V ran with the stress still on"
    session.all_off()
    assert site.present_j() == 0.0


def test_the_benchtop_file_describes_itself_and_records_faults(session):
    session.set_level("red-a", "2 mA")
    session.station.bench.inject("garble@0:smu1")
    session.read("red-a")
    session.close()
    with RunFile(session.path) as run:
        meta = run.meta()
        faults = run.events("red-a", "fault")
    assert meta["schema"] == SCHEMA_VERSION and meta["software"] == f"agelab {__version__}"
    assert meta["kind"] == "benchtop" and meta["config"]["channels"][0]["name"] == "red-a"
    assert faults and {"instrument", "fault", "detail", "attempt"} <= set(faults[0]["detail"])
