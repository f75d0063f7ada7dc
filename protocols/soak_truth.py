"""What the bench knows of each pixel after a soak run, kept beside the run file and compared.

The lifetime comparison sees aging only through noisy luminance and an estimator; the bench
knows how far each pixel really aged (its hidden dose). Two pixels stressed for the same hours
on record that aged differently show that the faults changed what the pixel went through (a
voltage held after a sweep, a ramp left half-way); equal doses with different lifetimes point
at the estimator instead. The drive histories are saved so that any later question can be
asked of the run without running it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class PixelTruth:
    dose: float              # the aging law's hidden dose at the end of the run
    dose_rate_per_h: float   # its rate at the channel's stress current
    charge_mah_cm2: float


def pixel_truths(sites: Sequence, js: Sequence[float]) -> list[PixelTruth]:
    return [PixelTruth(s.pixel.dose, s.pixel.law.dose_rate_per_h(j), s.charge_mah_cm2)
            for s, j in zip(sites, js, strict=False)]


def save_truth(sites: Sequence, truths: Sequence[PixelTruth], wall_minus_monotonic: float,
               clock, path: Path) -> None:
    """Drive histories (device h, J, V or NaN) per pixel, doses, and the clock mapping."""
    arrays = {f"drive_{i + 1}": np.array([(h, j, np.nan if v is None else v)
                                          for h, j, v in s.drive_history], dtype=float)
              for i, s in enumerate(sites)}
    np.savez_compressed(
        path, **arrays, dose=np.array([t.dose for t in truths]),
        dose_rate_per_h=np.array([t.dose_rate_per_h for t in truths]),
        charge_mah_cm2=np.array([t.charge_mah_cm2 for t in truths]),
        clock=np.array([wall_minus_monotonic, clock._t0, clock.speedup]))


def extra_aging_h(faulty: Sequence[PixelTruth], twin: Sequence[PixelTruth],
                  faulty_h: Sequence[float], twin_h: Sequence[float]) -> list[float]:
    """How many hours at its stress current each faulty pixel aged beyond its twin, over and
    above what their stress times on record differ by (the runs stop on the first sample past
    max_time, which a fault can delay by tenths of an hour)."""
    return [((f.dose - t.dose) / t.dose_rate_per_h - (fh - th)) if t.dose_rate_per_h > 0 else 0.0
            for f, t, fh, th in zip(faulty, twin, faulty_h, twin_h, strict=False)]


def aging_figure(names: Sequence[str], extra_h: Sequence[float], hours: float) -> str:
    if not extra_h:
        return "no pixel"
    k = int(np.argmax(np.abs(extra_h)))
    mean = float(np.mean(np.abs(extra_h)))
    return (f"worst {names[k]}: {extra_h[k]:+.3f} h at its stress current "
            f"({extra_h[k] / hours:+.3%} of {hours:g} h); mean |{mean:.3f}| h")
