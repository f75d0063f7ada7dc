"""Two stations, one Central, and everything that goes wrong between them.

Two `agelab run ... --central` processes (each its own virtual bench, twelve blue pixels whose
lifetimes scatter as a batch's do) ship to one `agelab central serve` on a real PostgreSQL,
through a link the test can cut. While they run: the link is cut for longer than a batch, one
station's shipper is killed with -9 (its run starts it again), and Central is stopped and
started again. Afterwards every run exported from Central equals the station's own export, row
for row; the two runs compare by batch; and the pooled fit over both, with the channels that
stopped before T90 counted as censored, holds the virtual device's n = 1.8.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest
import yaml
from central_helpers import CuttableLink, agelab, free_port, wait_for_port
from test_central import exported_equal

from agelab.protocols.analysis.censored import CensoredFit
from agelab.protocols.analysis.study import analyse
from agelab.protocols.store import RunFile
from agelab.protocols.store.export import export_csv

CURRENTS = (10, 14, 20, 28, 40, 56)  # mA/cm²: T90s from ~1.8 h to ~40 h (median)
MAX_TIME_H = 15.0                    # so the low currents stop first, censored
# A batch's scatter, σ = 0.5 in ln T, laid out evenly: at each current the four pixels (two a
# station) sit at the normal quartile midpoints, so the draw itself puts no slope in the data
# and the test sees the estimator alone. Station 1 gets the 1st and 3rd, station 2 the others.
SPREAD = 0.5
QUANTILES = {11: (-1.150, 0.319), 12: (-0.319, 1.150)}


def lifetime_factors(seed: int) -> list[float]:
    return [math.exp(SPREAD * QUANTILES[seed][k // len(CURRENTS)]) for k in range(12)]


def station_config(seed: int) -> dict:
    channels = []
    for k in range(12):
        j = CURRENTS[k % len(CURRENTS)]
        channels.append({"name": f"J{j}-{k // len(CURRENTS)}", "pixel": k + 1,
                         "stress": {"current_density": f"{j} mA/cm^2"},
                         "sample": {"batch": "A" if k < 6 else "B", "device": f"S{seed}-{k}"}})
    return {
        "study": f"fleet-{seed}",
        "station": {"virtual": {"pixels": 12, "preset": "blue-znsete", "speedup": 2000,
                                "seed": seed, "lifetime_factors": lifetime_factors(seed),
                                "timeout_ms": 3000}},
        "safety": {"max_current_density": "250 mA/cm^2", "max_voltage": "10 V"},
        "defaults": {"area": "4 mm^2", "cd_m2_per_A": 8.54e7, "sampling": "1 min",
                     "log_sampling": {"first": "5 s", "per_decade": 100}, "light_average": 5,
                     "settle": "1 min", "stress": {"compliance": "8 V", "ramp_dwell": "1 ms"},
                     "checkpoints": {"at_start": False},
                     "stop": {"at": "T90", "max_time": f"{MAX_TIME_H} h"},
                     "sample": {"recipe": "ZnMgO-0.15", "tags": {"lab": "fleet-test"}}},
        "channels": channels,
    }


def start_central(url: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "agelab.protocols.cli", "central", "serve",
                             "--db", url, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for_port(port)
    return proc


def shippers_of(run: subprocess.Popen) -> list[psutil.Process]:
    """The shipper processes a station's run started (in their own sessions, still its
    children)."""
    found = []
    try:
        for child in psutil.Process(run.pid).children():
            with contextlib.suppress(psutil.Error):  # a killed one, not yet reaped
                if "agelab.protocols.ship" in child.cmdline():
                    found.append(child)
    except psutil.Error:
        pass
    return found


@pytest.mark.timeout(420)
def test_two_stations_ship_through_cuts_kills_and_restarts_and_lose_nothing(postgres_url,
                                                                             tmp_path):
    for name, role in (("st1", "station"), ("st2", "station"), ("viewer", "viewer")):
        made = agelab("central", "token", "add", name, "--role", role, "--db", postgres_url)
        assert made.returncode == 0, made.stderr
        (tmp_path / f"{name}.token").write_text(made.stdout)
    port = free_port()
    central = start_central(postgres_url, port)
    link = CuttableLink(port)
    url = f"http://127.0.0.1:{link.port}"
    runs = {}
    for name, seed in (("st1", 11), ("st2", 12)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(station_config(seed)))
        runs[name] = subprocess.Popen(
            [sys.executable, "-m", "agelab.protocols.cli", "run", str(tmp_path / f"{name}.yaml"),
             "--out", str(tmp_path / name), "--central", url, "--token-file",
             str(tmp_path / f"{name}.token")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not all(list((tmp_path / n).glob("*.sqlite")) for n in runs):
            assert time.monotonic() < deadline, "the runs did not start"
            time.sleep(0.2)
        time.sleep(3)
        link.sever()            # the network is down for 5 s: ten of the shipper's exchanges
        time.sleep(5)
        link.restore()
        time.sleep(2)
        (victim,) = shippers_of(runs["st1"])
        if hasattr(os, "SCHED_IDLE"):  # beside the engine, the shipper takes CPU and disk last
            assert os.sched_getscheduler(victim.pid) == os.SCHED_IDLE
            assert victim.ionice().ioclass == psutil.IOPRIO_CLASS_IDLE
        victim.send_signal(signal.SIGKILL)  # kill -9
        deadline = time.monotonic() + 10
        while not [s for s in shippers_of(runs["st1"]) if s.pid != victim.pid]:
            assert time.monotonic() < deadline, "the run did not start its shipper again"
            time.sleep(0.1)
        time.sleep(2)
        central.send_signal(signal.SIGTERM)  # Central stopped mid-run...
        central.wait(30)
        time.sleep(3)
        central = start_central(postgres_url, port)  # ...and started again
        outputs = {name: run.communicate(timeout=300)[0] for name, run in runs.items()}
    finally:
        for run in runs.values():
            if run.poll() is None:
                run.kill()
        link.close()
    try:
        for out in outputs.values():
            assert "every row and the run file are at Central" in out, out[-3000:]
        viewer = tmp_path / "viewer.token"
        direct = f"http://127.0.0.1:{port}"
        listed = json.loads(agelab("central", "compare", "--by", "batch", "--level", "T90",
                                   "--central", direct, "--token-file", str(viewer),
                                   "--json").stdout)
        assert {g["batch"] for g in listed} == {"A", "B"}
        assert sum(g["channels"] for g in listed) == 24

        for name in runs:
            (path,) = (tmp_path / name).glob("*.sqlite")
            with RunFile(path) as run:
                uid = run.uid
            exported = agelab("central", "export", uid, "--csv", str(tmp_path / f"{name}-c"),
                              "--central", direct, "--token-file", str(viewer))
            assert exported.returncode == 0, exported.stderr
            export_csv(path, tmp_path / f"{name}-s")
            assert exported_equal(tmp_path / f"{name}-c", tmp_path / f"{name}-s"), name

        (st1_path,) = (tmp_path / "st1").glob("*.sqlite")
        with RunFile(st1_path) as run:
            st1_uid = run.uid
            single = analyse(run).fits["T90"]
        auth = {n: {"Authorization": "Bearer " + (tmp_path / f"{n}.token").read_text().strip()}
                for n in ("st1", "st2", "viewer")}
        api = f"{direct}/api/v1"
        assert httpx.post(f"{api}/runs/{st1_uid}/hello", json={"meta": {}},
                          headers=auth["st2"]).status_code == 403
        assert httpx.post(f"{api}/runs/{st1_uid}/rows/events", json={"rows": []},
                          headers=auth["viewer"]).status_code == 403

        pooled = httpx.get(f"{api}/fit", params={"level": "T90"}, headers=auth["viewer"]).json()
        dropped = httpx.get(f"{api}/fit", params={"level": "T90", "censored": "false"},
                            headers=auth["viewer"]).json()
        assert pooled["channels"] == 24 and pooled["censored"] >= 2, pooled
        assert pooled["n_ci"][0] <= 1.8 <= pooled["n_ci"][1], (pooled["n_ci"], dropped["n_ci"])
        # Leaving the long-lived out flattens the line (at 24 channels its interval is still
        # wide; tests/test_censored_fit.py shows it missing n at a lab's scale).
        assert dropped["n"] < pooled["n"] - 0.1
        print(f"pooled n = {pooled['n']:.3f} {pooled['n_ci']} with {pooled['censored']} "
              f"censored; dropped: n = {dropped['n']:.3f} {dropped['n_ci']}")
        # The single-run report counts its censored channels the same way.
        assert isinstance(single, CensoredFit) and single.censored >= 1
        stations = httpx.get(f"{api}/stations", headers=auth["viewer"]).json()
        assert {s["name"] for s in stations} == {"st1", "st2"}
        assert all(s["shipper"].get("sent_rows", 0) > 0 for s in stations)
    finally:
        central.send_signal(signal.SIGTERM)
        central.wait(30)
