"""The virtual bench as its own process, as a rack is: ``python -m agelab.instruments.sim``.

It prints the station block of its resources (YAML, to paste into a config), then ``# ready``,
and serves until SIGINT or SIGTERM, or until no client has been connected for ``--idle-exit``
seconds. ``agelab sim`` and the engine's bench process both run it.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time

import yaml

from agelab.instruments.sim.bench import PHOTODIODE_READERS, SOURCE_METERS, VirtualBench
from agelab.instruments.sim.model.presets import PRESETS, get_preset


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    """The bench's options, shared by ``agelab sim`` and ``python -m agelab.instruments.sim``."""
    p.add_argument("--preset", default="red-cdse", choices=sorted(PRESETS))
    p.add_argument("--pixels", type=int, default=4)
    p.add_argument("--presets", metavar="A,B,...",
                   help="one preset per pixel, comma-separated (overrides --preset/--pixels)")
    p.add_argument("--idle-exit", type=float, default=0.0, metavar="SECONDS",
                   help="stop once no client has been connected for this long (0: never); "
                        "until then the outputs stay as they are, as a rack's do")
    p.add_argument("--speedup", type=float, default=1.0,
                   help="device time runs this many times faster than the wall clock")
    p.add_argument("--timing", choices=["fast", "realistic"], default="realistic")
    p.add_argument("--port-base", type=int, default=0,
                   help="first TCP port (default: free ports chosen by the OS)")
    p.add_argument("--lockin", choices=["sr830", "sr860"], default="sr860")
    p.add_argument("--smu", choices=sorted(SOURCE_METERS), default="keithley2400",
                   help="the source-meters (keithley2602b: two channels a box)")
    p.add_argument("--photodiodes", choices=PHOTODIODE_READERS, default="keithley2400",
                   help="what reads each photodiode: its own 2400, or channel b of the "
                        "pixel's 2602B (smu-channel), or a DAQ6510 scanner")
    p.add_argument("--tec", action="store_true",
                   help="each pixel on its own temperature-controlled stage (a Keithley 2510)")
    p.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="inject faults: KIND:RATE[:INSTRUMENT] or KIND@HOURS[:INSTRUMENT]; KIND is "
                        "timeout, garble, drop, reboot, error, open or short (repeatable)")
    p.add_argument("--fault-log", metavar="FILE",
                   help="write the injected faults here (JSON lines)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lifetime-spread", type=float, default=0.0, metavar="SIGMA",
                   help="device-to-device lifetime scatter: σ of ln T across pixels (0: none)")
    p.add_argument("--lifetime-factors", metavar="F1,F2,...", default="",
                   help="each pixel's lifetime over its preset's, one per pixel")


def serve_bench(args: argparse.Namespace) -> int:
    """Run the bench as its own process, like a rack: until SIGINT or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    presets = args.presets.split(",") if args.presets else [args.preset] * args.pixels
    for name in presets:
        get_preset(name)  # an unknown preset is a one-line error before anything starts
    with VirtualBench(presets, speedup=args.speedup, timing=args.timing,
                      seed=args.seed, port_base=args.port_base, lockin=args.lockin,
                      faults=args.fault, smu=args.smu, photodiodes=args.photodiodes,
                      tec=args.tec, lifetime_spread=args.lifetime_spread,
                      lifetime_factors_given=[float(f) for f in
                                              args.lifetime_factors.split(",") if f]) as bench:
        station = {"station": {"virtual": False, "instruments": {
            name: {"resource": resource} for name, resource in bench.resources.items()}}}
        print(f"# AgeLab virtual bench: {', '.join(presets)}; speed-up {args.speedup:g},"
              f" {args.timing} timing. Paste into a config; Ctrl-C stops.", flush=True)
        print(yaml.safe_dump(station, sort_keys=False), end="", flush=True)
        print("# ready", flush=True)
        idle_since = time.monotonic()
        while not stop.wait(0.5):
            if bench.client_count():
                idle_since = time.monotonic()
            elif args.idle_exit and time.monotonic() - idle_since > args.idle_exit:
                print(f"# no client for {args.idle_exit:g} s", flush=True)
                break
    if args.fault_log:
        with open(args.fault_log, "w") as fh:
            for r in bench.fault_log:
                fh.write(json.dumps({"wall_time": r.wall_time, "device_h": r.device_h,
                                     "instrument": r.instrument, "kind": r.kind.value,
                                     "message": r.message}) + "\n")
    print(f"# virtual bench stopped; {len(bench.fault_log)} faults injected", flush=True)
    return 0
