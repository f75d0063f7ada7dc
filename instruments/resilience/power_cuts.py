"""When did a power cut switch an output off? What the bus saw, weighed.

A reconnect that finds a source-meter's output off after failed attempts knows that the meter
lost power in one of them, not in which. Three clues narrow it down:

- IEEE 488.2's power-on bit (PON, bit 7 of ``*ESR?``), which reading clears: each reconnect
  reads it, so a "no" rules out a power cut before that read, and the first "yes" puts the cut
  between the read before it and this one;
- how each attempt failed: a garbled reply came from a meter with power, while a lost reply or
  a lost link may have been a power cut (the virtual bench's reboots take no time, so how soon
  the meter answered again says nothing there);
- the meter's own clock, which dates its last power-on (``uptime_s``).

Where they leave more than one failed attempt that may have been the cut, the estimate is the
expected time of the first cut among them, each attempt weighed by how often such an attempt
has been a power cut on this meter: the reconnects whose power-on read followed exactly one
such attempt tell (a "yes" counts one cut, a "no" one lost reply; even odds before any). At
even odds two alike attempts put the start a third of the way from the first to the second
(the first is the cut 2 times in 3); on a meter that only reboots, at the first; on one whose
replies are often lost, near midway. (The virtual bench's lost replies, lost links and power
cuts come equally often, so its record settles near one cut in three.)
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

# A failed attempt that ended this close after the dated power-on was the one that met it.
_SAME_S = 0.02


@dataclass
class _Failure:
    began: float
    ended: float
    kind: str

    @property
    def may_be_cut(self) -> bool:
        return self.kind in ("link-lost", "timeout")


class PowerCutClues:
    """The clues gathered since the output was last seen as it should be."""

    def __init__(self, now: float) -> None:
        self._read_ok = now          # the last power-on bit read that came back
        self._read_failed = -math.inf  # the last that did not (it may have cleared the bit)
        self.clock_dates_it = True   # False once a later power cycle owns the meter's clock
        self._suspects_since_read = 0
        self.cuts, self.decided = 0, 0  # lone suspect attempts that were power cuts, of those read
        self.seen(now)

    def seen(self, at: float) -> None:
        """The output was as it should be at ``at``: no power cut before then matters."""
        self.after = at
        self.failures: list[_Failure] = []
        # The first power-on read since: (no cut before, read at, the attempts failed between).
        self.window: tuple[float, float, list[_Failure]] | None = None
        self.clock_dates_it = True

    def failed(self, began: float, ended: float, kind: str) -> None:
        failure = _Failure(began, ended, kind)
        self.failures.append(failure)
        self._suspects_since_read += failure.may_be_cut

    @property
    def cut_odds(self) -> float:
        """How likely an attempt lost on the bus was a power cut, on this meter's record."""
        return (self.cuts + 1) / (self.decided + 2)

    def cleared(self, at: float) -> None:
        """The bit was read (and cleared) on the first connect: only a start for the chain."""
        self._read_ok, self._suspects_since_read = at, 0

    def power_on_read(self, at: float, powered_on: bool | None) -> None:
        """The power-on bit as read at ``at`` (None: the read failed, and it may have cleared
        the bit all the same, so the next read proves nothing before this one)."""
        suspects, self._suspects_since_read = self._suspects_since_read, 0
        if powered_on is None:
            self._read_failed = at
            return
        last_sent = max(self._read_ok, self._read_failed)
        clean = self._read_failed <= self._read_ok
        if clean and suspects == 1:  # one attempt alone between two reads: it is decided
            self.cuts, self.decided = self.cuts + powered_on, self.decided + 1
        previous, self._read_ok = self._read_ok, at
        if self.window is not None:
            return  # the first cut is placed; later ones belong to the meter's clock
        if not powered_on:
            if last_sent <= self.after:  # no power-on since before the lower bound
                self.after, self.failures = at, []
        elif clean:
            lower = max(self.after, previous)
            # An attempt that began before the lower bound and failed after it may hold the cut.
            self.window = (lower, at, [f for f in self.failures if f.ended > lower])

    def snapshot(self) -> PowerCutClues:
        return copy.deepcopy(self)

    def off_since(self, powered_at: float | None, until: float) -> float:
        """The best estimate of when the output went off, given the meter's dated last power-on
        (None: unread, or owned by a later power cycle) and when it came back (``until``)."""
        clock = powered_at if self.clock_dates_it else None
        if self.window is not None:
            lower, read_at, failures = self.window
            # Dated inside the window only clear of its read: the clock's date is the uptime
            # query's midpoint less the uptime, ms off under load, and a power cycle met just
            # after the read (on the restore's first query) was dated 1.2 ms before it on a
            # busy host, so taken for the cut the read saw (the outage 0.23 s late). A power
            # cycle the read saw came at least a failed attempt before it.
            if clock is not None and lower <= clock <= read_at - _SAME_S:
                return self._around(failures, clock)
            suspects = [f for f in failures if f.may_be_cut] or failures
            if not suspects:
                return lower
            return _first_cut([max(f.began, lower) for f in suspects], self.cut_odds, False)
        if clock is None:
            return self.after
        return self._around(self.failures, min(max(self.after, clock), until))

    def _around(self, failures: list[_Failure], powered_at: float) -> float:
        """The dated power-on, unless earlier failed attempts may have been power cuts of their
        own (alike on the bus): then the expected first of them and it."""
        earlier = [f.began for f in failures if f.may_be_cut and f.ended < powered_at - _SAME_S]
        return _first_cut([*earlier, powered_at], self.cut_odds, True)


def _first_cut(times: list[float], odds: float, last_certain: bool) -> float:
    """The expected time of the first power cut among ``times`` (ascending), each a cut with
    probability ``odds`` on its own, the last surely one if ``last_certain``, at least one in
    any case."""
    weights = [odds * (1 - odds) ** k for k in range(len(times))]
    if last_certain:
        weights[-1] = (1 - odds) ** (len(times) - 1)
    return sum(w * t for w, t in zip(weights, times, strict=True)) / sum(weights)
