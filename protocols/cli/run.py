"""``agelab run CONFIG``, ``agelab resume RUN`` and ``agelab status RUN``.

``run`` validates the config (nothing is touched if it is wrong or unsafe), starts the virtual
bench as its own process when the station is virtual, and shows live progress per channel. Ctrl-C
(or SIGTERM) stops safely: every output is ramped down and off, the file is closed, and the path to
resume from is printed.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from agelab.protocols.cli.report import describe
from agelab.protocols.cli.ship import add_central_arguments
from agelab.protocols.config import load_config
from agelab.protocols.engine.engine import Engine, Terminated
from agelab.protocols.report.writer import write_report
from agelab.protocols.ship.client import read_token
from agelab.protocols.store import RunFile, engine_is_writing

SHIPPER_WAIT_S = 60.0  # how long `agelab run` waits for the last rows to reach Central


def add_run_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a study: stress, sample, checkpoints, milestones")
    p.add_argument("config", type=Path)
    p.add_argument("--out", type=Path, default=Path("runs"), help="folder for the run file")
    p.add_argument("--in-process-bench", action="store_true",
                   help="run the virtual bench inside this process (no resume after a crash)")
    add_central_arguments(p, required=False)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="continue a run that was interrupted or killed")
    p.add_argument("run", type=Path)
    add_central_arguments(p, required=False)
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("status", help="what a run file holds, and whether it is still running")
    p.add_argument("run", type=Path)
    p.set_defaults(func=cmd_status)


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config)  # a bad or unsafe config stops here, before any instrument
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = args.out / f"{config.study}-{stamp}.sqlite"
    shipper = start_shipper(args, path)
    engine = Engine(config, path, config_text=args.config.read_text(),
                    bench_process=not args.in_process_bench)
    return _drive(engine, path, "run", shipper)


def cmd_resume(args: argparse.Namespace) -> int:
    shipper = start_shipper(args, args.run)
    engine = Engine.for_resume(args.run)
    return _drive(engine, args.run, "resume", shipper)


class ShipperProcess:
    """The run's shipper, in its own process and session (a Ctrl-C to the run leaves it to send
    the last rows). It is started again if it dies (a kill, a crash); it ends by itself once the
    run has ended and every row is across, or once the engine is gone and nothing is left."""

    def __init__(self, central: str, token_file: Path, path: Path) -> None:
        self.cmd = [sys.executable, "-m", "agelab.protocols.ship", str(path),
                    "--central", central, "--token-file", str(token_file),
                    "--engine-pid", str(os.getpid())]
        self.restarts = 0
        self.popen = self._spawn()

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(self.cmd, start_new_session=True, stdin=subprocess.DEVNULL)

    def check(self) -> None:
        """Called from the engine's tick: shipping trouble must never reach the run, so a
        shipper that cannot be started again is left for the next tick."""
        code = self.popen.poll()
        if code not in (None, 0):
            try:
                self.popen = self._spawn()
            except OSError:
                return
            self.restarts += 1

    def wait(self, timeout_s: float) -> bool:
        """Wait for the shipper to finish; True if it did (and was not refused)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check()
            if self.popen.poll() == 0:
                return True
            time.sleep(0.2)
        return False


def start_shipper(args: argparse.Namespace, path: Path) -> ShipperProcess | None:
    """With --central, the run's shipper beside the engine."""
    if (args.central is None) != (args.token_file is None):
        raise ValueError("--central and --token-file go together")
    if args.central is None:
        return None
    read_token(args.token_file)  # a missing or empty token file stops here, before the run
    return ShipperProcess(args.central, args.token_file, path)


def _drive(engine: Engine, path: Path, verb: str, shipper: ShipperProcess | None = None
           ) -> int:
    console = Console()
    console.print(f"run file: {path}", highlight=False, soft_wrap=True)
    progress = Progress(console)

    def tick(engine: Engine) -> None:
        progress.update(engine)
        if shipper is not None:
            shipper.check()

    try:
        with progress:
            statuses = engine.run(on_tick=tick)
    except (KeyboardInterrupt, Terminated) as exc:
        what = "interrupted" if isinstance(exc, KeyboardInterrupt) else "terminated"
        console.print(f"agelab {verb}: {what}; every output was ramped down and switched off.\n"
                      f"run file: {path}\ncontinue with: agelab resume {path}",
                      highlight=False, soft_wrap=True)
        return 130 if isinstance(exc, KeyboardInterrupt) else 143
    progress.final(engine)
    console.print(f"run file: {path}", highlight=False, soft_wrap=True)
    _report(console, path)
    if shipper is not None:
        if shipper.wait(SHIPPER_WAIT_S):
            console.print("every row and the run file are at Central", highlight=False)
        else:
            console.print(f"the shipper (pid {shipper.popen.pid}) goes on sending in the "
                          "background; the run file keeps everything", highlight=False)
    return 0 if all(s == "finished" for s in statuses.values()) else 1


def _report(console: Console, path: Path) -> None:
    """The report of a finished run; the data are safe in the run file whatever happens here."""
    try:
        console.print(describe(write_report(path)), highlight=False, soft_wrap=True)
    except (ValueError, OSError) as exc:
        console.print(f"report not written ({exc}); try: agelab report {path}",
                      highlight=False, soft_wrap=True)


def _fmt(value: float | None, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def channel_table(rows: list[dict], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("channel", "status", "t (h)", "L/L0", "V", "next checkpoint (h)", "milestones",
                "ETA (h)"):
        table.add_column(col)
    for r in rows:
        milestones = ", ".join(f"{k} {v:.2f} h" for k, v in r.get("milestones", {}).items())
        table.add_row(r["name"], r["status"], _fmt(r.get("t_h"), ".2f"),
                      _fmt(r.get("l_rel"), ".3f"), _fmt(r.get("v_v"), ".3f"),
                      _fmt(r.get("next_checkpoint_h"), ".2f"), milestones or "-",
                      _fmt(r.get("eta_h"), ".1f"))
    return table


class Progress:
    """Live per-channel progress: a refreshing table on a terminal, a line every few seconds
    otherwise (a log file stays readable)."""

    def __init__(self, console: Console, every_s: float = 10.0) -> None:
        self.console = console
        self.every_s = every_s
        self._live = Live(console=console, refresh_per_second=2) if console.is_terminal else None
        self._last = 0.0

    def __enter__(self) -> Progress:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def update(self, engine: Engine) -> None:
        rows = engine.snapshot()
        if self._live is not None:
            self._live.update(channel_table(rows, "AgeLab run"))
        elif time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            parts = [f"{r['name']} {r['status']} t={_fmt(r['t_h'], '.2f')} h "
                     f"L/L0={_fmt(r['l_rel'], '.3f')}" for r in rows]
            self.console.print("  " + " | ".join(parts), highlight=False, soft_wrap=True)

    def final(self, engine: Engine) -> None:
        rows = engine.snapshot()
        table = Table(title="AgeLab run: done", title_justify="left")
        for col in ("channel", "status", "t (h)", "L/L0", "milestones", "stress duty cycle",
                    "stopped by"):
            table.add_column(col)
        for r in rows:
            milestones = ", ".join(f"{k} {v:.2f} h" for k, v in r["milestones"].items())
            table.add_row(r["name"], r["status"], _fmt(r["t_h"], ".2f"),
                          _fmt(r["l_rel"], ".3f"), milestones or "-",
                          _fmt(r["duty_cycle"], ".4f"), r["stop_reason"] or "-")
        self.console.print(table)


def cmd_status(args: argparse.Namespace) -> int:
    console = Console()
    with RunFile(args.run) as run:
        meta = run.meta()
        rows = []
        for ch in run.channels():
            st = ch.state
            last = run.samples(ch.name, ("t_h", "v_v", "l_cd_m2"))
            l0 = st.get("l0")
            rows.append({
                "name": ch.name, "status": st.get("status", "pending"),
                "t_h": float(last[-1, 0]) if len(last) else None,
                "l_rel": float(last[-1, 2]) / l0 if len(last) and l0 else None,
                "v_v": float(last[-1, 1]) if len(last) else None,
                "next_checkpoint_h": None, "milestones": st.get("milestones", {}),
                "eta_h": None})
        n_samples = run.sample_count()
        n_events = len(run.events())
    heartbeat = meta.get("heartbeat")
    state = meta.get("status", "?")
    if state == "running" and not engine_is_writing(meta):
        state = "interrupted (no engine is writing it; agelab resume continues it)"
    console.print(f"study {meta.get('study')}  ({meta.get('software')})  status: {state}",
                  highlight=False, soft_wrap=True)
    if isinstance(heartbeat, float):
        console.print(f"last commit {time.time() - heartbeat:.1f} s ago; {n_samples} samples, "
                      f"{n_events} events", highlight=False, soft_wrap=True)
    console.print(channel_table(rows, str(args.run)))
    return 0
