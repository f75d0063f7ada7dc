"""The ``agelab`` command line. Each subcommand lives in its own module; this one dispatches.

Commands from other packages join through the ``agelab.commands`` entry-point group (each entry a
function that adds its parser): the window's ``agelab gui`` comes that way, so the protocols
layer never imports the GUI above it.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from importlib.metadata import entry_points

from agelab.instruments.resilience import InstrumentFault
from agelab.instruments.station.virtual import BenchStartError
from agelab.protocols import __version__
from agelab.protocols.cli.central import add_central_parser
from agelab.protocols.cli.check import add_check_parser
from agelab.protocols.cli.export import add_export_parser
from agelab.protocols.cli.report import add_report_parser
from agelab.protocols.cli.run import add_run_parsers
from agelab.protocols.cli.ship import add_ship_parser
from agelab.protocols.cli.sim import add_sim_parser
from agelab.protocols.cli.soak import add_soak_parser

COMMAND_GROUP = "agelab.commands"


def add_plugin_parsers(sub: argparse._SubParsersAction) -> None:
    """Every command registered in the ``agelab.commands`` entry-point group."""
    for entry in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        entry.load()(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agelab",
        description="Accelerated lifetime tests of QLEDs, on a rig or the virtual bench.")
    parser.add_argument("--version", action="version", version=f"agelab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_sim_parser(sub)
    add_check_parser(sub)
    add_run_parsers(sub)
    add_export_parser(sub)
    add_report_parser(sub)
    add_soak_parser(sub)
    add_ship_parser(sub)
    add_central_parser(sub)
    add_plugin_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Library deprecation notices are for developers, not for someone running a lifetime test.
    warnings.filterwarnings("ignore", category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("agelab: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, InstrumentFault, BenchStartError) as exc:
        # Bad input is a one-line message, never a traceback.
        print(f"agelab {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
