"""``agelab export RUN --csv DIR`` or ``--hdf5 FILE``: a run's data for a spreadsheet or a
program (``agelab.protocols.store.export`` says what goes where)."""

from __future__ import annotations

import argparse
from pathlib import Path

from agelab.protocols.store.export import export_csv, export_hdf5


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a run's data as CSV or HDF5")
    p.add_argument("run", type=Path)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--csv", type=Path, metavar="DIR")
    what.add_argument("--hdf5", type=Path, metavar="FILE")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    if args.hdf5 is not None:
        print(f"wrote {export_hdf5(args.run, args.hdf5)}")
        return 0
    written = export_csv(args.run, args.csv)
    print(f"wrote {len(written)} files under {args.csv}")
    return 0
