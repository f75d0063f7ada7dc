"""The stress clock checked sample by sample against the bench's own drive history.

The soak's stress-on-record check compares totals at the end, where 0.1 % is an hour; an outage
counted a few tenths of an hour wrong early on moves an early T95 by percent and is invisible
there. Here each sample's stress time on record is compared with the hours its pixel had really
been stressed when the sample was taken: the bench's history of every drive it applied,
integrated as a share of the channel's set current (ramps pass part of it; sweeps, which the
bench runs in no modelled time, none).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agelab.protocols.store import RunFile

MIN_T_H = 5.0  # shares from here: below, a sample stamp's few ms (0.01 device-h) are 0.2 %+


@dataclass(frozen=True)
class WallToDevice:
    """Maps a run file's wall times (time.time()) onto the bench's device hours (its clock runs
    on time.monotonic(); the two are read together, once)."""

    clock: object  # the bench's DeviceClock
    wall_minus_monotonic: float

    @classmethod
    def of(cls, clock) -> WallToDevice:
        return cls(clock, time.time() - time.monotonic())

    def __call__(self, wall: np.ndarray) -> np.ndarray:
        return self.clock.hours_at(wall - self.wall_minus_monotonic)


def stress_hours(history: Sequence[tuple[float, float, float | None]],
                 j_ma_cm2: float) -> Callable[[np.ndarray], np.ndarray]:
    """Hours at ``j_ma_cm2`` a pixel had been stressed by each device hour, from its drive
    history (device hours, J or None, V or None); a voltage drive counts as none (the bench's
    sweeps)."""
    ts = np.array([h for h, _, _ in history], dtype=float)
    share = np.array([(j if v is None else 0.0) / j_ma_cm2 for _, j, v in history], dtype=float)
    done = np.concatenate([[0.0], np.cumsum(share[:-1] * np.diff(ts))])

    def at(t: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(ts, t, side="right") - 1, 0, len(ts) - 1)
        return np.where(t < ts[0], 0.0, done[i] + share[i] * (t - ts[i]))

    return at


@dataclass(frozen=True)
class ClockError:
    channel: str
    worst_h: float       # true stress minus the record, at the sample where it is largest
    at_h: float          # that sample's stress time on record
    worst_share: float   # the largest |error| / t over samples from MIN_T_H
    share_at_h: float


def clock_errors(run_path: Path, names: Sequence[str], js: Sequence[float],
                 histories: Sequence[Sequence[tuple[float, float, float | None]]],
                 to_device: WallToDevice) -> list[ClockError]:
    rows = []
    with RunFile(run_path) as run:
        for name, j, history in zip(names, js, histories, strict=False):
            s = run.samples(name, ("t_h", "wall"))
            if not len(s) or not history:
                continue
            error = stress_hours(history, j)(to_device(s[:, 1])) - s[:, 0]
            k = int(np.argmax(np.abs(error)))
            late = s[:, 0] >= MIN_T_H
            share = np.abs(error[late]) / s[late, 0] if late.any() else np.zeros(1)
            m = int(np.argmax(share))
            rows.append(ClockError(name, float(error[k]), float(s[k, 0]), float(share[m]),
                                   float(s[late, 0][m]) if late.any() else 0.0))
    return rows


def write_clock_errors(rows: Sequence[ClockError], path: Path) -> None:
    path.write_text("channel,worst_h,at_h,worst_share,share_at_h\n" + "".join(
        f"{r.channel},{r.worst_h:+.4f},{r.at_h:.3f},{r.worst_share:.5f},{r.share_at_h:.3f}\n"
        for r in rows))


def clock_figure(rows: Sequence[ClockError]) -> str:
    if not rows:
        return "no channel"
    worst = max(rows, key=lambda r: abs(r.worst_h))
    share = max(rows, key=lambda r: r.worst_share)
    return (f"worst {worst.channel} {worst.worst_h:+.3f} h at {worst.at_h:.1f} h; "
            f"largest share {share.channel} {share.worst_share:.2%} at {share.share_at_h:.1f} h")
