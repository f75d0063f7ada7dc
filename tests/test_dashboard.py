"""The dashboard's server side against a real PostgreSQL: logins and sessions, who may stop what,
the fleet call, the live feed and its resuming, the stop's path to a run's inbox, and the
alerts delivered through apprise to a webhook on loopback."""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import queue
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from central_helpers import add_token, agelab, central_in_thread
from engine_helpers import channel, run_in_thread, study
from test_central import make_run, ship_all

from agelab.protocols.central.alerts import (
    AlertRules,
    BurstRule,
    CentralSettings,
    SettingsError,
    SilentRule,
    load_settings,
)
from agelab.protocols.central.database import Database
from agelab.protocols.ship.client import CentralClient, read_token
from agelab.protocols.ship.shipper import Shipper
from agelab.protocols.store import RunFile, inbox
from agelab.protocols.store.export import export_csv


@pytest.fixture
def central(postgres_url, tmp_path):
    db = Database(postgres_url)
    tokens = {name: add_token(db, name, role, tmp_path)
              for name, role in (("st1", "station"), ("viewer", "viewer"),
                                 ("boss", "operator"))}
    with central_in_thread(db) as url:
        yield url, db, tokens
    db.close()


def login(url: str, token_file: Path) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10)
    reply = client.post("/login", data={"token": read_token(token_file), "next": "/compare"})
    assert reply.status_code == 303 and reply.headers["location"] == "/compare"
    return client


def test_a_login_trades_a_token_for_an_httponly_strict_session(central):
    url, db, tokens = central
    raw = httpx.get(url + "/", follow_redirects=False)
    assert raw.status_code == 303 and raw.headers["location"].startswith("/login?next=")
    with httpx.Client(base_url=url) as anon:  # a station's token opens no dashboard
        refused = anon.post("/login", data={"token": read_token(tokens["st1"])})
        assert refused.status_code == 303 and "failed=1" in refused.headers["location"]
        off_site = anon.post("/login", data={"token": read_token(tokens["viewer"]),
                                             "next": "//evil.example/"})
        assert off_site.headers["location"] == "/"  # never redirected off Central
    client = login(url, tokens["viewer"])
    cookie = client.post("/login", data={"token": read_token(tokens["viewer"])}
                         ).headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert read_token(tokens["viewer"]).lower() not in cookie  # a session id, not the token
    page = client.get("/")
    assert page.status_code == 200 and "fleet.js" in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self'
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/api/v1/whoami").json() == {"name": "viewer", "role": "viewer"}
    db.revoke_token("viewer")  # a revoked token's sessions end with it
    assert client.get("/api/v1/whoami").status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 303


def test_only_an_operator_stops_and_the_stop_reaches_the_runs_inbox(central, tmp_path):
    url, _db, tokens = central
    path = tmp_path / "run.sqlite"
    uid = make_run(path, samples=50, status="running")
    client = CentralClient(url, read_token(tokens["st1"]))
    shipper = Shipper(client, [path], log=lambda _: None)
    assert shipper.pass_once()
    stop = f"/api/v1/runs/{uid}/stop"
    bearer = {name: {"Authorization": f"Bearer {read_token(tokens[name])}"}
              for name in tokens}
    assert httpx.post(url + stop, json={"channel": "a"}, headers=bearer["viewer"]
                      ).status_code == 403
    assert httpx.post(url + stop, json={"channel": "a"}, headers=bearer["st1"]
                      ).status_code == 403
    assert httpx.post(url + stop, json={"channel": "zz"}, headers=bearer["boss"]
                      ).status_code == 404
    boss = login(url, tokens["boss"])
    forged = boss.post(stop, json={"channel": "a"})  # the cookie alone, as another site's form
    assert forged.status_code == 403 and "X-AgeLab-CSRF" in forged.json()["detail"]
    queued = boss.post(stop, json={"channel": "a"}, headers={"X-AgeLab-CSRF": "1"})
    assert queued.status_code == 202 and queued.json()["by"] == "boss"
    [command] = boss.get(f"/api/v1/runs/{uid}").json()["commands"]
    assert command["channel"] == "a" and command["delivered"] is None
    shipper.heartbeat()  # the shipper's next exchange fetches it and hands it over
    taken, problems = inbox.take(path)
    assert problems == [] and len(taken) == 1
    assert (taken[0].action, taken[0].channel, taken[0].by) == ("stop", "a", "boss")
    [command] = boss.get(f"/api/v1/runs/{uid}").json()["commands"]
    assert command["delivered"] is not None and command["done"] is None
    shipper.heartbeat()
    assert inbox.take(path) == ([], [])  # handed over once only
    whole = boss.post(stop, json={}, headers={"X-AgeLab-CSRF": "1"})  # the whole run
    assert whole.status_code == 202 and whole.json()["channel"] is None
    shipper.heartbeat()
    [taken] = inbox.take(path)[0]
    assert taken.channel is None and taken.id == f"central-{whole.json()['command']}"
    # The engine's operator event, shipped back, marks the command carried out.
    events = [[900, None, "operator", None, time.time(),
               json.dumps({"action": "abort", "by": "boss", "command": taken.id})]]
    client.rows(uid, "events", events)
    done = boss.get(f"/api/v1/runs/{uid}").json()["commands"]
    assert [c["done"] is not None for c in done] == [False, True]
    client.close()


def test_a_run_downloads_as_its_report_and_its_exports(central, tmp_path):
    url, _, tokens = central
    path = tmp_path / "run.sqlite"
    uid = make_run(path, samples=200)
    ship_all(url, tokens["st1"], path)
    viewer = login(url, tokens["viewer"])
    report = viewer.get(f"/api/v1/runs/{uid}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert b"central-test" in report.content and b"<img" in report.content
    packed = viewer.get(f"/api/v1/runs/{uid}/export", params={"format": "csv"})
    export_csv(path, tmp_path / "station")
    with zipfile.ZipFile(io.BytesIO(packed.content)) as z:
        names = sorted(z.namelist())
        assert names == sorted(str(p.relative_to(tmp_path / "station"))
                               for p in (tmp_path / "station").rglob("*") if p.is_file())
        assert all(z.read(n) == (tmp_path / "station" / n).read_bytes() for n in names)
    h5 = viewer.get(f"/api/v1/runs/{uid}/export", params={"format": "hdf5"})
    assert h5.status_code == 200 and h5.content[:8] == b"\x89HDF\r\n\x1a\n"
    assert viewer.get(f"/api/v1/runs/{uid}/export", params={"format": "xls"}).status_code == 422


def test_a_bad_central_config_is_one_clear_line(tmp_path):
    bad = tmp_path / "central.yaml"
    bad.write_text("alerts:\n  fault_burst: {count: 0}\n")
    with pytest.raises(SettingsError, match=r"alerts\.fault_burst\.count"):
        load_settings(bad)
    bad.write_text("alerts:\n  notify: ['nonsense-scheme-only']\n")
    result = agelab("central", "serve", "--config", str(bad), "--db", "postgresql://x/y")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "apprise does not know the URL 'nonsense-scheme-only'" in result.stderr


def test_the_inbox_rejects_what_is_not_a_command(tmp_path):
    run = tmp_path / "run.sqlite"
    inbox.post(run, inbox.Command(id="1", action="stop", channel=None, by="me"))
    (inbox.inbox_of(run) / "junk.json").write_text("{not json")
    with pytest.raises(ValueError, match="unknown command"):
        inbox.post(run, inbox.Command(id="2", action="format-disk", channel=None, by="me"))
    taken, problems = inbox.take(run)
    assert [c.id for c in taken] == ["1"] and len(problems) == 1 and "junk" in problems[0]
    assert (inbox.inbox_of(run) / "junk.rejected").exists()


def test_the_fleet_call_holds_stations_tiles_sparklines_and_faults(central, tmp_path):
    url, _, tokens = central
    make_run(tmp_path / "a.sqlite", samples=600, status="running")
    ship_all(url, tokens["st1"], tmp_path / "a.sqlite")
    viewer = login(url, tokens["viewer"])
    fleet = viewer.get("/api/v1/fleet").json()
    [station] = fleet["stations"]
    assert station["name"] == "st1" and station["silent_s"] < 30
    [run] = station["runs"]
    tiles = {t["name"]: t for t in run["channels"]}
    assert tiles["a"]["status"] == "running" and tiles["a"]["t_h"] == pytest.approx(49.9)
    assert tiles["a"]["batch"] == "B1" and tiles["b"]["batch"] == "B2"
    packed = np.frombuffer(base64.b64decode(tiles["a"]["spark"]), dtype="<f4")
    spark = packed.reshape(2, -1).T  # every t_h, then every L
    # 600 samples from 0 to 10 h: ten buckets a decade from 1 min, time ascending
    assert 25 <= len(spark) <= 32 and all(a[0] < b[0] for a, b in itertools.pairwise(spark))
    assert fleet["feed"] and fleet["you"]["role"] == "viewer"


def read_events(url: str, headers: dict, out: queue.Queue, stop: threading.Event,
                last_id: str | None = None) -> None:
    """Server-Sent Events from the stream into ``out`` as (id, event, data)."""
    if last_id:
        headers = {**headers, "Last-Event-ID": last_id}
    with contextlib.suppress(httpx.HTTPError), httpx.stream(
            "GET", url + "/api/v1/stream", headers=headers, timeout=30) as reply:
        fields: dict[str, str] = {}
        for line in reply.iter_lines():
            if stop.is_set():
                return
            if not line:
                if "data" in fields:
                    out.put((fields.get("id"), fields.get("event", "message"),
                             json.loads(fields["data"])))
                fields = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                fields[key] = value


def next_run_message(out: queue.Queue, timeout_s: float = 10) -> tuple:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            item = out.get(timeout=0.5)
        except queue.Empty:
            continue
        if item[2].get("type") == "run":
            return item
    raise AssertionError("no run message from the feed")


def test_the_feed_streams_changes_and_resumes_after_a_dropped_connection(central, tmp_path):
    url, _, tokens = central
    bearer = {"Authorization": f"Bearer {read_token(tokens['viewer'])}"}
    out: queue.Queue = queue.Queue()
    stop = threading.Event()
    threading.Thread(target=read_events, args=(url, bearer, out, stop), daemon=True).start()
    time.sleep(0.5)
    make_run(tmp_path / "a.sqlite", samples=20, status="running")
    ship_all(url, tokens["st1"], tmp_path / "a.sqlite")
    first_id, _, message = next_run_message(out)
    assert {t["name"] for t in message["channels"]} == {"a", "b"}
    stop.set()
    # Dropped; meanwhile another run arrives. Resuming from the last id seen delivers it.
    make_run(tmp_path / "b.sqlite", samples=20, status="running")
    ship_all(url, tokens["st1"], tmp_path / "b.sqlite")
    time.sleep(1.0)
    resumed: queue.Queue = queue.Queue()
    stop2 = threading.Event()
    threading.Thread(target=read_events, args=(url, bearer, resumed, stop2, first_id),
                     daemon=True).start()
    resumed_id, _, m = next_run_message(resumed)
    stop2.set()
    assert m["uid"] != message["uid"]  # the run shipped while disconnected, nothing before
    assert int(resumed_id.split("-")[1]) > int(first_id.split("-")[1])
    stale: queue.Queue = queue.Queue()  # an id from another Central's life: fetch again
    stop3 = threading.Event()
    threading.Thread(target=read_events, args=(url, bearer, stale, stop3, "deadbeef-3"),
                     daemon=True).start()
    _, kind, _ = stale.get(timeout=10)
    stop3.set()
    assert kind == "resync"


class Webhook:
    """A webhook receiver on loopback: every POST's JSON body, in order."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                hook.received.append(json.loads(body or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def titles(self) -> list[str]:
        return [m.get("title", "") for m in self.received]


def test_alerts_fire_once_per_condition_through_apprise(postgres_url, tmp_path):
    hook = Webhook()
    rules = AlertRules(notify=[hook.url], check_every=0.2, silent_station=SilentRule(after=1.0),
                       fault_burst=BurstRule(count=3, within=60), milestones=["T90"],
                       cooldown=3600)
    db = Database(postgres_url)
    token = add_token(db, "st1", "station", tmp_path)
    with central_in_thread(db, CentralSettings(alerts=rules)) as url:
        client = CentralClient(url, read_token(token))
        path = tmp_path / "run.sqlite"
        uid = make_run(path, samples=10, status="running")
        shipper = Shipper(client, [path], log=lambda _: None)
        assert shipper.pass_once()
        time.sleep(1.0)  # the run is seen running; its old events are history
        now = time.time()
        events = [[1000 + k, 1, "fault", 1.0, now, json.dumps({"fault": "timeout"})]
                  for k in range(4)]
        events.append([1010, 1, "runaway", 1.1, now, json.dumps(
            {"reason": "voltage runaway: 9.1 V > 9 V"})])
        events.append([1011, 2, "milestone", 1.2, now, json.dumps({"name": "T90"})])
        client.rows(uid, "events", events)
        for _ in range(3):  # a run's heartbeat keeps it reachable; then it goes silent
            client.heartbeat({"interval_s": 0.5})
            time.sleep(0.3)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(hook.received) < 4:
            time.sleep(0.2)
        client.snapshot(uid, {"status": json.dumps("finished"), "study": json.dumps("x")}, [])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(hook.received) < 5:
            time.sleep(0.2)
        time.sleep(1.5)  # and nothing fires twice
        with db.pool.connection() as pg:
            recorded = pg.execute("SELECT rule, delivered FROM alerts ORDER BY id").fetchall()
        client.close()
    db.close()
    hook.server.shutdown()
    rules_fired = sorted(r for r, _ in recorded)
    assert rules_fired == ["channel_stopped", "fault_burst", "milestone", "run_ended",
                           "silent_station"], (rules_fired, hook.titles())
    assert all(delivered for _, delivered in recorded)
    assert len(hook.received) == 5
    titles = " | ".join(hook.titles())
    assert "a on st1 stopped" in titles and "silent" in titles and "finished" in titles
    assert "b on st1 reached T90" in titles


def test_the_engine_carries_out_an_inbox_stop_through_its_abort_and_ignores_junk(tmp_path):
    chs = [channel("a", 1, "blue-znsete", 50, stop={"max_time": "200 h"}),
           channel("b", 2, "blue-znsete", 50, stop={"max_time": "200 h"})]
    path = tmp_path / "run.sqlite"
    engine, thread, result = run_in_thread(study(chs, ["blue-znsete"] * 2, speedup=3000), path)
    deadline = time.monotonic() + 30
    while engine.runners["a"].status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    (inbox.inbox_of(path)).mkdir(exist_ok=True)
    (inbox.inbox_of(path) / "junk.json").write_text('{"action": "stop"}')  # no id, no by
    inbox.post(path, inbox.Command(id="central-7", action="stop", channel="a", by="boss"))
    inbox.post(path, inbox.Command(id="central-8", action="stop", channel="zz", by="boss"))
    deadline = time.monotonic() + 30
    while engine.runners["a"].status == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.runners["a"].status == "aborted"
    assert engine.runners["b"].status == "running"  # the other channel goes on
    site = engine.virtual_bench.rig.sites[0]
    assert site.present_j() == 0.0  # ramped down and off
    engine.abort()
    thread.join(60)
    assert "error" not in result, result
    with RunFile(path) as run:
        [stop] = [e for e in run.events("a", "operator") if e["detail"].get("by") == "boss"]
        rejected = [e["detail"] for e in run.events(None, "command-rejected")]
    assert stop["detail"] == {"action": "abort", "by": "boss", "via": "central",
                              "command": "central-7"}
    assert len(rejected) == 2 and any("junk" in r["detail"] for r in rejected)
    assert any("zz" in r["detail"] for r in rejected)
