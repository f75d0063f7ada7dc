"""``python -m agelab.instruments.sim``: the virtual bench as its own process (see ``serve``)."""

import argparse
import sys

from agelab.instruments.sim.serve import add_bench_arguments, serve_bench

parser = argparse.ArgumentParser(prog="python -m agelab.instruments.sim",
                                 description="the virtual bench, serving until SIGINT/SIGTERM")
add_bench_arguments(parser)
sys.exit(serve_bench(parser.parse_args()))
