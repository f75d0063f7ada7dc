"""What the engine emits: one stream of records that the store, the CLI and the GUI all follow.

Times: ``t_h`` is the channel's stress time in device hours (what lifetimes are measured in),
``wall`` the Unix time it was taken.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# L0 is one reading, and its noise is every T-value's error (0.1 % of L0 is ~2 % of a T95 on the
# blue device), so a run's first sample integrates this many photodiode readings (the meter's
# repeat filter), or the channel's light_average if more.
L0_AVERAGE = 100


@dataclass(frozen=True)
class Sample:
    channel: str
    t_h: float
    j_ma_cm2: float
    v_v: float
    l_cd_m2: float
    i_pd_a: float
    wall: float = field(default_factory=time.time)


@dataclass(frozen=True)
class SweepRecord:
    """A J–V–L sweep (x: V, y: J mA/cm², z: L cd/m²) or a C–V sweep (x: V, y: C F, z: G S)."""

    channel: str
    kind: str  # "jv" | "cv"
    label: str
    t_h: float
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    wall: float = field(default_factory=time.time)


@dataclass(frozen=True)
class SpectrumRecord:
    channel: str
    kind: str  # "el" | "pl"
    label: str
    t_h: float
    wavelength_nm: np.ndarray
    counts: np.ndarray
    integration_s: float
    wall: float = field(default_factory=time.time)


@dataclass(frozen=True)
class ReadingRecord:
    """A single measured value that is not a sample, e.g. the lock-in PL (x, y in V rms)."""

    channel: str
    kind: str
    label: str
    t_h: float
    x: float
    y: float
    params: dict[str, Any] = field(default_factory=dict)
    wall: float = field(default_factory=time.time)


@dataclass(frozen=True)
class EventRecord:
    """Milestones, checkpoints, interruptions, faults, pauses, gaps, operator actions."""

    channel: str | None
    kind: str
    detail: dict[str, Any]
    t_h: float | None = None
    wall: float = field(default_factory=time.time)


# A channel in one of these is done for good: a resume leaves it alone. "stopped" is a runaway
# (an open or shorted pixel), which must never be stressed again.
FINAL_STATUSES = ("finished", "stopped", "aborted", "failed")


@dataclass(frozen=True)
class ChannelState:
    """A channel's persistent state, stored on every change so a run can resume from its file."""

    channel: str
    state: dict[str, Any]
    wall: float = field(default_factory=time.time)


Record = Sample | SweepRecord | SpectrumRecord | ReadingRecord | EventRecord | ChannelState
