"""``agelab ship RUN_OR_DIR... --central URL --token-file F [--follow]``: send runs to Central.

Without ``--follow`` it sends what the files hold (old runs too: a backfill) and exits; with it,
it keeps watching for new rows and new run files. ``agelab run --central`` starts one beside
the engine as its own process, told the engine's pid: it ends once the run has ended and every
row is across.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from agelab.protocols.ship.client import CentralClient, read_token
from agelab.protocols.ship.priority import yield_to_acquisition
from agelab.protocols.ship.shipper import Shipper
from agelab.protocols.store.reader import pid_alive

LOOK_INTERVAL_S = 0.05  # how often the run files are looked at for a new commit
QUIET_PASS_S = 2.0      # an exchange at least this often, even when no file changed
RETRY_MIN_S = 0.5       # the first wait after Central could not be reached
RETRY_MAX_S = 2.0       # the longest wait between attempts to reach Central
PROGRESS_EVERY_S = 10.0


def add_ship_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ship", help="send run files to AgeLab Central (a backfill, or --follow)")
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN_OR_DIR")
    add_central_arguments(p)
    p.add_argument("--follow", action="store_true", help="keep sending new rows and new runs")
    p.add_argument("--engine-pid", type=int, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_ship)


def add_central_arguments(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--central", required=required, metavar="URL",
                   help="Central's address, e.g. http://127.0.0.1:8765")
    p.add_argument("--token-file", type=Path, required=required, metavar="F",
                   help="a file holding this station's token")


def wait_for_a_commit(shipper: Shipper) -> None:
    """Sleep until a run file changes (or QUIET_PASS_S passes). So the exchange, and Central's
    work on it, follow the engine's commit, which follows its samples: they fall in the quiet
    after a sampling burst, not on the next one. A timed pass would drift across the bursts
    and, when it met one, make that tick's samples late."""
    before, since = shipper.file_signature(), time.monotonic()
    while time.monotonic() - since < QUIET_PASS_S:
        time.sleep(LOOK_INTERVAL_S)
        if shipper.file_signature() != before:
            return


def cmd_ship(args: argparse.Namespace) -> int:
    client = CentralClient(args.central, read_token(args.token_file))
    if args.engine_pid is not None:  # beside a running engine: it can wait, acquisition not
        print(f"ship: priority {yield_to_acquisition()}", flush=True)
    shipper = Shipper(client, args.runs, log=lambda line: print(f"ship: {line}", flush=True),
                      patient=args.follow or args.engine_pid is not None)
    last_progress, backoff = 0.0, RETRY_MIN_S
    try:
        while True:
            engine_gone = args.engine_pid is not None and not pid_alive(args.engine_pid)
            ok = shipper.pass_once()
            if ok and shipper.drained():
                if not args.follow and args.engine_pid is None:
                    break
                if shipper.all_done() or engine_gone:
                    break
            if not shipper.runs and engine_gone:
                break
            now = time.monotonic()
            if now - last_progress >= PROGRESS_EVERY_S:
                s = shipper.status()
                lag = "-" if s["lag_s"] is None else f"{s['lag_s']:.1f} s"
                print(f"ship: {s['runs']} runs, {s['sent_rows']} rows sent, backlog "
                      f"{s['backlog_rows']} rows, lag {lag}", flush=True)
                last_progress = now
            if ok:
                backoff = RETRY_MIN_S
                wait_for_a_commit(shipper)
            else:
                time.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
    except KeyboardInterrupt:
        print("ship: stopped; run it again to send the rest (nothing is lost)", file=sys.stderr)
        return 130
    finally:
        shipper.heartbeat()  # its last word: what it sent, and what is left
        client.close()
    refused = [p for p in shipper.runs.values() if p.refused]
    s = shipper.status()
    print(f"ship: done: {s['runs']} runs, {s['sent_rows']} rows sent"
          + (f", {len(refused)} refused" if refused else ""), flush=True)
    return 1 if refused else 0
