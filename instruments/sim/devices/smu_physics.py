"""What any virtual source-meter channel does at its terminals, whatever its command set: a source
held back by its compliance, and a reading with the load's noise."""

from __future__ import annotations

import math

from agelab.instruments.sim.loads import Load


def deliverable_amps(load: Load, amps: float, v_limit: float) -> float:
    """A current source cannot push more than its voltage compliance allows."""
    v_lim = abs(v_limit)
    if abs(load.voltage_at(amps)) <= v_lim:
        return amps
    return load.current_at(math.copysign(v_lim, amps))


def deliverable_volts(load: Load, volts: float, i_limit: float) -> float:
    """A voltage source cannot drive more than its current compliance allows."""
    i_lim = abs(i_limit)
    amps = load.current_at(volts)
    if abs(amps) <= i_lim:
        return volts
    return load.voltage_at(math.copysign(i_lim, amps))


def force(load: Load, output_on: bool, sourcing_current: bool, level: float, v_limit: float,
          i_limit: float) -> None:
    """Tell the load what the channel forces on it now (nothing when the output is off)."""
    if not output_on:
        load.force(amps=0.0)
    elif sourcing_current:
        load.force(amps=deliverable_amps(load, level, v_limit))
    else:
        load.force(volts=deliverable_volts(load, level, i_limit))


def read_point(load: Load, sourcing_current: bool, level: float, v_limit: float,
               i_limit: float, average: int = 1) -> tuple[float, float, bool]:
    """(volts, amps, in compliance) measured at the present source level, with noise. In
    compliance, the limited quantity reads at its limit and the set level is reported for the
    other, as a source-meter does."""
    compliance = False
    if sourcing_current:
        amps = deliverable_amps(load, level, v_limit)
        if amps != level:
            compliance = True
            volts = math.copysign(v_limit, level)
        else:
            volts = load.voltage_at(amps)
    else:
        volts = deliverable_volts(load, level, i_limit)
        amps = load.current_at(volts)
        if volts != level:
            compliance = True
            volts = level
    v_meas, i_meas = load.measurement_noise(volts, amps, average)
    return v_meas, i_meas, compliance
