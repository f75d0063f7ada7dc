"""The run file: readable while it is written, committed at least every second, exported to CSV,
and summarised by ``agelab status``."""

from __future__ import annotations

import csv
import subprocess
import sys
import time

import numpy as np
import pytest

from agelab.protocols.store import RunFile, RunFileError
from agelab.protocols.store.export import export_csv
from tests.engine_helpers import channel, run_in_thread, study


def test_readable_while_written_and_committed_every_second(tmp_path):
    data = study([channel("b1", 1, "blue-znsete", 100, stop={"max_time": "4 h"},
                          checkpoints={"every": "1 h", "measure": ["jvl", "el"]})],
                 ["blue-znsete"], speedup=2000)
    path = tmp_path / "run.sqlite"
    engine, thread, _result = run_in_thread(data, path)
    counts, lags = [], []
    while thread.is_alive():
        time.sleep(0.3)
        with RunFile(path) as run:
            counts.append(run.sample_count())
            lags.append(time.time() - float(run.meta()["heartbeat"]))
            # The newest committed sample is at most about a second behind the engine.
            live_t = engine.snapshot()[0]["t_h"]
            if counts[-1]:
                behind_s = (live_t - run.samples("b1")[-1, 0]) * 3600 / 2000
                assert behind_s < 1.0
    thread.join()
    assert counts == sorted(counts) and counts[-1] > counts[0]
    assert max(lags[:-1]) < 1.0

    out = tmp_path / "csv"
    export_csv(path, out)
    with RunFile(path) as run:
        n_samples = run.sample_count("b1")
        n_jv = len(run.sweeps("b1", "jv"))
    rows = list(csv.reader((out / "b1" / "samples.csv").open()))
    assert rows[0] == ["t_h", "J_mA_cm2", "V_V", "L_cd_m2"] and len(rows) == n_samples + 1
    assert float(rows[1][1]) == pytest.approx(100, rel=0.01)
    jv = list(csv.reader((out / "b1" / "jv.csv").open()))
    assert jv[0] == ["sweep", "t_h", "V_V", "J_mA_cm2", "L_cd_m2"]
    assert len(jv) == 1 + 21 * n_jv and {r[0] for r in jv[1:]} == {str(k) for k in range(n_jv)}
    spectra = list(csv.reader((out / "b1" / "spectra.csv").open()))
    assert spectra[0] == ["spectrum", "t_h", "kind", "wavelength_nm", "counts"]
    assert spectra[1][2] == "el"
    assert next(iter(csv.reader((out / "b1" / "cv.csv").open()))) == ["sweep", "t_h", "V_V", "C_F",
                                                                    "G_S"]
    events = list(csv.reader((out / "b1" / "events.csv").open()))
    assert events[0] == ["t_h", "kind", "detail"]
    assert "interruption" in {r[1] for r in events[1:]}

    status = subprocess.run([sys.executable, "-m", "agelab.protocols.cli", "status", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "finished" in status.stdout and "b1" in status.stdout


def test_a_file_that_is_not_a_run_is_one_clear_error(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RunFileError, match="not an AgeLab run file"):
        RunFile(junk)
    out = subprocess.run([sys.executable, "-m", "agelab.protocols.cli", "status", str(junk)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "not an AgeLab run file" in out.stderr


def test_columnar_blocks_hold_exactly_the_rows(tmp_path):
    """Samples read through the blocks (plots) equal the rows (the record of truth), also after
    the writer is reopened (a resume) halfway through a block."""
    from agelab.protocols.store import RunWriter
    from agelab.protocols.store.records import Sample
    from agelab.protocols.store.schema import BLOCK

    path = tmp_path / "blocks.sqlite"
    n = 2 * BLOCK + 123
    for part in (range(0, n // 2), range(n // 2, n)):  # a writer, then a second one (resume)
        writer = RunWriter(path, commit_interval_s=0.05)
        writer.add_channel("b1", 1, 0.04, 50.0)
        writer.start()
        for k in part:
            writer.write(Sample("b1", k / 3600, 50.0, 3.0 + k * 1e-6, 1000.0 - k * 1e-3, 1e-5))
        writer.close()
    with RunFile(path) as run:
        fast = run.samples("b1")  # t, J, V, L: blocks and the tail
        rows = run.samples("b1", ("t_h", "j_ma_cm2", "v_v", "l_cd_m2", "wall"))[:, :4]
        blocks = run._db.execute("SELECT COUNT(*) FROM sample_blocks").fetchone()[0]
    assert blocks == 2 and fast.shape == (n, 4)
    assert np.array_equal(fast, rows)


def test_an_older_run_file_is_upgraded_step_by_step_and_a_newer_one_refused(tmp_path):
    """The schema-version path: a writer opening an older file applies each upgrade step in
    order, in one transaction, and stamps the new version; a file from a newer AgeLab is
    refused before anything is written."""
    import sqlite3

    from agelab.protocols.store import SCHEMA_VERSION, RunWriter, SchemaError
    from agelab.protocols.store.schema import prepare

    path = tmp_path / "old.sqlite"
    RunWriter(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == str(
        SCHEMA_VERSION)
    applied = []

    def add_seq(conn):
        applied.append(SCHEMA_VERSION)
        conn.execute("ALTER TABLE events ADD COLUMN seq INTEGER")

    found = prepare(db, path, target=SCHEMA_VERSION + 1, upgrades={SCHEMA_VERSION: add_seq})
    assert found == SCHEMA_VERSION and applied == [SCHEMA_VERSION]
    columns = [row[1] for row in db.execute("PRAGMA table_info(events)")]
    assert "seq" in columns
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == str(
        SCHEMA_VERSION + 1)
    db.close()
    with pytest.raises(SchemaError, match="newer AgeLab"):
        RunWriter(path)  # this AgeLab writes SCHEMA_VERSION, the file is one ahead
