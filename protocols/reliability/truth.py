"""What the bench knows of each pixel after a soak run, kept beside the run file and compared.

The lifetime comparison sees aging only through noisy luminance and an estimator; the bench
knows how far each pixel really aged (its hidden dose). Two pixels stressed for the same hours
on record that aged differently show that the faults changed what the pixel went through (a
voltage held after a sweep, a ramp left half-way); equal doses with different lifetimes point
at the estimator instead. The drive histories are saved so that any later question can be
asked of the run without running it again.

The truth's own lifetimes go further: each pixel is aged again, noise-free, through the drives
its bench applied, and read at the moments the run sampled it, against the stress time the run
put on each sample. Those T-values are what a perfect estimator would report for that run; the
faulty run's against the twin's measure what the faults did to the clock and to the pixel, and
each run's estimates against its own truth measure the estimator.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agelab.instruments.station.virtual import QledPixel
from agelab.protocols.analysis.study import lifetimes_of_run
from agelab.protocols.reliability.clock_check import WallToDevice
from agelab.protocols.store import RunFile


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


def aged_through(px: QledPixel, history: Sequence[tuple[float, float, float | None]],
                 device_h: Iterable[float]) -> Iterator[QledPixel]:
    """``px`` aged through ``history`` (device h, J, V or None/NaN; a drive applies from its
    moment on, and a voltage drive passes what the pixel draws at it, read again at each of
    ``device_h`` as the pixel ages), as it stands at each of ``device_h`` (ascending). The one
    replay of a bench's truth: the soak's and the analysis tests' both."""
    t, j, volts, k = 0.0, 0.0, None, 0
    for target in device_h:
        while k < len(history) and history[k][0] <= target:
            t_next, j_next, v_next = history[k]
            _age(px, t_next - t, j, volts)
            t, j, k = max(t, t_next), j_next, k + 1
            volts = None if v_next is None or np.isnan(v_next) else float(v_next)
        _age(px, target - t, j, volts)
        t = max(t, target)
        yield px


def _age(px: QledPixel, dt_h: float, j: float, volts: float | None) -> None:
    if dt_h > 0:
        px.advance(dt_h, j if volts is None else float(px.current_density(volts)))


def replayed_trace(preset: str, seed: int, j: float,
                   history: Sequence[tuple[float, float, float | None]],
                   device_h: np.ndarray) -> np.ndarray:
    """A fresh pixel aged through ``history``: its noise-free photocurrent at ``j`` at each of
    ``device_h`` (ascending); NaN throughout with no history."""
    if not len(history):
        return np.full(len(device_h), np.nan)
    pixels = aged_through(QledPixel(preset, seed=seed), history, device_h)
    return np.array([px.photodiode_current(j) for px in pixels], dtype=float)


def true_lifetimes(run_path: Path, channels: Sequence[tuple[str, str, float, int]],
                   histories: Sequence[Sequence[tuple[float, float, float | None]]],
                   to_device: WallToDevice, fractions: Sequence[float]
                   ) -> dict[str, dict[tuple[float, bool], float | None]]:
    """(name, preset, J, seed) per channel: the T-values of its replayed trace, by
    (fraction, from Lmax), on the run's stress time."""
    out: dict[str, dict[tuple[float, bool], float | None]] = {}
    with RunFile(run_path) as run:
        config = run.meta().get("config") or {}
        for (name, preset, j, seed), history in zip(channels, histories, strict=False):
            # Read where the run read a luminance, and through the same hold-offs and steps:
            # a truth taken another way differs from the estimate by the method, not noise.
            s = run.samples(name, ("t_h", "wall", "l_cd_m2"))
            s = s[np.isfinite(s[:, 2])]
            if len(s) < 2 or not history:
                continue
            trace = replayed_trace(preset, seed, j, history, to_device(s[:, 1]))
            ok = np.isfinite(trace)
            if np.count_nonzero(ok) < 2:
                continue
            cfg = next((c for c in config.get("channels", []) if c.get("name") == name), {})
            found = lifetimes_of_run(run, name, s[ok, 0], trace[ok], cfg)
            out[name] = {(f, m): (found.from_max if m else found.from_l0).get(f)
                         for f in fractions for m in (False, True)}
    return out


@dataclass(frozen=True)
class TruthRow:
    channel: str
    key: str
    truth_faulty: float
    truth_twin: float
    est_faulty: float
    est_twin: float


def truth_rows(names: Sequence[str], keys: Sequence[tuple[str, tuple[float, bool]]],
               est_faulty: dict, est_twin: dict, true_faulty: dict, true_twin: dict
               ) -> list[TruthRow]:
    """Every T-value that all four (two estimates, two truths) resolved."""
    rows = []
    for name in names:
        for label, key in keys:
            values = (true_faulty.get(name, {}).get(key), true_twin.get(name, {}).get(key),
                      est_faulty.get(name, {}).get(label, (None,))[0],
                      est_twin.get(name, {}).get(label, (None,))[0])
            if all(v for v in values):
                rows.append(TruthRow(name, label, *values))
    return rows


def write_truth_rows(rows: Sequence[TruthRow], path: Path) -> None:
    path.write_text("channel,t_value,truth_faulty_h,truth_twin_h,estimate_faulty_h,"
                    "estimate_twin_h\n" + "".join(
                        f"{r.channel},{r.key},{r.truth_faulty:.5g},{r.truth_twin:.5g},"
                        f"{r.est_faulty:.5g},{r.est_twin:.5g}\n" for r in rows))


def truth_figures(rows: Sequence[TruthRow]) -> dict[str, str]:
    """Where a difference from the twin comes from: the truths apart (clock, aging), or an
    estimate apart from its own truth (noise, the estimator)."""
    if not rows:
        return {}

    def worst(pairs: list[tuple[float, str]]) -> str:
        share, where = max(pairs, key=lambda p: abs(p[0]))
        within = sum(abs(p) <= 0.01 for p, _ in pairs)
        return f"worst {where} {share:+.2%}; {within}/{len(pairs)} within 1 %"

    apart = [(r.truth_faulty / r.truth_twin - 1, f"{r.channel} {r.key}") for r in rows]
    est = [(r.est_faulty / r.truth_faulty - 1, f"{r.channel} {r.key} (faulty)") for r in rows]
    est += [(r.est_twin / r.truth_twin - 1, f"{r.channel} {r.key} (twin)") for r in rows]
    return {"noise-free truth, faulty vs twin": worst(apart),
            "estimates vs their own truth": worst(est)}
