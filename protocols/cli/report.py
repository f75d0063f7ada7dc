"""``agelab report RUN [--to DIR]``: summary.json, PNG plots and a self-contained report.html.

Works on a finished run, a killed one and one still being written; what the run lacks is listed in
the report instead of stopping it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agelab.protocols.analysis.study import Options
from agelab.protocols.report.writer import Report, write_report


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="analyse a run: lifetimes, acceleration, in-situ trends")
    p.add_argument("run", type=Path)
    p.add_argument("--to", type=Path, default=None, metavar="DIR",
                   help="output folder (default: next to the run file, <run>-report)")
    p.add_argument("--n", type=float, default=1.8, dest="fixed_n",
                   help="acceleration exponent for the fixed-n extrapolation (default 1.8)")
    p.add_argument("--band", default="400-460", metavar="LO-HI",
                   help="parasitic emission band in nm (default 400-460, TFB)")
    p.add_argument("--leakage-bias", type=float, default=1.0, metavar="V",
                   help="bias at which leakage current is read (default 1 V)")
    p.set_defaults(func=cmd_report)


def _band(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split("-"))
    except ValueError:
        raise ValueError(f"--band {text!r}: write it as LO-HI in nm, e.g. 400-460") from None
    if not 0 < lo < hi:
        raise ValueError(f"--band {text!r}: LO must be below HI")
    return lo, hi


def describe(report: Report) -> str:
    st = report.summary["study"]
    lines = [f"report: {report.html}", f"summary: {report.summary_json} "
             f"({len(report.figures)} figures in {report.directory})"]
    if st.get("acceleration_n") is not None:
        lines.append(f"acceleration n = {st['acceleration_n']:.3g}; T50 at 100 cd/m2 = "
                     f"{st['T50_at_100_cd_m2_h']:,.0f} h")
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    options = Options(fixed_n=args.fixed_n, band_nm=_band(args.band),
                      leakage_bias_v=args.leakage_bias)
    report = write_report(args.run, args.to, options)
    print(describe(report))
    return 0
