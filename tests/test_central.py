"""AgeLab Central against a real PostgreSQL: tokens, who may write what, idempotent storage,
high-water marks (a restore from an older backup), snapshots, the finished file, bad requests,
LISTEN/NOTIFY, the private server's binaries, and where Central may listen."""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest
from central_helpers import add_token, agelab, central_in_thread, free_port, wait_for_port

from agelab.protocols.central.database import CentralError, Database
from agelab.protocols.central.postgres import EmbeddedPostgres, server_binaries
from agelab.protocols.central.rebuild import write_run_file
from agelab.protocols.ship.client import CentralClient, CentralRefused, read_token
from agelab.protocols.ship.command import LOOK_INTERVAL_S, QUIET_PASS_S, wait_for_a_commit
from agelab.protocols.ship.shipper import Shipper
from agelab.protocols.store import RunFile, RunWriter
from agelab.protocols.store.export import export_csv
from agelab.protocols.store.records import (
    ChannelState,
    EventRecord,
    ReadingRecord,
    Sample,
    SpectrumRecord,
    SweepRecord,
)


def make_run(path: Path, samples: int = 3000, status: str = "finished") -> str:
    """A run file with rows in every table (blobs, JSON, NaN and None among them)."""
    writer = RunWriter.new_run(path, study="central-test", config_yaml="study: x\n",
                               config={"study": "x"}, speedup=1.0)
    writer.add_channel("a", 1, 0.04, 50.0, {"batch": "B1", "tags": {"ligand": "oleate"}})
    writer.add_channel("b", 2, 0.04, 25.0, {"batch": "B2"})
    writer.set_meta(status="running")
    writer.start()
    for k in range(samples):
        for name in ("a", "b"):
            writer.write(Sample(name, k / 60, 50.0, 3.0 + k * 1e-5,
                                float("nan") if k == 7 else 1000.0 - k * 0.01, 1e-5))
    v = np.linspace(0, 4, 21)
    writer.write(SweepRecord("a", "jv", "start", 0.0, v, v ** 2, v * 10, {"nplc": 0.1}))
    writer.write(SpectrumRecord("b", "el", "start", 0.0, np.linspace(400, 700, 50),
                                np.arange(50.0), 0.1))
    writer.write(ReadingRecord("a", "pl", "start", 0.0, 1e-3, -2e-4, {"tc": 0.01}))
    writer.write(EventRecord("a", "milestone", {"name": "T95", "at": 1.5}, 1.5))
    writer.write(EventRecord(None, "note", {"text": "ünïcode ok"}))
    writer.write(ChannelState("a", {"status": "running", "t_h": 49.9}))
    writer.update_meta(status=status)
    writer.close()
    with RunFile(path) as run:
        return run.uid


@pytest.fixture
def central(postgres_url, tmp_path):
    db = Database(postgres_url)
    tokens = {name: add_token(db, name, role, tmp_path)
              for name, role in (("st1", "station"), ("st2", "station"), ("viewer", "viewer"))}
    with central_in_thread(db) as url:
        yield url, db, tokens
    db.close()


def ship_all(url: str, token: Path, *paths: Path) -> Shipper:
    client = CentralClient(url, read_token(token))
    shipper = Shipper(client, paths, log=lambda _: None)
    for _ in range(50):
        if shipper.pass_once() and shipper.drained() and all(
                p.refused or p.marks.get("file_sha256") for p in shipper.runs.values()):
            break
    client.close()
    return shipper


def exported_equal(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    pending = [cmp]
    while pending:
        c = pending.pop()
        if c.left_only or c.right_only or c.diff_files or c.funny_files:
            return False
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        if mismatch or errors:
            return False
        pending += c.subdirs.values()
    return True


def rebuilt(db: Database, uid: str, folder: Path) -> Path:
    return write_run_file(db.dump_run(db.run_id(uid)[0]), folder / f"{uid}.sqlite")


# ---------------------------------------------------------------------------- storage
def test_a_shipped_run_exports_exactly_as_the_stations_file(central, tmp_path):
    url, db, tokens = central
    uid = make_run(tmp_path / "run.sqlite")
    ship_all(url, tokens["st1"], tmp_path / "run.sqlite")
    export_csv(tmp_path / "run.sqlite", tmp_path / "station")
    export_csv(rebuilt(db, uid, tmp_path), tmp_path / "central")
    assert exported_equal(tmp_path / "station", tmp_path / "central")
    assert (tmp_path / "central" / "channels.csv").read_text().count("B1") == 1
    with psycopg.connect(db.url) as pg:
        sha, size = pg.execute("SELECT file_sha256, file_size FROM runs").fetchone()
        summaries = pg.execute("SELECT channel, batch FROM summaries ORDER BY channel").fetchall()
    assert sha and size > 0 and summaries == [("a", "B1"), ("b", "B2")]


def test_rows_sent_twice_are_stored_once(central, tmp_path):
    url, db, tokens = central
    uid = make_run(tmp_path / "run.sqlite", samples=500)
    ship_all(url, tokens["st1"], tmp_path / "run.sqlite")
    with RunFile(tmp_path / "run.sqlite") as run:
        rows = run.rows_after("samples", 0, 10_000)
        events = run.rows_after("events", 0, 100)
    client = CentralClient(url, read_token(tokens["st1"]))
    assert client.rows(uid, "samples", rows[100:300]) == 0  # a batch re-sent after a lost reply
    assert client.rows(uid, "events", events) == 0
    client.close()
    with psycopg.connect(db.url) as pg:
        count = pg.execute("SELECT COUNT(*), COUNT(DISTINCT seq) FROM samples").fetchone()
    assert count == (len(rows), len(rows)) == (1000, 1000)


def test_a_central_restored_from_an_older_backup_is_filled_again_from_its_marks(central,
                                                                                tmp_path):
    """Central's high-water marks, not the shipper's memory, say what to send: rows lost in a
    restore are sent again, none twice."""
    url, db, tokens = central
    uid = make_run(tmp_path / "run.sqlite")
    ship_all(url, tokens["st1"], tmp_path / "run.sqlite")
    with psycopg.connect(db.url) as pg:  # yesterday's backup: the later rows and the file gone
        pg.execute("DELETE FROM samples WHERE seq > 2500")
        pg.execute("DELETE FROM events WHERE id > 1")
        pg.execute("UPDATE runs SET file_sha256 = NULL")
    client = CentralClient(url, read_token(tokens["st1"]))
    assert client.hello(uid, {"study": "central-test"}, {})["samples"] == 2500
    client.close()
    shipper = ship_all(url, tokens["st1"], tmp_path / "run.sqlite")
    assert shipper.runs[(tmp_path / "run.sqlite").resolve()].sent_rows == 6000 - 2500 + 1
    export_csv(tmp_path / "run.sqlite", tmp_path / "station")
    export_csv(rebuilt(db, uid, tmp_path), tmp_path / "central")
    assert exported_equal(tmp_path / "station", tmp_path / "central")


def test_snapshots_follow_rows_that_change_in_place(central, tmp_path):
    url, db, tokens = central
    path = tmp_path / "run.sqlite"
    uid = make_run(path, samples=10, status="running")
    client = CentralClient(url, read_token(tokens["st1"]))
    shipper = Shipper(client, [path], log=lambda _: None)
    assert shipper.pass_once()
    writer = RunWriter(path)
    writer.start()
    writer.write(ChannelState("a", {"status": "finished", "t_h": 99.0}))
    writer.update_meta(status="finished")
    writer.close()
    assert shipper.pass_once()
    client.close()
    with psycopg.connect(db.url) as pg:
        status = pg.execute("SELECT status FROM runs WHERE uid = %s", (uid,)).fetchone()[0]
        state = pg.execute("SELECT state FROM channels WHERE name = 'a'").fetchone()[0]
    assert status == "finished" and json.loads(state)["t_h"] == 99.0


def test_listen_notify_reports_new_rows(central, tmp_path):
    url, db, tokens = central
    heard: list[str] = []
    listening = threading.Event()

    def listen() -> None:
        with psycopg.connect(db.url, autocommit=True) as pg:
            pg.execute("LISTEN agelab_rows")
            listening.set()
            for note in pg.notifies(timeout=20, stop_after=3):  # a snapshot, then rows
                heard.append(note.payload)

    thread = threading.Thread(target=listen)
    thread.start()
    assert listening.wait(10)
    make_run(tmp_path / "run.sqlite", samples=5)
    ship_all(url, tokens["st1"], tmp_path / "run.sqlite")
    thread.join(25)
    assert {p.split()[1] for p in heard} & {"samples", "sweeps", "spectra", "readings",
                                            "events"}, heard


# ---------------------------------------------------------------------------- who may do what
def test_tokens_scope_writes_to_their_own_station_and_viewers_only_read(central, tmp_path):
    url, db, tokens = central
    uid = make_run(tmp_path / "run.sqlite", samples=10)
    ship_all(url, tokens["st1"], tmp_path / "run.sqlite")
    headers = {name: {"Authorization": f"Bearer {read_token(path)}"}
               for name, path in tokens.items()}
    api = f"{url}/api/v1"
    other = httpx.post(f"{api}/runs/{uid}/hello", json={"meta": {}}, headers=headers["st2"])
    assert other.status_code == 403 and "st1" in other.json()["detail"]
    rows = httpx.post(f"{api}/runs/{uid}/rows/events", json={"rows": []}, headers=headers["st2"])
    assert rows.status_code == 403
    for method, path in (("POST", f"/runs/{uid}/hello"), ("PUT", f"/runs/{uid}/snapshot"),
                         ("POST", f"/runs/{uid}/rows/samples"), ("PUT", f"/runs/{uid}/file"),
                         ("POST", "/heartbeat")):
        reply = httpx.request(method, api + path, json={"meta": {}, "rows": []},
                              headers={**headers["viewer"], "X-Content-SHA256": "0"})
        assert reply.status_code == 403, (method, path, reply.text)
    assert httpx.get(f"{api}/runs", headers=headers["viewer"]).json()[0]["uid"] == uid
    assert httpx.get(f"{api}/runs").status_code == 401
    assert httpx.get(f"{api}/runs", headers={"Authorization": "Bearer nope"}).status_code == 401
    db.revoke_token("viewer")
    assert httpx.get(f"{api}/runs", headers=headers["viewer"]).status_code == 401
    with psycopg.connect(db.url) as pg:  # only hashes are kept
        stored = [r[0] for r in pg.execute("SELECT hash FROM tokens")]
    assert not set(stored) & {read_token(p) for p in tokens.values()}
    assert "/api/v1/runs/{uid}/rows/{table}" in httpx.get(f"{url}/openapi.json").json()["paths"]


def test_bad_requests_get_a_clear_answer_and_store_nothing(central, tmp_path):
    url, db, tokens = central
    uid = make_run(tmp_path / "run.sqlite", samples=10)
    ship_all(url, tokens["st1"], tmp_path / "run.sqlite")
    auth = {"Authorization": f"Bearer {read_token(tokens['st1'])}"}
    api = f"{url}/api/v1/runs/{uid}"
    cases = [
        httpx.post(f"{api}/rows/samples", content=b"{not json", headers=auth),
        httpx.post(f"{api}/rows/samples", json={"rows": [[10_000, 1, 0.5]]}, headers=auth),
        httpx.post(f"{api}/rows/samples", json={"rows": [[10_000, 1, "x", 0, 0, 0, 0, 0]]},
                   headers=auth),
        httpx.post(f"{api}/rows/sweeps", json={"rows": [[9, 1, "jv", "", 0, 0, "{}", "@@", None,
                                                         None]]}, headers=auth),
        httpx.put(f"{api}/file", content=b"junk", headers={**auth, "X-Content-SHA256": "0"}),
        httpx.post(f"{url}/api/v1/runs/not-a-uid/hello", json={"meta": {}}, headers=auth),
        httpx.post(f"{api}/samples", content=b"\0" * 63, headers=auth),
        httpx.post(f"{api}/samples", content=np.full(8, 0.5).tobytes(), headers=auth),
        httpx.post(f"{api}/samples", content=np.full(8, np.nan).tobytes(), headers=auth),
    ]
    assert [r.status_code for r in cases] == [422] * 9, [r.text for r in cases]
    assert all("detail" in r.json() and "Traceback" not in r.text for r in cases)
    junk = b"not a run file"
    bad_file = httpx.put(f"{api}/file", content=junk,
                         headers={**auth, "X-Content-SHA256": hashlib.sha256(junk).hexdigest()})
    assert bad_file.status_code == 422 and "run file" in bad_file.json()["detail"]
    assert httpx.post(f"{api}/rows/nothing", json={"rows": []}, headers=auth).status_code == 404
    with psycopg.connect(db.url) as pg:
        assert pg.execute("SELECT COUNT(*) FROM samples WHERE seq = 10000").fetchone()[0] == 0


def test_a_refused_shipper_says_why_and_stops(central, tmp_path):
    url, _, tokens = central
    make_run(tmp_path / "run.sqlite", samples=10)
    ship_all(url, tokens["st1"], tmp_path / "run.sqlite")
    shipper = ship_all(url, tokens["st2"], tmp_path / "run.sqlite")
    (progress,) = shipper.runs.values()
    assert progress.refused and "belongs to station 'st1'" in progress.refused
    client = CentralClient(url, read_token(tokens["viewer"]))
    with pytest.raises(CentralRefused, match="cannot write"):
        client.heartbeat({})
    client.close()


# ---------------------------------------------------------------------------- the CLI
def test_token_commands_and_a_shipped_backfill_from_the_command_line(postgres_url, tmp_path):
    added = agelab("central", "token", "add", "lab-pc-1", "--role", "station", "--db",
                   postgres_url)
    assert added.returncode == 0 and len(added.stdout.strip()) >= 40
    viewer = agelab("central", "token", "add", "alice", "--role", "viewer", "--db", postgres_url)
    twice = agelab("central", "token", "add", "alice", "--role", "viewer", "--db", postgres_url)
    assert twice.returncode != 0 and "exists already" in twice.stderr
    assert "Traceback" not in twice.stderr
    listed = agelab("central", "token", "list", "--db", postgres_url).stdout
    assert "lab-pc-1\tstation" in listed and "alice\tviewer" in listed
    assert added.stdout.strip() not in listed
    (tmp_path / "st.token").write_text(added.stdout)
    (tmp_path / "viewer.token").write_text(viewer.stdout)
    runs = tmp_path / "runs"
    runs.mkdir()
    uid = make_run(runs / "old.sqlite", samples=200)
    (runs / "notes.sqlite").write_bytes(b"not a run")  # a stray file does not stop a backfill
    db = Database(postgres_url)
    with central_in_thread(db) as url:
        shipped = agelab("ship", str(runs), "--central", url, "--token-file",
                         str(tmp_path / "st.token"), timeout=60)
        assert shipped.returncode == 1, shipped.stdout + shipped.stderr
        assert "file uploaded" in shipped.stdout and "1 refused" in shipped.stdout
        assert "notes.sqlite: passed over" in shipped.stdout
        listed = agelab("central", "runs", "--central", url, "--token-file",
                        str(tmp_path / "viewer.token"))
        assert uid in listed.stdout and "lab-pc-1" in listed.stdout
        out = tmp_path / "central-export"
        exported = agelab("central", "export", uid, "--csv", str(out), "--central", url,
                          "--token-file", str(tmp_path / "viewer.token"))
        assert exported.returncode == 0, exported.stderr
        export_csv(runs / "old.sqlite", tmp_path / "station-export")
        assert exported_equal(out, tmp_path / "station-export")
        fetched = agelab("central", "export", uid, "--runfile", str(tmp_path / "back.sqlite"),
                         "--central", url, "--token-file", str(tmp_path / "viewer.token"))
        assert fetched.returncode == 0, fetched.stderr
        report = agelab("report", str(tmp_path / "back.sqlite"))
        assert report.returncode == 0 and "report" in report.stdout, report.stderr
        with RunFile(tmp_path / "back.sqlite") as run:  # the station's own file, byte for byte
            assert run.uid == uid and run.sample_count() == 400
        revoked = agelab("central", "token", "revoke", "alice", "--db", postgres_url)
        assert revoked.returncode == 0
        refused = agelab("central", "runs", "--central", url, "--token-file",
                         str(tmp_path / "viewer.token"))
        assert refused.returncode != 0 and "401" in refused.stderr
        assert "Traceback" not in refused.stderr
    db.close()


@pytest.mark.parametrize(("args", "message"), [
    (["--host", "0.0.0.0"], "--tls-cert"),
    (["--host", "192.168.1.20", "--tls-cert", "c.pem"], "go together"),
])
def test_central_listens_beyond_loopback_only_with_tls_or_when_told(args, message,
                                                                     postgres_url):
    refused = agelab("central", "serve", "--db", postgres_url, *args, timeout=60)
    assert refused.returncode != 0 and message in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_missing_token_file_stops_a_run_before_anything_starts(tmp_path):
    done = agelab("ship", str(tmp_path), "--central", "http://127.0.0.1:9", "--token-file",
                  str(tmp_path / "none.token"))
    assert done.returncode != 0 and "none.token" in done.stderr
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------------------- its PostgreSQL
def test_without_pg_ctl_on_path_the_pip_installed_postgresql_is_used():
    """A fresh machine: no PostgreSQL on PATH, so the binaries pgserver ships serve."""
    saved = os.environ["PATH"]
    os.environ["PATH"] = "/nonexistent"
    try:
        binaries = server_binaries()
        assert "pgserver" in str(binaries)
        folder = Path(tempfile.mkdtemp(prefix="agelab-pgserver-"))
        folder.chmod(0o755)
        server = EmbeddedPostgres(folder / "central")
        url = server.start()
    finally:
        os.environ["PATH"] = saved
    try:
        with psycopg.connect(url) as pg:
            assert pg.execute("SELECT 1").fetchone() == (1,)
        assert server.running()
    finally:
        server.stop()
    assert not server.running()


def test_the_private_postgresql_listens_on_loopback_and_asks_for_a_password(postgres_server):
    settings = json.loads(postgres_server.settings_path.read_text())
    assert oct(postgres_server.settings_path.stat().st_mode)[-3:] == "600"
    with psycopg.connect(postgres_server.url) as pg:
        assert pg.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
    wrong = postgres_server.url.replace(settings["password"], "wrong")
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(wrong, connect_timeout=5)


def test_a_long_curve_comes_as_min_max_buckets_no_more_points_than_asked(central, tmp_path):
    url, db, tokens = central
    uid = make_run(tmp_path / "run.sqlite", samples=3000)  # 50 h at 1-min samples
    ship_all(url, tokens["st1"], tmp_path / "run.sqlite")
    with RunFile(tmp_path / "run.sqlite") as run:
        rows = run.rows_after("samples", 0, 10_000)
    client = CentralClient(url, read_token(tokens["st1"]))
    client.rows(uid, "samples", rows[:500])  # sent again: the rollup must not count them twice
    client.close()
    auth = {"Authorization": f"Bearer {read_token(tokens['viewer'])}"}
    curve = httpx.get(f"{url}/api/v1/runs/{uid}/channels/a/curve", params={"points": 200},
                      headers=auth).json()
    assert curve["decimated"] and len(curve["t_h"]) <= 200
    with RunFile(tmp_path / "run.sqlite") as run:
        raw = run.samples("a")
    lum = raw[:, 3][np.isfinite(raw[:, 3])]
    assert max(curve["l_cd_m2"]) == lum.max() and min(curve["l_cd_m2"]) == lum.min()
    assert curve["t_h"][0] == raw[0, 0] and curve["t_h"][-1] == raw[-1, 0]
    with psycopg.connect(db.url) as pg:
        counted = pg.execute("SELECT SUM(n) FROM sample_minutes").fetchone()[0]
    assert counted == 6000
    small = httpx.get(f"{url}/api/v1/runs/{uid}/channels/a/curve",
                      params={"points": 5000}, headers=auth).json()
    assert not small["decimated"] and len(small["t_h"]) == 3000
    missing = httpx.get(f"{url}/api/v1/runs/{uid}/channels/zz/curve", headers=auth)
    assert missing.status_code == 422 and "zz" in missing.json()["detail"]


def test_a_run_already_at_central_is_not_uploaded_again_until_it_changes(central, tmp_path):
    url, _, tokens = central
    path = tmp_path / "run.sqlite"
    make_run(path, samples=10)
    logs: list[str] = []

    def backfill() -> None:  # one `agelab ship` of the file, to its end
        client = CentralClient(url, read_token(tokens["st1"]))
        shipper = Shipper(client, [path], log=logs.append)
        while not (shipper.pass_once() and shipper.drained()):
            pass
        client.close()

    backfill()
    backfill()
    assert sum("file uploaded" in line for line in logs) == 1
    writer = RunWriter(path)  # resumed, and ended again
    writer.start()
    writer.write(EventRecord(None, "note", {"text": "resumed"}))
    writer.update_meta(status="finished", ended=1.0)
    writer.close()
    backfill()
    assert sum("file uploaded" in line for line in logs) == 2


def test_the_shipper_exchanges_right_after_the_engine_commits_not_on_a_timer(central,
                                                                             tmp_path):
    """Its exchange (and Central's work on it) follows a commit, so it falls in the quiet
    after the engine's sampling burst; with nothing committed it waits the quiet interval."""
    url, _, tokens = central
    path = tmp_path / "live.sqlite"
    writer = RunWriter.new_run(path, study="pacing", config_yaml="", config={}, speedup=1.0)
    writer.add_channel("a", 1, 0.04, 50.0)
    writer.set_meta(status="running")
    writer.start()
    client = CentralClient(url, read_token(tokens["st1"]))
    shipper = Shipper(client, [path], log=lambda _: None)
    try:
        assert shipper.pass_once()
        started = time.monotonic()
        wait_for_a_commit(shipper)
        assert time.monotonic() - started >= QUIET_PASS_S - LOOK_INTERVAL_S

        moments: list[float] = []  # the commit was asked for, and was done

        def commit_later() -> None:
            time.sleep(0.4)
            moments.append(time.monotonic())
            writer.write(Sample("a", 0.1, 50.0, 3.0, 1000.0, 1e-5))
            writer.flush()
            moments.append(time.monotonic())

        committer = threading.Thread(target=commit_later)
        committer.start()
        wait_for_a_commit(shipper)
        woke = time.monotonic()
        committer.join()
        assert moments[0] <= woke < moments[1] + 0.25
        assert shipper.pass_once()
        assert shipper.runs[path.resolve()].sent_rows == 1
    finally:
        client.close()
        writer.close()


def test_central_stopped_by_sigterm_stops_its_private_postgresql():
    folder = Path(tempfile.mkdtemp(prefix="agelab-serve-"))
    folder.chmod(0o755)
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "agelab.protocols.cli", "central", "serve",
                              "--data", str(folder / "data"), "--port", str(port)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, 60)
        server = EmbeddedPostgres(folder / "data")
        assert server.running()
        serve.send_signal(signal.SIGTERM)
        out = serve.communicate(timeout=60)[0]
    finally:
        if serve.poll() is None:
            serve.kill()
    assert "AgeLab Central stopped" in out and "Traceback" not in out, out
    assert not server.running()


def test_a_run_s_summary_rows_are_recomputed_on_demand(central, tmp_path):
    url, db, tokens = central
    uid = make_run(tmp_path / "run.sqlite", samples=200)
    ship_all(url, tokens["st1"], tmp_path / "run.sqlite")
    with psycopg.connect(db.url, autocommit=True) as pg:
        pg.execute("DELETE FROM summaries")
    auth = {"Authorization": f"Bearer {read_token(tokens['st1'])}"}
    done = httpx.post(f"{url}/api/v1/runs/{uid}/summaries", headers=auth)
    assert done.status_code == 200 and done.json()["channels"] == 2
    viewer = {"Authorization": f"Bearer {read_token(tokens['viewer'])}"}
    rows = httpx.get(f"{url}/api/v1/summaries", params={"batch": "B1"}, headers=viewer).json()
    assert [(r["channel"], r["batch"], r["tags"]) for r in rows] == [
        ("a", "B1", {"ligand": "oleate"})]
    assert httpx.post(f"{url}/api/v1/runs/{uid}/summaries", headers=viewer).status_code == 403


def test_compare_groups_lifetimes_by_a_field_and_current_with_censored_ones_as_bounds(
        postgres_url):
    db = Database(postgres_url)
    run_id = db.register_run("00000000-0000-4000-8000-0000000000c1", "st1", {})
    rows = []
    for k, (batch, j, t, reached) in enumerate([
            ("A", 10, 40.0, True), ("A", 10, 60.0, True), ("A", 10, 30.0, False),
            ("A", 20, 12.0, True), ("B", 10, 30.0, False), ("B", 10, 30.0, False),
            ("B", 10, 90.0, True), ("B", 20, 9.0, True)]):
        rows.append({"channel": f"c{k}", "device": "blue-znsete", "j_ma_cm2": j, "l0": 80.0 * j,
                     "t_end_h": t, "status": "finished", "batch": batch, "tags": {"k": str(k % 2)},
                     "t_values": {"T50": {"t_h": t, "reached": reached}}})
    db.store_summaries(run_id, rows)
    groups = {(g["batch"], g["j_ma_cm2"]): g for g in db.compare("batch", "T50")}
    a10, b10 = groups[("A", 10.0)], groups[("B", 10.0)]
    assert (a10["channels"], a10["reached"], a10["censored"]) == (3, 2, 1)
    assert a10["median_h"] == 50.0 and (a10["min_h"], a10["max_h"]) == (40.0, 60.0)
    assert b10["median_is_bound"] and b10["censored_beyond_h"] == 30.0
    assert groups[("B", 20.0)]["median_h"] == 9.0
    by_tag = db.compare("tag:k", "T50", batches=["A"])
    assert sum(g["channels"] for g in by_tag) == 4 and {g["tag:k"] for g in by_tag} == {"0", "1"}
    with pytest.raises(CentralError, match="level"):
        db.compare("batch", "T42")
    with pytest.raises(CentralError, match="group by"):
        db.compare("colour", "T50")
    db.close()
