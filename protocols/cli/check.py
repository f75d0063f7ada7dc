"""``agelab check CONFIG``: is the study valid, and is every instrument of its station there,
and the right one?

The whole study is validated first, as ``agelab run`` would (one line naming the file line and
the field, before any instrument is touched). For each instrument it prints identity, link,
round-trip time and any error-queue entry left after connecting, and one plain line for each
problem. Exit status 1 if any instrument is missing or wrong, so a script can refuse to start a
run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from agelab.instruments.station import EXPECTED_IDENTITY, Station, StationSpec, open_driver
from agelab.protocols.config import load_config


def add_check_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="connect to every instrument of a config's station")
    p.add_argument("config", type=Path)
    p.set_defaults(func=run_check)


def load_station(path: Path) -> StationSpec:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or "station" not in data:
        raise ValueError(f"{path}: no 'station' section")
    try:
        return StationSpec.model_validate(data["station"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("station", *first["loc"]))
        raise ValueError(f"{path}: {where}: {first['msg']}") from None


def yaml_has_channels(path: Path) -> bool:
    """A study (channels given), not a station-only file, which is checked for its station."""
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, OSError):
        return False  # load_station says what is wrong
    return isinstance(data, dict) and "channels" in data


def _link(resource: str) -> str:
    r = resource.upper()
    for prefix, name in (("TCPIP", "LAN"), ("GPIB", "GPIB"), ("USB", "USB"), ("ASRL", "serial"),
                         ("/DEV/", "serial"), ("COM", "serial")):
        if r.startswith(prefix):
            return name
    return "?"


def run_check(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or Console()
    if yaml_has_channels(args.config):
        load_config(args.config)  # a ConfigError (a ValueError) is the CLI's one clean line
    spec = load_station(args.config)
    station = Station(spec)
    if spec.virtual is not None:
        station.start_bench()  # the bench's resources must exist before they are checked
    problems: list[str] = []
    table = Table(title=f"station of {args.config}")
    for col in ("instrument", "driver", "link", "identity", "round trip", "status"):
        table.add_column(col)
    try:
        for name, inst_spec in station.resolved_specs().items():
            expect = inst_spec.expect_identity or EXPECTED_IDENTITY.get(inst_spec.driver)
            row = [name, inst_spec.driver, _link(inst_spec.resource)]
            try:
                driver = open_driver(name, inst_spec)
                identity = driver.identity()
                start = time.perf_counter()
                driver.identity()
                rtt = f"{(time.perf_counter() - start) * 1e3:.2f} ms"
            except Exception as exc:  # any failure to reach it is reported, not raised
                problems.append(f"{name}: no answer from {inst_spec.driver} at "
                                f"{inst_spec.resource} ({exc.__class__.__name__}: {exc})")
                table.add_row(*row, "-", "-", "[red]missing[/red]")
                continue
            status = "ok"
            if expect and expect not in identity:
                problems.append(f"{name}: expected a {expect} at {inst_spec.resource}, found "
                                f"{identity!r}")
                status = "[red]wrong instrument[/red]"
            else:
                errors = _error_queue(driver)
                if errors:
                    problems.append(f"{name}: error queue after connecting: {'; '.join(errors)}")
                    status = "[yellow]errors[/yellow]"
            with_adapter = getattr(driver, "adapter", None)
            if with_adapter is not None:
                with_adapter.close()
            table.add_row(*row, identity[:48], rtt, status)
    finally:
        station.close()
    console.print(table)
    for line in problems:
        console.print(f"agelab check: {line}", highlight=False, soft_wrap=True)
    return 1 if problems else 0


def _error_queue(driver: object) -> list[str]:
    if not hasattr(type(driver), "next_error"):
        return []
    found = []
    for _ in range(10):
        try:
            code, message = driver.next_error
        except (NotImplementedError, ValueError, TypeError):
            return found
        if int(code) == 0:
            break
        found.append(f"{code},{message}")
    return found
