"""``python -m agelab.protocols.ship RUN... --central URL --token-file F``: the shipper as its
own light process (``agelab run --central`` starts it so), without the engine's imports."""

import argparse
import sys

from agelab.protocols.ship.command import add_ship_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agelab")
    add_ship_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ship", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:
        print(f"agelab ship: error: {exc}", file=sys.stderr)
        return 2


sys.exit(main())
