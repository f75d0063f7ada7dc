"""Lifetimes from a luminance trace under constant current.

Method (documented because it decides the numbers):
- samples in the hold-off after each interruption (the stress was off for a J–V/C–V and the
  turn-on transient replays: a brief recovery overshoot on the red device) are left out, as the
  live milestone detector leaves them out;
- a 5-point running median removes single wild readings (at a piece's ends, a reading more
  than 5 % off its neighbour);
- every smoother runs on each gap-free piece of the trace on its own (the hold-offs left out are
  gaps, and an interruption always ends a piece, even where its hole is no longer than the
  sampling steps around it), and a crossing in a gap is interpolated across it;
- L0 is the luminance as the stress reaches its set point (before the red device's turn-on
  dip), anchored by the first sample. The engine takes that one reading through the meter's repeat
  filter (100 integrations, ~0.01 % noise), because its noise is every T-value's error: with a
  plain reading (~0.1 %) a blue T95 carried ±2 % (a median over the first device-minute would
  average the early decay into L0). That reading comes seconds in on hardware, but on the
  virtual bench whenever the host gets to it, device-minutes in at a high speed-up, while a
  blue pixel decays fastest. So L0 is read at 10 s into the stress off a stretched-exponential
  fit of the early trace (``l0.py``), the same for every channel however late its first
  reading; a trace that is no such decay (red's turn-on dip and rise) keeps its first reading;
- Lmax and t_peak come from a heavy smoother, a centred least-squares line in time over ~31
  samples (or 1 % of the trace if longer): the maximum of a lightly smoothed noisy trace is
  biased up by the noise, which would make every T-from-Lmax early. The line reaches across the
  holes the faults left (no interruption in them, so no step), and a stretch between two
  interruptions too short for a quarter of its window holds no maximum: the maximum over many
  short, noisy lines was a selection of the noise. A trace that never rises significantly above
  L0 (its line's maximum within 2 standard errors of L0) has its maximum at the start: Lmax =
  L0, t_peak = t0; from 2 to 4 standard errors the maximum moves over to the line's
  continuously. A T-value's standard error includes that of its reference level (L0: a
  sample's noise over the root of the readings L0 integrates; Lmax: the heavy line's, and L0's
  as much as Lmax is L0), over the slope of the crossing's fit;
- T_x is the first time after the peak that a light smoother (a centred least-squares parabola
  over ~0.5 % of the trace, at least 9 samples; at the trace's ends the fit is read at the edge,
  so the end does not lag) falls below x·L0 (or x·Lmax), interpolated linearly between samples;
  the red device's rise, and its dip before it, are never mistaken for decay. That crossing is
  then read again on a parabola in time through the readings around it (as measured, the wild
  ones replaced): as many on each side as the light smoother spans (fewer near the start,
  where the early decay is too steep for a parabola), or, where the samples are dense (a
  log-spaced start), up to 60 a side within ±25 % of the crossing's time. The fit reaches
  across a hold-off gap, with a step term of its own for each gap an interruption made (not for
  a hole the faults left with the stress on): a milestone's J–V starts a
  hold-off right after the crossing, where the light smoother is read at a piece's end with
  about twice its centred noise, and that J–V ages a blue pixel by 0.2–0.3 %, a step a plain
  parabola over a wide window would bend into the crossing;
- gaps are steps longer than 3× the median of the ~15 steps around them, so a log-spaced
  start (steps of seconds, then minutes) is one piece;
- a level the trace never crosses is censored: ``None``, printed "> t_end". When the run itself
  stopped on that level (its live detector fired a sample or two before the trace ends, within
  noise of the level), the live crossing is used and marked as such.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import savgol_filter

from agelab.protocols.analysis.l0 import EarlyFit, read_back

DEFAULT_FRACTIONS = (0.97, 0.95, 0.90, 0.80, 0.70, 0.50)
PEAK_WINDOW = 31
# Samples in the light smoother: 9 rather than 5 halves a T90's noise-limited spread (σ 0.7 -> 0.5 %
# at 0.13 % photodiode noise and 1-min sampling, in 100 simulated noise draws per channel).
LIGHT_WINDOW = 9
# The crossing's local fit takes up to DENSE_N samples a side within ±DENSE_SPAN of its time
# (at a log-spaced start): a blue T90 at 50 mA/cm² σ 0.22 -> 0.17 % at 10-reading averages.
DENSE_SPAN, DENSE_N = 0.25, 60


@dataclass(frozen=True)
class Lifetimes:
    l0: float
    l_max: float
    t_peak_h: float
    t_end_h: float
    from_l0: dict[float, float | None]
    from_max: dict[float, float | None]
    live: set[str] = field(default_factory=set)  # keys like "T95_from_max" taken from the run
    # Standard error (h) of each T-value from its local fit's covariance (photodiode noise over
    # the local slope); None where the crossing was not re-read on a fit.
    sigma_l0: dict[float, float | None] = field(default_factory=dict)
    sigma_max: dict[float, float | None] = field(default_factory=dict)
    # L0 read off the early trace at its fixed time (``l0_fit``), or why the first reading
    # stayed L0 (``l0_kept``).
    l0_fit: EarlyFit | None = None
    l0_kept: str | None = None

    def sigma(self, fraction: float, from_max: bool = False) -> float | None:
        return (self.sigma_max if from_max else self.sigma_l0).get(fraction)

    def label(self, fraction: float, from_max: bool = False) -> str:
        """'12.3 h', or '> 24.9 h' when censored."""
        value = (self.from_max if from_max else self.from_l0).get(fraction)
        return f"> {self.t_end_h:.4g} h" if value is None else f"{value:.4g} h"


def _odd(n: int, most: int) -> int:
    n = min(n, most)
    return n if n % 2 else n - 1


def smooth(y: np.ndarray, window: int, order: int) -> np.ndarray:
    """A centred least-squares polynomial of ``order`` over ``window`` samples (read at the
    edges too, so the ends do not lag)."""
    window = _odd(window, len(y))
    if window <= order + 1:
        return y
    return savgol_filter(y, window, order, mode="interp")


def gap_free(t: np.ndarray, factor: float = 3.0) -> list[slice]:
    """The runs of ``t`` with no step longer than ``factor`` × the median of the steps around
    it (a local median: a log-spaced start has steps from seconds to the steady interval)."""
    if len(t) < 3:
        return [slice(0, len(t))]
    steps = np.diff(t)
    local = median_filter(steps, size=min(15, len(steps)), mode="nearest")
    breaks = (np.nonzero(steps > factor * local)[0] + 1).tolist()
    edges = [0, *breaks, len(t)]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


GROSS = 0.05  # an end reading this far from its neighbour is wild (a dark pixel, a glitch)


def despike(y: np.ndarray) -> np.ndarray:
    """A 5-point running median (the end repeated, so a trend is not bent at a piece's end),
    and an end reading more than ``GROSS`` off its neighbour replaced by it: the median keeps a
    wild end reading as its own median (a pixel read dark after a reboot, last before a
    hold-off gap, would otherwise be a crossing)."""
    if len(y) < 3:
        return y
    out = median_filter(y, size=min(5, len(y)), mode="nearest")
    for end, neighbour in ((0, 1), (-1, -2)):
        ref = out[neighbour]
        if ref and abs(y[end] / ref - 1.0) > GROSS:
            out[end] = ref
    return out


def piecewise(apply, y: np.ndarray, pieces: list[slice]) -> np.ndarray:
    out = np.empty_like(y)
    for piece in pieces:
        out[piece] = apply(y[piece])
    return out


def _refined(t: np.ndarray, y: np.ndarray, level: float, t_cross: float, half_n: int,
             breaks: Mapping[int, float] | None = None
             ) -> tuple[float, float | None, float | None]:
    """The crossing read again on a parabola in time through the ``half_n`` samples on each
    side of it, across any gap: the light smoother, read at a piece's end (where a milestone's
    J–V starts a hold-off), carries about twice the noise of a fit centred on the crossing.
    Each gap in the window (``breaks``: the indices where a gap-free piece starts, each with
    the time its step happened) gets its own step term, because the sweep in it aged the
    pixel: a J–V steps a blue trace down 0.2–0.3 %.
    Returns the time, its standard error from the fit's covariance and the fit's slope there
    (None, None if not re-read; a time of None where the readings hold no root nearby)."""
    i = int(np.searchsorted(t, t_cross))
    # No nearer the start than the crossing is to it: the early decay is too steep for a
    # parabola there.
    half_n = min(half_n, i // 2)
    lo, hi = i - half_n, min(len(t), i + half_n)
    # Where the samples are dense (a log-spaced start), more of them: up to DENSE_N a side
    # within ±DENSE_SPAN of the crossing's time.
    near_lo = int(np.searchsorted(t, t_cross * (1 - DENSE_SPAN)))
    near_hi = int(np.searchsorted(t, t_cross * (1 + DENSE_SPAN)))
    lo, hi = min(lo, max(near_lo, i - DENSE_N)), max(hi, min(near_hi, i + DENSE_N, len(t)))
    breaks = breaks or {}
    steps = sorted(k for k in breaks if lo + 3 <= k <= hi - 3)  # samples on both sides
    if hi - lo < 7 + len(steps):
        return t_cross, None, None
    x = t[lo:hi] - t_cross
    design = np.column_stack([x * x, x, np.ones_like(x)]
                             + [(np.arange(lo, hi) >= k).astype(float) for k in steps])
    coeffs, *_ = np.linalg.lstsq(design, y[lo:hi], rcond=None)
    dof = len(x) - design.shape[1]
    residual = y[lo:hi] - design @ coeffs
    cov = np.linalg.pinv(design.T @ design) * float(residual @ residual) / max(dof, 1)
    a, b, c = coeffs[:3]
    # Each piece's curve: the parabola plus the steps before it; a root counts on its own
    # piece, which starts where its step happened. A root in a gap before its interruption is
    # on the piece before; after it, on the piece after (a long hole can hold a checkpoint
    # and a crossing after it).
    edges = [x[0], *(breaks[k] - t_cross for k in steps), np.inf]
    found: list[tuple[float, int]] = []
    for piece in range(len(steps) + 1):
        offset = float(np.sum(coeffs[3:3 + piece]))
        for r in np.roots([a, b, c + offset - level]):
            if (abs(r.imag) < 1e-12 and edges[piece] <= r.real < edges[piece + 1]
                    and r.real <= x[-1]):
                found.append((float(r.real), piece))
        if piece:
            # The step itself may carry the curve across the level: the crossing is the sweep.
            e = edges[piece]
            before = a * e * e + b * e + c + offset - float(coeffs[2 + piece]) - level
            if before * (before + float(coeffs[2 + piece])) < 0:
                found.append((float(e), piece - 1))
    if not found:  # the readings around it do not cross: no crossing here
        return None, None, None
    r, piece = min(found, key=lambda item: abs(item[0]))
    slope = 2 * a * r + b
    gradient = np.array([r * r, r, 1.0] + [1.0 if n < piece else 0.0 for n in range(len(steps))])
    spread = float(np.sqrt(max(gradient @ cov @ gradient, 0.0)))
    if not slope:
        return float(t_cross + r), None, None
    return float(t_cross + r), spread / abs(slope), float(slope)


def _window_sum(a: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The sums of ``a[lo:hi]`` for each pair of bounds, from one running sum."""
    c = np.concatenate([[0.0], np.cumsum(a)])
    return c[hi] - c[lo]


def local_lines(t: np.ndarray, y: np.ndarray, segments: list[slice], n: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The heavy smoother: at each sample, a least-squares line in time through the ``n``
    samples of its segment around it (fewer in a short segment; off-centre at a segment's
    ends, so they do not lag), and that line's standard error there per unit of the readings'
    noise. In time, not sample index, so it reaches across a hole in the sampling unbent."""
    value, spread = y.astype(float), np.ones(len(y))
    for seg in segments:
        size = seg.stop - seg.start
        w = min(n, size)
        if w <= 2:
            continue  # too few for a line: each reading is its own, at its own noise
        x = t[seg] - t[seg].mean()
        v = y[seg] - y[seg].mean()  # centred: the running sums keep their precision
        lo = np.clip(np.arange(size) - w // 2, 0, size - w)
        hi = lo + w
        sx, sy = _window_sum(x, lo, hi), _window_sum(v, lo, hi)
        sxx, sxy = _window_sum(x * x, lo, hi), _window_sum(x * v, lo, hi)
        mx, my = sx / w, sy / w
        var_x = sxx - w * mx * mx
        slope = np.divide(sxy - w * mx * my, var_x, out=np.zeros(size), where=var_x > 0)
        value[seg] = my + slope * (x - mx) + y[seg].mean()
        spread[seg] = np.sqrt(1.0 / w + np.divide((x - mx) ** 2, var_x, out=np.zeros(size),
                                                  where=var_x > 0))
    return value, spread


def _crossing(t: np.ndarray, y: np.ndarray, level: float, start: int) -> float | None:
    below = np.nonzero(y[start:] < level)[0]
    if below.size == 0:
        return None
    i = start + int(below[0])
    if i == 0:
        return float(t[0])
    t0, t1, y0, y1 = t[i - 1], t[i], y[i - 1], y[i]
    if y1 == y0:
        return float(t1)
    return float(t0 + (level - y0) * (t1 - t0) / (y1 - y0))


def _confirmed_crossing(t: np.ndarray, light: np.ndarray, clean: np.ndarray, level: float,
                        start: int, half_n: int, breaks: Mapping[int, float]
                        ) -> tuple[float | None, float | None, float | None]:
    """The light line's first crossing of ``level`` that the readings around it confirm
    (``_refined``). One they do not is the light line's noise at a short piece's edge (between
    close hold-offs), and the search goes on past it."""
    while True:
        value = _crossing(t, light, level, start)
        if value is None:
            return None, None, None
        refined = _refined(t, clean, level, value, half_n, breaks)
        if refined[0] is not None:
            return refined
        start = max(int(np.searchsorted(t, value, side="right")), start + 1)


def key(fraction: float, from_max: bool) -> str:
    return f"T{round(fraction * 100)}" + ("_from_max" if from_max else "")


def lifetimes(t_h: np.ndarray, luminance: np.ndarray,
              fractions: tuple[float, ...] = DEFAULT_FRACTIONS, l0_window_h: float = 0.0,
              exclude: np.ndarray | None = None, live: dict[str, float] | None = None,
              steps_h: Sequence[float] | None = None, l0_readings: float = 1.0,
              l0_due_h: float | None = None) -> Lifetimes:
    """``exclude`` masks samples to leave out (hold-offs); ``live`` maps keys such as "T50" or
    "T95_from_max" to the run's own live crossing times, used only for censored levels.
    ``steps_h``: the stress times of the interruptions whose sweeps may have stepped the trace;
    only a gap holding one gets a step term (None: every gap may). ``l0_readings``: how many
    samples' worth of readings L0 integrates (its noise is that of a sample over its root).
    ``l0_due_h``: the stress time L0 is read at off the early trace (``l0.py``; None: L0 is
    the first reading)."""
    t = np.asarray(t_h, dtype=float)
    y = np.asarray(luminance, dtype=float)
    if t.shape != y.shape or t.size < 2:
        raise ValueError("lifetimes need matching time and luminance arrays of 2+ samples")
    first = max(1, int(np.count_nonzero(t - t[0] <= l0_window_h)))
    l0 = float(np.median(y[:first]))
    if exclude is not None and np.count_nonzero(~exclude) >= 2:
        t, y = t[~exclude], y[~exclude]
    pieces, breaks = _pieces(t, steps_h)
    despiked = piecewise(despike, y, pieces)
    heavy_n, light_n = max(PEAK_WINDOW, len(y) // 100), max(LIGHT_WINDOW, len(y) // 200)
    clean = _without_wild(y, despiked)
    light = piecewise(lambda v: smooth(v, light_n, 2), despiked, pieces)
    i_peak, l_max, sigma_peak = _heavy_peak(t, despiked, clean, light, breaks, heavy_n)
    # L0's own error moves every level taken from it: a sample's noise over the root of the
    # readings L0 integrates.
    start = slice(0, min(heavy_n, len(y)))
    sigma_l0 = 1.4826 * float(np.median(np.abs(clean[start] - light[start]))) / np.sqrt(
        max(l0_readings, 1.0))
    l0_fit, l0_kept = None, None
    if l0_due_h is not None and first == 1:
        # Up to the first interruption: its sweep stepped the trace.
        early = read_back(t, np.concatenate([[l0], clean[1:]]), l0_due_h,
                          min(breaks.values(), default=np.inf), l0_readings)
        if isinstance(early, EarlyFit):
            l0_fit, l0, sigma_l0 = early, early.l0, early.sigma
        else:
            l0_kept = early
    i_peak, l_max, sigma_peak = _maximum_against_l0(i_peak, l_max, sigma_peak, l0, sigma_l0)
    out = Lifetimes(l0=l0, l_max=l_max, t_peak_h=float(t[i_peak]), t_end_h=float(t[-1]),
                    from_l0={}, from_max={}, l0_fit=l0_fit, l0_kept=l0_kept)
    _read_crossings(out, t, light, clean, i_peak, light_n, breaks, fractions,
                    {False: sigma_l0, True: sigma_peak}, live or {})
    return out


def _pieces(t: np.ndarray, steps_h: Sequence[float] | None
            ) -> tuple[list[slice], dict[int, float]]:
    """The gap-free pieces the smoothers run on (a filter over sample indices would bend the
    curve across a gap as if no time had passed), and where each step is: the index a piece
    starts at, with the stress time of the interruption in its gap (only gaps that hold one:
    a hole the faults left with the stress on throughout has no step, and a step term there
    widens a crossing's spread for nothing). An interruption always ends a piece, even where
    its hold-off left a hole shorter than the gap rule sees."""
    pieces = gap_free(t)
    breaks = {p.start: float(t[p.start]) for p in pieces[1:]}
    if steps_h is None:
        return pieces, breaks
    marks = np.asarray(sorted(steps_h), dtype=float)
    forced = np.searchsorted(t, marks, side="right")
    edges = sorted({0, len(t), *breaks, *(int(k) for k in forced if 0 < k < len(t))})
    pieces = [slice(a, b) for a, b in itertools.pairwise(edges)]
    breaks = {}
    for p in pieces[1:]:
        inside = marks[(marks >= t[p.start - 1]) & (marks < t[p.start])]
        if inside.size:
            breaks[p.start] = float(inside[0])
    return pieces, breaks


def _without_wild(y: np.ndarray, despiked: np.ndarray) -> np.ndarray:
    """The readings as measured (their noise independent, so a local fit's covariance is their
    error), with the wild ones replaced by the running median. Wild is judged relative to the
    reading, as the photodiode's noise is (a blue trace falls 8-fold over a run), over the
    readings that moved (those that are their own running median deviate by exactly 0)."""
    scale = np.maximum(np.abs(despiked), np.finfo(float).tiny)
    deviation = np.abs(y - despiked) / scale
    moved = deviation[deviation > 0]
    wild = deviation > 6 * 1.4826 * float(np.median(moved) if moved.size else 0.0)
    return np.where(wild, despiked, y)


def _heavy_peak(t: np.ndarray, despiked: np.ndarray, clean: np.ndarray, light: np.ndarray,
                breaks: Mapping[int, float], heavy_n: int) -> tuple[int, float, float]:
    """The maximum of the heavy line (its index, level and standard error). The line reaches
    across the holes the faults left (no step in them); split there, the maximum over many
    short, noisy lines would be a selection of the noise. A segment too short for a line of a
    quarter of the window holds no maximum (unless nothing longer exists)."""
    edges = [0, *sorted(breaks), len(t)]
    segments = [slice(a, b) for a, b in itertools.pairwise(edges)]
    heavy, spread = local_lines(t, despiked, segments, heavy_n)
    sizes = np.concatenate([np.full(sg.stop - sg.start, sg.stop - sg.start) for sg in segments])
    usable = sizes >= max(3, heavy_n // 4)
    candidates = np.where(usable, heavy, -np.inf) if usable.any() else heavy
    i_peak = int(np.argmax(candidates))
    l_max = float(heavy[i_peak])
    # A sample's noise as a share of its reading, carried to the maximum's level.
    light_scale = np.maximum(np.abs(light), np.finfo(float).tiny)
    relative_noise = 1.4826 * float(np.median(np.abs(clean - light) / light_scale))
    return i_peak, l_max, relative_noise * abs(l_max) * float(spread[i_peak])


def _maximum_against_l0(i_peak: int, l_max: float, sigma_peak: float, l0: float,
                        sigma_l0: float) -> tuple[int, float, float]:
    """Lmax where the trace is never significantly above L0 (the blue device) is L0 at t0: the
    heavy line read at the trace's start sits below a convex early decay, which would make
    every T-from-Lmax late. So that noise does not decide at a hard switch, from 2 to 4
    standard errors above L0 the maximum moves over to the line's continuously. Lmax's error
    carries L0's as much as the maximum is L0."""
    excess = l_max - l0
    weight = min(max((excess - 2 * sigma_peak) / (2 * sigma_peak), 0.0), 1.0) if (
        sigma_peak > 0) else float(excess > 0)
    if weight == 0.0:
        i_peak, l_max = 0, l0
    else:
        l_max = l0 + weight * excess
    sigma = float(np.hypot(sigma_peak if excess > 0 else 0.0, (1 - weight) * sigma_l0))
    return i_peak, l_max, sigma


def _read_crossings(out: Lifetimes, t: np.ndarray, light: np.ndarray, clean: np.ndarray,
                    i_peak: int, light_n: int, breaks: Mapping[int, float],
                    fractions: tuple[float, ...], sigma_ref: Mapping[bool, float],
                    live: Mapping[str, float]) -> None:
    """Every T-value from L0 and from Lmax, with its standard error, into ``out``; a level not
    crossed takes the run's live crossing where it has one, else stays censored."""
    for f in fractions:
        for from_max, table, ref in ((False, out.from_l0, out.l0),
                                     (True, out.from_max, out.l_max)):
            value, sigma, rate = _confirmed_crossing(t, light, clean, f * ref, i_peak, light_n,
                                                     breaks)
            if value is not None and sigma is not None and rate:
                # The reference's own error moves the level crossed: f·σ(ref) over the fit's
                # slope there (the light line's own gradient is mostly noise).
                sigma = float(np.hypot(sigma, f * sigma_ref[from_max] / abs(rate)))
            (out.sigma_max if from_max else out.sigma_l0)[f] = sigma
            k = key(f, from_max)
            if value is None and k in live:
                value = float(live[k])
                out.live.add(k)
            table[f] = value
    if out.l_max == out.l0:  # the maximum is L0: from Lmax is from L0 (a live crossing too)
        out.from_max.update(out.from_l0)
        out.live.update(key(f, True) for f in fractions if key(f, False) in out.live)
