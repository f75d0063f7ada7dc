"""QCoDeS's own drivers against the virtual bench (2400, E4980A, SR830, SR860, and the 2602B's
TSP): start-up, a full snapshot, and every settable parameter set to another valid value and
read back.

QCoDeS was written with no knowledge of AgeLab, so these tests hold the bench to its promise:
the instruments speak their real command sets, and any well-written driver runs on them.
"""

from __future__ import annotations

import math
import random

import pytest
from qcodes.instrument import Instrument
from qcodes.instrument_drivers.Keithley import Keithley2400, Keithley2602B
from qcodes.instrument_drivers.Keysight import KeysightE4980A
from qcodes.instrument_drivers.stanford_research import SR830, SR860
from qcodes.parameters import ManualParameter, Parameter
from qcodes.validators import Bool, Enum, Ints, Numbers

from agelab.instruments.sim.bench import VirtualBench

VISA = {"visalib": "@py", "terminator": "\n"}
# Parameters a set/read-back walk leaves alone, and why.
SKIPPED = {
    # QCoDeS maps "0\n"/"1\n" (the terminator inside the value): it reads back only where the
    # read termination is something else. The bench answers "1" and its terminator, as the unit.
    "output_interface",
    # Actions, or values only a running acquisition defines.
    "timeout", "buffer_SR", "sweep_setpoints", "capture_rate", "capture_length_in_kb",
    # The 2400's output and source values are walked by the engine's own tests; QCoDeS reads
    # its measured values only with the output on.
    "output", "volt", "curr", "resistance",
    # QCoDeS's 2400 sets the source range (SOUR:VOLT:RANG) and reads the sense range
    # (SENS:VOLT:RANG?): two settings on the unit. A range also reads back as the range
    # chosen (20 -> 21 V), as on the unit.
    "rangev", "rangei",
    # E4980A: ranges whose accepted values depend on the function in force.
    "range", "measurement_function", "signal_mode", "current_level", "voltage_level",
}


# How many parameters each walk sets and reads back (the drivers' settable ones, less SKIPPED).
WALKED_AT_LEAST = {"keithley2400": 5, "e4980a": 8, "sr830": 20, "sr860": 25,
                   "keithley2602b": 25}


# Values for parameters whose drivers give no validator to draw one from.
EXPLICIT = {"compliancev": 12.0, "compliancei": 0.05,
            "nplcv": 2.5, "nplci": 0.5, "aux_out1": 1.25, "aux_out2": -0.5, "aux_out3": 3.0,
            "aux_out4": -2.5, "ch1_display": "R", "ch2_display": "Phase"}


def other_value(param: Parameter, rng: random.Random):
    """A valid value other than the present one, from the parameter's mapping or validator."""
    if param.name in EXPLICIT:
        return EXPLICIT[param.name]
    now = param.get()
    mapping = getattr(param, "val_mapping", None)
    if mapping:
        choices = [k for k in mapping if k != now]
        return rng.choice(choices) if choices else None
    vals = param.vals
    if isinstance(vals, Enum):
        choices = [v for v in vals._values if v != now]
        return rng.choice(sorted(choices, key=str)) if choices else None
    if isinstance(vals, Bool):
        return not now
    if isinstance(vals, Ints):
        lo, hi = max(vals._min_value, -1000), min(vals._max_value, 1000)
        choices = [v for v in range(lo, hi + 1) if v != now]
        return rng.choice(choices) if choices else None
    if isinstance(vals, Numbers):
        lo, hi = max(vals._min_value, -10.0), min(vals._max_value, 1e4)
        return round(lo + (hi - lo) * rng.uniform(0.2, 0.8), 3)
    return None


def walk(instrument: Instrument) -> tuple[list[str], int]:
    """Set every walkable parameter (submodules too) to another value; the ones that did not
    read back what was set, and how many were walked."""
    rng = random.Random(7)
    wrong, walked = [], 0
    modules = [instrument, *(m for m in instrument.submodules.values()
                             if hasattr(m, "parameters"))]  # channel lists hold them again
    for module in modules:
        for name, param in module.parameters.items():
            if (name in SKIPPED or isinstance(param, ManualParameter) or not param.gettable
                    or not param.settable):
                continue
            value = other_value(param, rng)
            if value is None:
                continue
            param.set(value)
            walked += 1
            back = param.get()
            mapping = getattr(param, "val_mapping", None)
            if mapping:  # several names may map to one instrument value ("on", True, 1)
                same = mapping.get(back) == mapping[value]
            elif isinstance(value, float) and isinstance(back, float | int):
                same = math.isclose(back, value, rel_tol=1e-3, abs_tol=1e-6)
            else:
                same = back == value
            if not same:
                wrong.append(f"{module.name}.{name}: set {value!r}, read {back!r}")
    return wrong, walked


def errors_left(instrument: Instrument, query: str) -> list[str]:
    found = []
    for _ in range(12):
        reply = instrument.ask(query).strip()
        if reply.split(",")[0].lstrip("+") in ("0", ""):
            return found
        found.append(reply)
    return found


def tsp_errors(instrument: Instrument) -> list[str]:
    count = int(float(instrument.ask("errorqueue.count")))
    return [f"{count} errors in the queue"] if count else []


@pytest.mark.parametrize(("model", "open_driver", "errors"), [
    ("keithley2400", lambda b: Keithley2400("k2400", b.resources["smu1"], **VISA),
     lambda i: errors_left(i, ":SYST:ERR?")),
    ("e4980a", lambda b: KeysightE4980A("e4980a", b.resources["lcr"], **VISA),
     lambda i: errors_left(i, ":SYST:ERR?")),
    ("sr830", lambda b: SR830("sr830", b.resources["lockin"], **VISA), None),
    ("sr860", lambda b: SR860("sr860", b.resources["lockin"], **VISA), None),
    ("keithley2602b", lambda b: Keithley2602B("k2602b", b.resources["smu1"], **VISA),
     tsp_errors),
])
def test_qcodes_drivers_start_snapshot_and_read_back_what_they_set(model, open_driver, errors):
    lockin = model if model.startswith("sr") else "sr830"
    smu = "keithley2602b" if model == "keithley2602b" else "keithley2400"
    with VirtualBench("red-cdse", pixels=2, seed=4, lockin=lockin, smu=smu) as bench:
        instrument = open_driver(bench)
        try:
            snapshot = instrument.snapshot(update=True)
            values = {name: p.get("value") for name, p in snapshot["parameters"].items()}
            for sub, part in snapshot.get("submodules", {}).items():  # a 2602B's channels
                values.update({f"{sub}.{name}": p.get("value")
                               for name, p in part.get("parameters", {}).items()})
            assert values["IDN"]["model"].upper().replace(" ", "") in model.upper() or \
                values["IDN"]["model"] in model.upper()
            read = [n for n, v in values.items() if v is not None]
            assert len(read) >= 10, values
            wrong, walked = walk(instrument)
            assert wrong == [] and walked >= WALKED_AT_LEAST[model], (wrong, walked)
            if errors:  # and nothing the driver sent went into the error queue
                assert errors(instrument) == []
        finally:
            instrument.close()
