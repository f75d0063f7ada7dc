"""The ``agelab`` command line. Each subcommand lives in its own module; this one dispatches."""

from __future__ import annotations

import argparse
import sys
import warnings

from instruments.resilience import InstrumentFault

from . import __version__
from .bench_process import BenchStartError
from .cli_check import add_check_parser
from .cli_export import add_export_parser
from .cli_report import add_report_parser
from .cli_run import add_run_parsers
from .cli_sim import add_sim_parser
from .cli_soak import add_soak_parser


def add_gui_parser(sub: argparse._SubParsersAction) -> None:
    # The GUI package imports Qt only when its command runs.
    from gui.app import add_gui_parser as add

    add(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agelab", description=__doc__)
    parser.add_argument("--version", action="version", version=f"agelab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_sim_parser(sub)
    add_check_parser(sub)
    add_run_parsers(sub)
    add_export_parser(sub)
    add_report_parser(sub)
    add_soak_parser(sub)
    add_gui_parser(sub)
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
