"""The model's ground truth at the moments a run measured: a noise-free twin of a bench pixel,
replayed through the drives the bench recorded (every set point the source-meter forced, with its
device time), so it has aged exactly as the real pixel had when each measurement was taken."""

from __future__ import annotations

import copy

import numpy as np

from agelab.instruments.sim.bench import VirtualBench
from agelab.instruments.sim.model.qled import QledPixel
from agelab.protocols.reliability.clock_check import WallToDevice
from agelab.protocols.reliability.truth import aged_through


def device_time(bench: VirtualBench, wall_minus_monotonic: float) -> WallToDevice:
    """Maps a record's wall times (time.time()) to the bench's device hours, by the offset
    between the wall clock and the monotonic one (the bench's) as it stood while the record was
    taken: read afterwards, a step of the system clock in between (CI once met a 0.29-s one,
    0.12 device-h at 1500x) moves every truth."""
    return WallToDevice(bench.rig.clock, wall_minus_monotonic)


def twins_at(bench: VirtualBench, pixel: int, device_hours: list[float]) -> list[QledPixel]:
    """Copies of pixel ``pixel`` (0-based) as it was at each of ``device_hours`` (ascending)."""
    site = bench.rig.sites[pixel]
    twin = QledPixel(site.pixel.preset, area_cm2=site.pixel.area_cm2)
    return [copy.deepcopy(px)
            for px in aged_through(twin, list(site.drive_history), device_hours)]


def peak_and_fwhm_exact(px: QledPixel, j: float) -> tuple[float, float]:
    """Peak and FWHM of the noise-free EL spectrum on a 0.01 nm grid (no analysis code)."""
    x = np.arange(350.0, 800.0, 0.01)
    y = px.el_spectrum(j, x)
    i = int(np.argmax(y))
    half = y[i] / 2
    left = x[:i][y[:i] < half][-1]
    right = x[i:][y[i:] < half][0]
    return float(x[i]), float(right - left)


def crossing(t: np.ndarray, y: np.ndarray, level: float, start: int) -> float | None:
    below = np.nonzero(y[start:] < level)[0]
    if below.size == 0:
        return None
    i = start + int(below[0])
    return float(np.interp(level, [y[i], y[i - 1]], [t[i], t[i - 1]]))


def sweep_starts(bench: VirtualBench, pixel: int, gap_h: float = 0.02, points: int = 10
                 ) -> list[float]:
    """Device hours at which each voltage sweep on the pixel's source-meter began: a run of at
    least ``points`` voltage set points, each within ``gap_h`` of the last (a lone 0 V set point
    at shutdown is not a sweep). The low-bias points, where the ideality factor is read, are
    measured then, before the sweep's high-current points age the device."""
    runs: list[list[float]] = []
    for t, _, volts in bench.rig.sites[pixel].drive_history:
        if volts is None:
            continue
        if runs and t - runs[-1][-1] <= gap_h:
            runs[-1].append(t)
        else:
            runs.append([t])
    return [r[0] for r in runs if len(r) >= points]
