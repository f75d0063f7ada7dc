"""``agelab sim``: describe a virtual QLED preset (and, with the bench, run the virtual rack)."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from agelab.instruments.station.virtual import (
    PRESETS,
    add_bench_arguments,
    get_preset,
    serve_bench,
)


def add_sim_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="the virtual bench and its QLED presets")
    p.add_argument("--describe", metavar="PRESET",
                   help=f"print what the virtual device does ({', '.join(PRESETS)})")
    add_bench_arguments(p)
    p.set_defaults(func=run_sim)


def run_sim(args: argparse.Namespace) -> int:
    if args.describe:
        return describe(args.describe, args.seed)
    return serve_bench(args)




def describe(name: str, seed: int = 0, console: Console | None = None) -> int:
    from agelab.protocols.reliability.model_card import CARDS

    preset = get_preset(name)
    console = console or Console()
    table = Table(title=f"{preset.name}: {preset.title}", title_justify="left")
    table.add_column("quantity")
    table.add_column("paper / design")
    table.add_column("virtual device (measured)", justify="right")
    table.add_column("", justify="center")
    with console.status("measuring the virtual device..."):
        figures = CARDS[name](seed)
    for fig in figures:
        value = "not reached" if fig.measured is None else f"{fig.measured:.4g} {fig.unit}".strip()
        table.add_row(fig.quantity, fig.paper, value, "ok" if fig.ok else "OFF")
    console.print(table)
    console.print("Measured from the model's observables (photodiode traces, J-V and C-V sweeps, "
                  "spectra) with AgeLab's own analysis; model choices are documented in "
                  "instruments/sim/model/presets.py.")
    return 0 if all(f.ok for f in figures) else 1
