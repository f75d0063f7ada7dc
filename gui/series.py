"""A time series for live plots whose memory does not grow with the length of the run.

``DecimatingSeries`` keeps at most ``capacity`` buckets. Each bucket stands for ``bucket_size``
raw samples and keeps their minimum and maximum (with their times), so a plot of it shows the
noise envelope and every spike that a plot of all the samples would show, at a fixed cost. When
the buckets run out, neighbours merge in pairs and the bucket size doubles. The newest samples,
not yet a full bucket, are kept raw, so the live end of a curve is always at full resolution.

A 1000-hour run sampled every second (3.6 million samples) costs at most ``capacity`` buckets of
six floats plus one partial bucket, whatever the length of the run.
"""

from __future__ import annotations

import numpy as np

_FIELDS = 6  # t_lo, y_lo, t_hi, y_hi (the min and the max, each with its time), t_first, t_last
TAIL_POINTS = 256


class DecimatingSeries:
    def __init__(self, capacity: int = 2048) -> None:
        if capacity < 4:
            raise ValueError("capacity must be at least 4 buckets")
        self.capacity = capacity
        self.bucket_size = 1
        self._buckets = np.empty((0, _FIELDS))
        self._raw_t = np.empty(0)
        self._raw_y = np.empty(0)
        self.count = 0  # raw samples seen
        self.first: float | None = None  # the first finite value seen (L0 for luminance)
        self.last: tuple[float, float] | None = None
        self._start = np.empty(0), np.empty(0)  # the very first sample, always drawn

    def __len__(self) -> int:
        return self.count

    def clear(self) -> None:
        self.__init__(self.capacity)

    def extend(self, t: np.ndarray, y: np.ndarray) -> None:
        """Add samples (in time order). Vectorised: a whole history costs one pass."""
        t = np.asarray(t, dtype=float).ravel()
        y = np.asarray(y, dtype=float).ravel()
        if t.size == 0:
            return
        if t.size != y.size:
            raise ValueError("t and y differ in length")
        self.count += t.size
        finite = np.flatnonzero(np.isfinite(y))
        if self.first is None and finite.size:
            self.first = float(y[finite[0]])
        self.last = (float(t[-1]), float(y[-1]))
        if self.count == t.size:
            self._start = t[:1].copy(), y[:1].copy()
        raw_t = np.concatenate([self._raw_t, t])
        raw_y = np.concatenate([self._raw_y, y])
        while len(self._buckets) + raw_t.size // self.bucket_size > self.capacity:
            self._merge()
        full = raw_t.size // self.bucket_size * self.bucket_size
        if full:
            self._buckets = np.concatenate(
                [self._buckets, _reduce(raw_t[:full], raw_y[:full], self.bucket_size)])
        self._raw_t, self._raw_y = raw_t[full:].copy(), raw_y[full:].copy()

    def _merge(self) -> None:
        """Halve the buckets: neighbours merge (min of minima, max of maxima)."""
        b = self._buckets
        odd = b[-1:] if len(b) % 2 else b[:0]
        pairs = b[: len(b) - len(odd)].reshape(-1, 2, _FIELDS)
        merged = np.empty((len(pairs), _FIELDS))
        lo = np.argmin(pairs[:, :, 1], axis=1)
        hi = np.argmax(pairs[:, :, 3], axis=1)
        rows = np.arange(len(pairs))
        merged[:, 0], merged[:, 1] = pairs[rows, lo, 0], pairs[rows, lo, 1]
        merged[:, 2], merged[:, 3] = pairs[rows, hi, 2], pairs[rows, hi, 3]
        merged[:, 4], merged[:, 5] = pairs[:, 0, 4], pairs[:, 1, 5]
        self._buckets = np.concatenate([merged, odd])
        self.bucket_size *= 2

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Points to draw, in time order: the first sample, each bucket's min and max (in the
        order they happened), then the partial bucket. At most 2·capacity + TAIL_POINTS + 1
        points (about)."""
        t, y = _interleave(self._buckets)
        start_t, start_y = self._start if self.bucket_size > 1 else (np.empty(0), np.empty(0))
        tail_t, tail_y = self._tail()
        return (np.concatenate([start_t, t, tail_t]), np.concatenate([start_y, y, tail_y]))

    def _tail(self) -> tuple[np.ndarray, np.ndarray]:
        """The partial bucket: raw when short; else its older part as min/max pairs of
        smaller buckets, so the newest end costs at most about ``TAIL_POINTS`` points."""
        n = self._raw_t.size
        if n <= TAIL_POINTS:
            return self._raw_t, self._raw_y
        size = -(-n // (TAIL_POINTS // 2))
        full = (n - TAIL_POINTS // 4) // size * size
        t, y = _interleave(_reduce(self._raw_t[:full], self._raw_y[:full], size))
        return (np.concatenate([t, self._raw_t[full:]]), np.concatenate([y, self._raw_y[full:]]))

    @property
    def nbytes(self) -> int:
        return self._buckets.nbytes + self._raw_t.nbytes + self._raw_y.nbytes


def _interleave(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each bucket's min and max as two points, in the order they happened."""
    lo_first = b[:, 0] <= b[:, 2]
    t = np.where(lo_first[:, None], b[:, [0, 2]], b[:, [2, 0]]).ravel()
    y = np.where(lo_first[:, None], b[:, [1, 3]], b[:, [3, 1]]).ravel()
    return t, y


def _reduce(t: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
    """Whole buckets of ``size`` samples into rows of (t_lo, y_lo, t_hi, y_hi, t0, t1). NaN
    readings (a failed sample) are skipped; a bucket of only NaN draws as a gap."""
    tt, yy = t.reshape(-1, size), y.reshape(-1, size)
    rows = np.arange(len(tt))
    out = np.empty((len(tt), _FIELDS))
    if size == 1:
        out[:, 0] = out[:, 2] = tt[:, 0]
        out[:, 1] = out[:, 3] = yy[:, 0]
    else:
        nan = np.isnan(yy)
        lo = np.argmin(np.where(nan, np.inf, yy), axis=1)
        hi = np.argmax(np.where(nan, -np.inf, yy), axis=1)
        out[:, 0], out[:, 1] = tt[rows, lo], yy[rows, lo]
        out[:, 2], out[:, 3] = tt[rows, hi], yy[rows, hi]
    out[:, 4], out[:, 5] = tt[:, 0], tt[:, -1]
    return out
