"""``agelab central ...``: serve Central, manage its tokens, and read it from a terminal.

``serve`` and ``token`` act on Central's database (``--data DIR``, a private PostgreSQL it
starts, or ``--db URL``, the lab's own server); ``runs``, ``export``, ``compare`` and ``fit`` ask
a running Central over HTTP with a token, as any station or viewer does.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import secrets
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agelab.protocols.cli.ship import add_central_arguments
from agelab.protocols.ship.client import CentralClient, CentralRefused, read_token
from agelab.protocols.store.export import export_csv, export_hdf5

DEFAULT_DATA = Path("central-data")
DEFAULT_PORT = 8765


def add_central_parser(sub: argparse._SubParsersAction) -> None:
    central = sub.add_parser("central", help="AgeLab Central: every station's runs in one "
                                             "PostgreSQL")
    csub = central.add_subparsers(dest="central_command", required=True)

    p = csub.add_parser("serve", help="run Central (binds 127.0.0.1 unless told otherwise)")
    _database_arguments(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--tls-cert", type=Path)
    p.add_argument("--tls-key", type=Path)
    p.add_argument("--insecure-lan", action="store_true",
                   help="listen beyond loopback without TLS (tokens travel in clear)")
    p.add_argument("--config", type=Path, metavar="YAML",
                   help="Central's settings: the alert rules and where alerts go")
    p.set_defaults(func=cmd_serve)

    p = csub.add_parser("token", help="add, list or revoke access tokens")
    tsub = p.add_subparsers(dest="token_command", required=True)
    t = tsub.add_parser("add", help="make a token and print it (Central keeps only its hash)")
    t.add_argument("name", help="the station's name, or the viewer's")
    t.add_argument("--role", choices=("station", "viewer", "operator"), required=True,
                   help="station: ships its own runs; viewer: reads; operator: reads and "
                   "stops channels from the dashboard")
    _database_arguments(t)
    t.set_defaults(func=cmd_token_add)
    t = tsub.add_parser("list")
    _database_arguments(t)
    t.set_defaults(func=cmd_token_list)
    t = tsub.add_parser("revoke")
    t.add_argument("name")
    _database_arguments(t)
    t.set_defaults(func=cmd_token_revoke)

    p = csub.add_parser("runs", help="the runs Central holds, and its stations")
    add_central_arguments(p)
    p.set_defaults(func=cmd_runs)

    p = csub.add_parser("export", help="a run from Central, as `agelab export` writes it, or "
                                       "its run file (for `agelab report`)")
    p.add_argument("run_uid")
    add_central_arguments(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--csv", type=Path, metavar="DIR")
    what.add_argument("--hdf5", type=Path, metavar="FILE")
    what.add_argument("--runfile", type=Path, metavar="FILE",
                      help="the file the station uploaded when the run ended (else the run as "
                           "Central's rows hold it)")
    p.set_defaults(func=cmd_export)

    for name, helptext in (("compare", "lifetimes grouped by batch (or another field) and J"),
                           ("fit", "the pooled acceleration fit over the selected channels")):
        p = csub.add_parser(name, help=helptext)
        add_central_arguments(p)
        if name == "compare":
            p.add_argument("--by", default="batch",
                           help="batch, substrate, recipe, operator, device, device_id, station "
                                "or tag:NAME")
        else:
            p.add_argument("--drop-censored", action="store_true",
                           help="leave out channels that stopped before the level (biased)")
        p.add_argument("--level", default="T50")
        p.add_argument("--device", help="only this device type (e.g. blue-znsete)")
        p.add_argument("--run", action="append", default=[], metavar="UID")
        p.add_argument("--batch", action="append", default=[])
        p.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE",
                       help="substrate=..., recipe=..., tag:NAME=...")
        p.add_argument("--json", action="store_true", help="print the API's JSON")
        p.set_defaults(func=cmd_compare if name == "compare" else cmd_fit)


def _database_arguments(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--data", type=Path, default=None, metavar="DIR",
                       help=f"a private PostgreSQL in DIR (default ./{DEFAULT_DATA})")
    where.add_argument("--db", metavar="URL", help="the lab's PostgreSQL: postgresql://...")


@contextlib.contextmanager
def _database(args: argparse.Namespace) -> Iterator:
    from agelab.protocols.central.database import Database
    from agelab.protocols.central.postgres import EmbeddedPostgres

    server = None if args.db else EmbeddedPostgres(args.data or DEFAULT_DATA)
    url = args.db or server.start()
    try:
        db = Database(url)
    except Exception:
        if server:
            server.stop()
        raise
    try:
        yield db
    finally:
        db.close()
        if server:
            server.stop()  # only if this command started it (a running Central keeps its own)


def _check_exposure(args: argparse.Namespace) -> None:
    """Loopback by default; beyond it, TLS or an explicit --insecure-lan."""
    host = args.host
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    if not loopback and args.tls_cert is None and not args.insecure_lan:
        raise ValueError(f"--host {host} listens beyond this machine: give --tls-cert and "
                         "--tls-key, or --insecure-lan to accept tokens in clear on the LAN")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from agelab.protocols.central.alerts import CentralSettings, load_settings
    from agelab.protocols.central.app import create_app
    from agelab.protocols.central.server import CentralServer

    _check_exposure(args)
    settings = load_settings(args.config) if args.config else CentralSettings()
    # uvicorn re-raises SIGTERM once it has shut down; as an exception here, so the private
    # PostgreSQL is stopped on the way out rather than left running.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with _database(args) as db:
        scheme = "https" if args.tls_cert else "http"
        where = f"database {args.db.split('@')[-1]}" if args.db else \
            f"private PostgreSQL in {args.data or DEFAULT_DATA}"
        print(f"AgeLab Central on {scheme}://{args.host}:{args.port} ({where}); Ctrl-C stops it",
              flush=True)
        config = uvicorn.Config(create_app(db, settings), host=args.host, port=args.port,
                                log_level="warning", ssl_certfile=args.tls_cert,
                                ssl_keyfile=args.tls_key, timeout_graceful_shutdown=5)
        try:
            CentralServer(config).run()
        finally:
            print("AgeLab Central stopped", flush=True)
    return 0


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def cmd_token_add(args: argparse.Namespace) -> int:
    token = secrets.token_urlsafe(32)
    with _database(args) as db:
        db.add_token(args.name, args.role, token)
    print(token)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    with _database(args) as db:
        for t in db.tokens():
            state = f"revoked {t['revoked']}" if t["revoked"] else "live"
            print(f"{t['name']}\t{t['role']}\t{t['created']}\t{state}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    with _database(args) as db:
        if not db.revoke_token(args.name):
            raise ValueError(f"no live token named {args.name!r}")
    print(f"revoked {args.name}")
    return 0


def _client(args: argparse.Namespace) -> CentralClient:
    return CentralClient(args.central, read_token(args.token_file))


def cmd_runs(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        stations, runs = client.get("/stations"), client.get("/runs")
    finally:
        client.close()
    console = Console()
    table = Table(title="stations")
    for col in ("station", "last heard", "silent for", "rows sent", "backlog", "lag"):
        table.add_column(col)
    for s in stations:
        shipper = s.get("shipper") or {}
        lag = shipper.get("lag_s")
        table.add_row(s["name"], s["last_heard"] or "-",
                      "-" if s["silent_s"] is None else f"{s['silent_s']:.0f} s",
                      str(shipper.get("sent_rows", "-")), str(shipper.get("backlog_rows", "-")),
                      "-" if lag is None else f"{lag:.1f} s")
    console.print(table)
    table = Table(title="runs")
    table.add_column("uid", no_wrap=True, min_width=36)
    for col in ("station", "study", "status", "channels", "samples", "file"):
        table.add_column(col)
    for r in runs:
        table.add_row(r["uid"], r["station"], r["study"] or "-", r["status"] or "-",
                      str(r["channels"]), str(r["samples"]), "yes" if r["file"] else "no")
    console.print(table)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        data = None
        if args.runfile is not None:
            with contextlib.suppress(CentralRefused):  # 404: no file uploaded yet
                data = client.get(f"/runs/{args.run_uid}/file")
        if data is None:
            data = client.get(f"/runs/{args.run_uid}/runfile")
    finally:
        client.close()
    if args.runfile is not None:
        args.runfile.parent.mkdir(parents=True, exist_ok=True)
        args.runfile.write_bytes(data)
        print(f"wrote {args.runfile}; `agelab report {args.runfile}` analyses it")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.sqlite"
        path.write_bytes(data)
        if args.hdf5 is not None:
            print(f"wrote {export_hdf5(path, args.hdf5)}")
        else:
            print(f"wrote {len(export_csv(path, args.csv))} files under {args.csv}")
    return 0


def _selection(args: argparse.Namespace) -> dict:
    return {"level": args.level, "device": args.device, "run": args.run, "batch": args.batch,
            "where": args.where}


def cmd_compare(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        groups = client.get("/compare", by=args.by, **_selection(args))
    finally:
        client.close()
    if args.json:
        print(json.dumps(groups, indent=2))
        return 0
    table = Table(title=f"{args.level} by {args.by} and current density")
    for col in (args.by, "J (mA/cm²)", "channels", "reached", "median (h)", "range (h)",
                "censored"):
        table.add_column(col)
    for g in groups:
        median = "-" if g["median_h"] is None else f"{g['median_h']:.4g}"
        if g["median_is_bound"]:
            median = f"> {g['censored_beyond_h']:.4g}"
        spread = "-" if g["min_h"] is None else f"{g['min_h']:.4g}–{g['max_h']:.4g}"
        censored = str(g["censored"]) + (f" (> {g['censored_beyond_h']:.4g} h)"
                                         if g["censored"] else "")
        table.add_row(g[args.by], f"{g['j_ma_cm2']:g}", str(g["channels"]), str(g["reached"]),
                      median, spread, censored)
    Console().print(table)
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        fit = client.get("/fit", censored=not args.drop_censored, **_selection(args))
    finally:
        client.close()
    if args.json:
        print(json.dumps(fit, indent=2))
        return 0
    lo, hi = fit["n_ci"]
    print(f"{fit['metric']}: n = {fit['n']:.3f} (95 % {lo:.3f}–{hi:.3f}) over {fit['channels']} "
          f"channels, {fit['censored']} censored (T > t_end)")
    for e in fit["extrapolated"]:
        print(f"  {fit['metric']} at {e['l0_cd_m2']:g} cd/m²: {e['t_h']:.4g} h "
              f"(95 % {e['ci'][0]:.4g}–{e['ci'][1]:.4g} h)")
    return 0
