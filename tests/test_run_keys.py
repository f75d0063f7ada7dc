"""Run-file schema 2: a stable key on every row and a uid on every run, so a run can be shipped
and stored idempotently; and the sample fields a config gives each channel."""

from __future__ import annotations

import csv
import sqlite3

import pytest
from engine_helpers import as_config, channel, run_in_thread, study

from agelab.protocols.config import ConfigError
from agelab.protocols.store import RunFile, RunWriter
from agelab.protocols.store.export import export_csv, export_hdf5
from agelab.protocols.store.schema import SCHEMA, derived_uid


def make_v1_file(path) -> None:
    """A run file as AgeLab wrote it before schema 2."""
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.executemany("INSERT INTO meta VALUES (?, ?)", [("schema", "1"), ("study", "old"),
                                                       ("created", "1700000000.0"),
                                                       ("config_yaml", "study: old\n"),
                                                       ("status", "finished")])
    db.execute("INSERT INTO channels (name, pixel, area_cm2, j_ma_cm2) VALUES ('a', 1, 0.04, 50)")
    db.executemany("INSERT INTO samples VALUES (1, ?, 0, 50, 3, ?, 1e-5)",
                   [(k / 60, 1000.0 - k) for k in range(100)])
    db.commit()
    db.close()


def test_an_old_file_reads_with_a_derived_uid_and_upgrades_keeping_every_key(tmp_path):
    path = tmp_path / "old.sqlite"
    make_v1_file(path)
    with RunFile(path) as run:  # read-only, as the shipper reads it
        uid_before = run.uid
        keys_before = [r[0] for r in run.rows_after("samples", 0, 1000)]
        assert run.channels()[0].sample == {}
        samples_before = run.samples("a")
    assert uid_before == derived_uid({"study": "old", "created": "1700000000.0",
                                      "config_yaml": "study: old\n"})
    RunWriter(path).close()  # a resume upgrades it
    with RunFile(path) as run:
        assert run.meta()["schema"] == 2
        assert run.uid == uid_before
        assert [r[0] for r in run.rows_after("samples", 0, 1000)] == keys_before
        assert (run.samples("a") == samples_before).all()
        columns = [r[1] for r in run._db.execute("PRAGMA table_info(samples)")]
    assert columns[0] == "seq" and keys_before == list(range(1, 101))


def test_new_runs_get_a_random_uid(tmp_path):
    uids = set()
    for k in range(2):
        RunWriter.new_run(tmp_path / f"{k}.sqlite", study="s", config_yaml="", config={},
                          speedup=1.0).close()
        with RunFile(tmp_path / f"{k}.sqlite") as run:
            uids.add(run.uid)
    assert len(uids) == 2


def test_sample_fields_are_validated_stored_and_exported(tmp_path):
    chs = [channel("a", 1, "blue-znsete", 50, stop={"max_time": "0.2 h"},
                   sample={"device": "D-07", "tags": {"ligand": "oleate"}}),
           channel("b", 2, "blue-znsete", 50, stop={"max_time": "0.2 h"},
                   sample={"batch": "B2"})]
    data = study(chs, ["blue-znsete"] * 2, defaults={"sample": {"batch": "B1",
                                                                "recipe": "ZnMgO 15 %"}})
    config, _ = as_config(data)
    assert config.channels[0].sample.fields() == {"batch": "B1", "recipe": "ZnMgO 15 %",
                                                  "device": "D-07",
                                                  "tags": {"ligand": "oleate"}}
    assert config.channels[1].sample.batch == "B2"  # a channel's own value wins
    _, thread, result = run_in_thread(data, tmp_path / "run.sqlite")
    thread.join(120)
    assert result.get("statuses"), result
    with RunFile(tmp_path / "run.sqlite") as run:
        stored = {ch.name: ch.sample for ch in run.channels()}
    assert stored["a"]["tags"] == {"ligand": "oleate"} and stored["b"]["batch"] == "B2"
    export_csv(tmp_path / "run.sqlite", tmp_path / "csv")
    rows = list(csv.DictReader((tmp_path / "csv" / "channels.csv").open()))
    assert [(r["channel"], r["batch"], r["device"]) for r in rows] == [("a", "B1", "D-07"),
                                                                       ("b", "B2", "")]
    import h5py
    with h5py.File(export_hdf5(tmp_path / "run.sqlite", tmp_path / "run.h5")) as h5:
        assert '"B1"' in h5["a"].attrs["sample"]


@pytest.mark.parametrize(("sample", "expected"), [
    ({"batch": ""}, "batch"),
    ({"colour": "blue"}, "colour"),
    ({"tags": {"bad key": "x"}}, "tags"),
    ({"operator": "a\nb"}, "operator"),
])
def test_bad_sample_fields_are_config_errors(sample, expected):
    data = study([channel("a", 1, "blue-znsete", 50, sample=sample)], ["blue-znsete"])
    with pytest.raises(ConfigError, match=expected):
        as_config(data)
