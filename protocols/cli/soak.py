"""``agelab soak``: the soak test (and, with ``--crash N``, the crash test) on the virtual bench,
printed as a table of figures against their goals. Exit 0 only when every check meets its goal."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agelab.protocols.reliability.soak import SoakPlan, SoakResult, run_soak, with_overrides


def add_soak_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("soak", help="soak or crash test on the virtual bench (reliability)")
    p.add_argument("--short", action="store_true", help="the short version run by make test")
    p.add_argument("--hours", type=float, help="device hours per channel (default 1000)")
    p.add_argument("--channels", type=int, help="channels besides the two victims (default 16)")
    p.add_argument("--speedup", type=float, help="device time per wall time")
    p.add_argument("--fault-rate", type=float, help="fraction of transactions struck (0.01)")
    p.add_argument("--seed", type=int)
    p.add_argument("--crash", type=int, metavar="N",
                   help="instead: the crash test, N kill -9 of the engine each followed by "
                        "agelab resume")
    p.add_argument("--out", type=Path, default=Path("runs/soak"))
    p.set_defaults(func=cmd_soak)


def print_result(console: Console, title: str, result: SoakResult) -> None:
    table = Table(title=title, title_justify="left")
    for col in ("check", "measured", "goal", ""):
        table.add_column(col)
    for c in result.checks:
        table.add_row(c.name, c.measured, c.goal, "ok" if c.ok else "FAIL")
    console.print(table)
    for name, value in result.figures.items():
        console.print(f"  {name}: {value}", highlight=False, soft_wrap=True)


def cmd_soak(args: argparse.Namespace) -> int:
    console = Console()
    say = lambda text: console.print(text, highlight=False, soft_wrap=True)  # noqa: E731
    if args.crash:
        from agelab.protocols.reliability.crash import CrashPlan, run_crash_test

        plan = CrashPlan.short() if args.short else CrashPlan()
        plan = with_overrides(plan, kills=args.crash, hours=args.hours, speedup=args.speedup,
                              channels=args.channels, seed=args.seed)
        result = run_crash_test(plan, args.out / "crash", say)
        print_result(console, f"AgeLab crash test: {plan.kills} x kill -9 + agelab resume",
                     result)
    else:
        plan = SoakPlan.short() if args.short else SoakPlan()
        plan = with_overrides(plan, hours=args.hours, channels=args.channels,
                              speedup=args.speedup, fault_rate=args.fault_rate, seed=args.seed)
        result = run_soak(plan, args.out, say)
        print_result(console, f"AgeLab soak: {plan.channels} channels x {plan.hours:g} "
                              f"device-h, {plan.fault_rate:.0%} of transactions faulted", result)
    return 0 if result.ok else 1
