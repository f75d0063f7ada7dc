"""AgeLab Central on a private PostgreSQL, each figure against a baseline measured in the same run.

- ingest: rows a second Central stores through its batched, idempotent path (COPY, then INSERT
  ... ON CONFLICT DO NOTHING, with the per-minute rollup), against one INSERT (and commit) per
  row; the same batch sent again (all duplicates). Goal: 10x the 1,536 samples/s of 16 stations
  x 96 channels at 1 s.
- station: a 16-channel `agelab run` at 1-s sampling in real time, shipping to Central (the
  shipper's CPU; the engine's sampling jitter p99 against the same run without shipping; the
  lag from a sample's wall time to its row's commit at Central, p95). Goals: <= 2 % of a core,
  jitter within 10 %, lag p95 <= 2 s.
- catch-up: a 96-channel station's 24-hour backlog at 1 s (8.3 M samples) shipped to Central
  while its run goes on, against reading the same rows out of the run file alone. Goal: 2
  minutes.
- queries: the comparison over 2,000 runs x 96 channels against fetching the same summary rows
  raw; one channel's 1000-hour curve at 1 s (3.6 M samples) as <= 2,000 min/max points,
  against reading its raw rows. Goals: 100 ms and 50 ms.

    python benchmarks/central_figures.py [--seconds 60] [--catchup-rows 8294400]
        [--jitter-pairs 1] [--only ingest|queries|catchup|station ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from central_helpers import add_token, free_port, wait_for_port  # noqa: E402
from scale_figures import scale_config  # noqa: E402

from agelab.instruments.sim.bench import VirtualBench  # noqa: E402
from agelab.protocols.central.database import Database  # noqa: E402
from agelab.protocols.central.postgres import EmbeddedPostgres  # noqa: E402
from agelab.protocols.reliability.soak import run_engine  # noqa: E402
from agelab.protocols.ship.client import CentralClient, read_token  # noqa: E402
from agelab.protocols.ship.priority import yield_to_acquisition  # noqa: E402
from agelab.protocols.ship.shipper import Shipper  # noqa: E402
from agelab.protocols.store import RunFile, RunWriter  # noqa: E402

Row = tuple[str, str, str, str]


def fresh_database(server: EmbeddedPostgres, name: str) -> str:
    admin = server.url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        db.execute(f"CREATE DATABASE {name}")
    return server.url.rsplit("/", 1)[0] + f"/{name}"


def _run(db: Database, uid: str) -> int:
    return db.register_run(uid, "bench", {"study": '"bench"'})


def ingest_rows(server: EmbeddedPostgres) -> list[Row]:
    db = Database(fresh_database(server, "bench_ingest"))
    run_id = _run(db, "00000000-0000-4000-8000-000000000001")
    n = 200_000
    rows = [(k + 1, k % 96 + 1, (k // 96) / 3600, 1.7e9 + k / 96, 20.0, 3.1, 1000.0 - k * 1e-4,
             1e-5) for k in range(n)]
    start = time.perf_counter()
    for i in range(0, n, 20_000):
        db.insert_rows(run_id, "samples", rows[i:i + 20_000])
    ours = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(0, n, 20_000):
        db.insert_rows(run_id, "samples", rows[i:i + 20_000])
    again = n / (time.perf_counter() - start)
    baseline_n = 5_000
    run2 = _run(db, "00000000-0000-4000-8000-000000000002")
    with psycopg.connect(db.url, autocommit=True) as pg:
        start = time.perf_counter()
        for row in rows[:baseline_n]:
            pg.execute("INSERT INTO samples (run_id, seq, channel, t_h, wall, j_ma_cm2, v_v, "
                       "l_cd_m2, i_pd_a) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)", (run2, *row))
        theirs = baseline_n / (time.perf_counter() - start)
    db.close()
    need = 16 * 96
    return [("central ingest: samples stored per second", f"{ours:,.0f} /s "
             f"({ours / need:.0f}x the 1,536 /s of 16 x 96 channels; goal 10x)",
             f"{theirs:,.0f} /s (one INSERT per row)", f"{ours / theirs:.1f}x"),
            ("central ingest: the same batch sent again", f"{again:,.0f} /s, 0 rows added",
             f"{ours:,.0f} /s (first time)", f"{again / ours:.2f}x")]


def tick_lateness(run_path: Path) -> tuple[np.ndarray, list[float]]:
    """Each stress tick's sample lateness (s) as a row, one column a channel (NaN where a
    channel has none), and every sample's wall time."""
    by_tick: dict[int, list[float]] = {}
    walls: list[float] = []
    with RunFile(run_path) as f:
        channels = f.channels()
        for ch in channels:
            data = f.samples(ch.name, ("t_h", "wall"))
            t_s = data[1:, 0] * 3600.0  # the first sample is taken as the stress comes on
            for tick, late in zip(np.round(t_s).astype(int), t_s - np.round(t_s), strict=True):
                by_tick.setdefault(int(tick), []).append(float(late))
            walls.extend(data[:, 1])
    rows = np.full((len(by_tick), len(channels)), np.nan)
    for i, lates in enumerate(by_tick.values()):
        rows[i, :len(lates)] = lates
    return rows, walls


def p99_ms(ticks: np.ndarray) -> float:
    return float(np.nanpercentile(np.abs(ticks), 99) * 1e3)


def ratio_interval(ship: np.ndarray, plain: np.ndarray, draws: int = 2000) -> tuple[float, float]:
    """A 90 % bootstrap interval of p99(ship) / p99(plain), resampling whole ticks: the
    channels of one tick share its host delays, so a tick is the unit of chance."""
    rng = np.random.default_rng(7)
    ratios = [p99_ms(ship[rng.integers(0, len(ship), len(ship))])
              / p99_ms(plain[rng.integers(0, len(plain), len(plain))]) for _ in range(draws)]
    return float(np.percentile(ratios, 5)), float(np.percentile(ratios, 95))


def station_rows(server: EmbeddedPostgres, seconds: float, pairs: int = 1) -> list[Row]:
    """Runs with and without shipping, alternated (plain, ship, ship, plain, ...) so that a
    drift of the machine falls on both; the jitter p99 is taken over each condition's pooled
    ticks."""
    db = Database(fresh_database(server, "bench_station"))
    ticks: dict[bool, list[np.ndarray]] = {False: [], True: []}
    cpus: dict[bool, list[float]] = {False: [], True: []}
    lags: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        token = add_token(db, "bench-station", "station", Path(tmp))
        # Central in its own process, as on its own machine: in this one it would share the
        # interpreter (and its lock) with the virtual bench, and slow the instruments' replies.
        # On a lab's network Central and its PostgreSQL run on another computer; on this one
        # they run in the idle scheduling class, so the figure is the station's own cost: the
        # shipper, which `agelab run` puts in that class itself.
        yield_cpu(server)
        with serving(db.url, idle=True) as url:
            order = [False, True, True, False] * ((pairs + 1) // 2)
            for i, shipping in enumerate(order[:2 * pairs]):
                central = ("--central", url, "--token-file", str(token)) if shipping else ()
                cpu, rows = station_run(seconds, Path(tmp) / f"run{i}", f"station{i}", central)
                ticks[shipping].append(rows)
                cpus[shipping].append(cpu)
        with psycopg.connect(db.url) as pg:
            lags = [r[0] for r in pg.execute(
                "SELECT extract(epoch FROM received) - wall FROM samples")]
        db.close()
    plain, ship = np.vstack(ticks[False]), np.vstack(ticks[True])
    jit_plain, jit_ship = p99_ms(plain), p99_ms(ship)
    low, high = ratio_interval(ship, plain)
    each = ", ".join(f"{p99_ms(s) / p99_ms(p):.2f}"
                     for p, s in zip(ticks[False], ticks[True], strict=True))
    cpu, cpu_engine = float(np.mean(cpus[True])), float(np.mean(cpus[False]))
    return [("central: shipper CPU beside a 16-channel run at 1 s", f"{cpu:.2%} of a core "
             "(goal <= 2 %)", f"engine alone: {cpu_engine:.1%}", f"{cpu / cpu_engine:.2f}x"),
            ("central: engine sampling jitter p99 while shipping",
             f"{jit_ship:.1f} ms ({len(ship)} ticks in {pairs} pair(s) of {seconds:.0f}-s runs; "
             f"90 % interval of the ratio {low:.2f}-{high:.2f}; pairs {each})",
             f"{jit_plain:.1f} ms without shipping (goal within 10 %)",
             f"{jit_ship / jit_plain:.2f}x"),
            ("central: lag, sample taken to stored at Central, p95",
             f"{np.percentile(lags, 95):.2f} s ({len(lags)} samples; goal <= 2 s)",
             "0.25 s, the run file's own commit interval",
             f"{np.percentile(lags, 95) / 0.25:.1f}x")]


def station_run(seconds: float, out: Path, name: str,
                central: tuple[str, ...]) -> tuple[float, np.ndarray]:
    """A 16-channel run at 1 s, shipping when ``central`` gives the `agelab run` options for
    it: (the shipper's CPU fraction of a core over the stress, or the engine's when not
    shipping; the ticks' lateness)."""
    shipper_cpu: list[tuple[float, float]] = []  # (wall, CPU seconds) of the shipper
    done = threading.Event()

    def watch_shippers() -> None:
        while not done.is_set():
            for proc in psutil.process_iter(["cmdline"]):
                if "agelab.protocols.ship" in (proc.info["cmdline"] or []):
                    try:
                        t = proc.cpu_times()
                        shipper_cpu.append((time.time(), t.user + t.system))
                    except psutil.Error:
                        pass
            time.sleep(0.5)

    watcher = threading.Thread(target=watch_shippers, daemon=True)
    watcher.start()
    try:
        with VirtualBench("blue-znsete", pixels=16, speedup=1.0, seed=1) as bench:
            run = run_engine(scale_config(bench.resources, 16, seconds), out, name, central)
    finally:
        done.set()
        watcher.join()
    if run.run_path is None:
        raise RuntimeError(f"the 16-channel run wrote no file:\n{run.log[-500:]}")
    rows, walls = tick_lateness(run.run_path)
    # Over the stress, as the engine's own CPU is counted (the process's start-up left out).
    counted = shipper_cpu if central else run.cpu
    inside = [(t, c) for t, c in counted if min(walls) <= t <= max(walls)]
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]), rows


def yield_cpu(server: EmbeddedPostgres) -> None:
    """The private PostgreSQL's processes in Linux's idle scheduling class, as if on another
    computer (the backends it starts later inherit it); elsewhere at niceness 19."""
    pid = int((server.cluster / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    for proc in (postmaster, *postmaster.children(recursive=True)):
        with contextlib.suppress(psutil.Error, OSError, AttributeError):
            if hasattr(os, "SCHED_IDLE"):
                os.sched_setscheduler(proc.pid, os.SCHED_IDLE, os.sched_param(0))
            else:
                proc.nice(19)


@contextlib.contextmanager
def serving(db_url: str, idle: bool = False) -> Iterator[str]:
    """`agelab central serve` on ``db_url`` in its own process (in the idle scheduling class
    when ``idle``); yields its URL."""
    port = free_port()
    central = subprocess.Popen([sys.executable, "-m", "agelab.protocols.cli", "central",
                                "serve", "--db", db_url, "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=yield_to_acquisition if idle else None)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        central.terminate()
        central.wait(30)


def backlog_file(path: Path, rows: int, channels: int = 96) -> None:
    writer = RunWriter.new_run(path, study="backlog", config_yaml="", config={}, speedup=1.0)
    for c in range(channels):
        writer.add_channel(f"ch{c:02d}", c + 1, 0.04, 20.0)
    writer.set_meta(status="running")  # the station runs on: rows to catch up, no file yet
    writer.close()
    db = sqlite3.connect(path)
    per = rows // channels
    t = np.arange(per) / 3600.0
    with db:
        for c in range(channels):
            db.executemany("INSERT INTO samples (channel, t_h, wall, j_ma_cm2, v_v, l_cd_m2, "
                           "i_pd_a) VALUES (?, ?, ?, 20.0, 3.1, ?, 1e-5)",
                           zip([c + 1] * per, t.tolist(), (1.7e9 + t * 3600).tolist(),
                               (1000.0 * np.exp(-t / 500)).tolist(), strict=True))
    db.close()


def catchup_rows(server: EmbeddedPostgres, rows: int) -> list[Row]:
    url = fresh_database(server, "bench_catchup")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "backlog.sqlite"
        backlog_file(path, rows)
        start = time.perf_counter()
        with RunFile(path) as run:
            mark, read = 0, 0
            while batch := run.rows_after("samples", mark, 20_000):
                mark, read = batch[-1][0], read + len(batch)
        read_s = time.perf_counter() - start
        db = Database(url)
        token = add_token(db, "bench-station", "station", Path(tmp))
        db.close()
        with serving(url) as central:
            client = CentralClient(central, read_token(token), 120)
            shipper = Shipper(client, [path], log=lambda _: None)
            start = time.perf_counter()
            while not (shipper.pass_once() and shipper.drained()):
                pass
            ship_s = time.perf_counter() - start
            client.close()
    return [(f"central catch-up: {read:,} samples (96 channels, 24 h at 1 s)",
             f"{ship_s:.0f} s (goal 120 s)", f"{read_s:.0f} s reading the run file alone",
             f"{ship_s / read_s:.1f}x")]


def query_rows(server: EmbeddedPostgres) -> list[Row]:
    db = Database(fresh_database(server, "bench_query"))
    with psycopg.connect(db.url, autocommit=True) as pg:
        pg.execute("INSERT INTO runs (uid, station, study, status) SELECT gen_random_uuid(), "
                   "'st' || (k % 16), 'bench', 'finished' FROM generate_series(1, 2000) k")
        t_values = json.dumps({"T50": {"t_h": 100.0, "reached": True},
                               "T90": {"t_h": 10.0, "reached": True}})
        pg.execute("INSERT INTO summaries (run_id, channel, device, j_ma_cm2, l0, t_end_h, "
                   "status, batch, t_values, t50_h, t50_done, t90_h, t90_done) SELECT r.id, "
                   "'ch' || c, 'blue-znsete', 10 * (1 + c %% 6), 1000 + c, 500, 'finished', "
                   "'B' || (r.id %% 20), %s, 100.0 + random(), c %% 7 > 0, 10.0, true "
                   "FROM runs r, generate_series(1, 96) c", (t_values,))
        pg.execute("ANALYZE")
        start = time.perf_counter()
        for _ in range(5):
            groups = db.compare("batch", "T50", device="blue-znsete")
        compare_s = (time.perf_counter() - start) / 5
        start = time.perf_counter()
        for _ in range(5):
            raw = pg.execute("SELECT * FROM summaries").fetchall()
        raw_s = (time.perf_counter() - start) / 5
        run_id = pg.execute("INSERT INTO runs (uid, station) VALUES (gen_random_uuid(), 'c') "
                            "RETURNING id").fetchone()[0]
        pg.execute("INSERT INTO channels (run_id, id, name) VALUES (%s, 1, 'long')", (run_id,))
        pg.execute("INSERT INTO samples (run_id, seq, channel, t_h, wall, j_ma_cm2, v_v, "
                   "l_cd_m2) SELECT %s, k, 1, k / 3600.0, k, 20, 3 + k * 1e-7, "
                   "1000 * exp(-k / 3.6e6) FROM generate_series(1, 3600000) k", (run_id,))
        pg.execute("INSERT INTO sample_minutes SELECT run_id, channel, floor(t_h * 60)::bigint, "
                   "min(t_h), max(t_h), count(*), min(l_cd_m2), max(l_cd_m2), min(v_v), "
                   "max(v_v) FROM samples WHERE run_id = %s GROUP BY 1, 2, 3", (run_id,))
        pg.execute("ANALYZE")
        db.curve(run_id, "long", 2000)
        start = time.perf_counter()
        for _ in range(5):
            curve = db.curve(run_id, "long", 2000)
        curve_s = (time.perf_counter() - start) / 5
        start = time.perf_counter()
        rows = pg.execute("SELECT t_h, l_cd_m2, v_v FROM samples WHERE run_id = %s AND "
                          "channel = 1 ORDER BY t_h", (run_id,)).fetchall()
        full_s = time.perf_counter() - start
    db.close()
    return [(f"central compare: 2,000 runs x 96 channels ({len(groups)} groups)",
             f"{compare_s * 1e3:.0f} ms (goal 100 ms)",
             f"{raw_s * 1e3:.0f} ms fetching the {len(raw):,} rows raw",
             f"{compare_s / raw_s:.2f}x"),
            ("central curve: a 1000-h channel at 1 s, for a plot",
             f"{curve_s * 1e3:.1f} ms, {len(curve['t_h'])} points (goal 50 ms)",
             f"{full_s * 1e3:.0f} ms for its {len(rows):,} raw rows",
             f"{full_s / curve_s:.0f}x faster")]


PARTS = ("ingest", "queries", "catchup", "station")


def central_rows(seconds: float = 60.0, catchup: int = 8_294_400, pairs: int = 1,
                 parts: tuple[str, ...] = PARTS) -> list[Row]:
    folder = Path(tempfile.mkdtemp(prefix="agelab-bench-pg-"))
    folder.chmod(0o755)
    server = EmbeddedPostgres(folder / "central")
    server.start()
    made = {"ingest": lambda: ingest_rows(server), "queries": lambda: query_rows(server),
            "catchup": lambda: catchup_rows(server, catchup),
            "station": lambda: station_rows(server, seconds, pairs)}
    try:
        return [row for part in parts for row in made[part]()]
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--catchup-rows", type=int, default=8_294_400)
    parser.add_argument("--jitter-pairs", type=int, default=1,
                        help="runs with and without shipping, alternated, for the jitter")
    parser.add_argument("--only", choices=PARTS, action="append",
                        help="measure only this part (repeatable)")
    args = parser.parse_args()
    table = Table(title="AgeLab Central")
    for col in ("figure", "AgeLab", "baseline", "ratio"):
        table.add_column(col)
    for row in central_rows(args.seconds, args.catchup_rows, args.jitter_pairs,
                            tuple(args.only or PARTS)):
        table.add_row(*row)
    Console().print(table)
