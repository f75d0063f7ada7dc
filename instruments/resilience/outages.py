"""The account of an instrument's output across faults: outages, and stress lost or gained.

The resilience layer keeps one ``OutputAccount`` for each driver that declares an output
(``Capability.OUTPUT``). A restore after a reconnect reads the output's state before it replays
the journal, and what it finds is booked here:

- found off where the journal has it on (a reboot): an **outage**, from when the output was last
  known as it should be (placed by the power-cut clues and the meter's own clock, see
  ``power_cuts``) to the middle of the replayed ramp that put it back;
- found on below its level (a ramp cut short by a lost link): a partial outage, the missing share
  of the level over the same span;
- found on where the journal has it off during a ramp up (the ramp went through, its end was
  lost): a **surplus**, stress given while the clock stood still, closed by the replay that ramps
  it off before the retry.

Each closes with one ``output-restored`` fault event carrying the seconds' worth of stress lost
(``output_off_s``) or gained (``output_on_s``); the engine's stress clock books them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from agelab.instruments.resilience.faults import FaultEvent
from agelab.instruments.resilience.power_cuts import PowerCutClues
from agelab.instruments.roles import RampTiming

RAMPS = {"ramp_current": "current", "ramp_voltage": "voltage"}  # ramp calls: their mode
PARTIAL = 0.995  # an output found on below this share of its level was left part-way on a ramp

Journal = dict[str, tuple[str, tuple, dict]]


@dataclass
class Outage:
    """An output found off, or short of its level, and not yet put back."""

    since: float                  # wall time it was last known as it should be
    clues: PowerCutClues | None   # what dates its power cut (None: no power cut to date)
    missing: float                # the share of the level missing: 1 when off


@dataclass(frozen=True)
class Surplus:
    """An output found on that the journal has off, while a ramp up was under way."""

    since: float   # wall time it was last known as it should be
    share: float   # the share of that ramp's level found


@dataclass(frozen=True)
class OutputState:
    """What a restore read of the output before replaying the journal."""

    symptoms: list[str]           # what betrays a reboot
    lost: bool                    # found off where it should be on
    level: float | None           # found on: its level as a share of the journal's
    surplus: float                # found on where it should be off during a ramp up: its share


class OutputAccount:
    def __init__(self, name: str, listener: Callable[[FaultEvent], None] | None,
                 now: float) -> None:
        self._name = name
        self._listener = listener
        # Wall time since which the output is known to be as the journal has it: the present
        # call's start, or the end of the last restore in it. A reboot found is off since then.
        self.known_since = now
        # What the bus said since then about a power cut: the failed attempts, the power-on bit.
        self.clues = PowerCutClues(now)
        self.outage: Outage | None = None
        self.surplus: Surplus | None = None
        self._replay_began: float | None = None  # when the last replay of the output began

    # ---------------------------------------------------------------- what the calls say
    def seen_as_expected(self, at: float) -> None:
        """The output was as the journal has it at ``at``: an outage met later starts after."""
        self.known_since = at
        self.clues.seen(at)

    def attempt_failed(self, began: float, ended: float, kind: str) -> None:
        self.clues.failed(began, ended, kind)

    def read_power_on(self, driver: object, reconnecting: bool) -> None:
        """Read (and so clear) the power-on bit, where the driver reads it: on a reconnect, a
        clue to when a power cut struck (see power_cuts); on the first connect, only cleared."""
        read = getattr(type(driver), "powered_on_since_asked", None)
        if read is None:
            return
        try:
            powered_on = bool(read(driver))
        except Exception:
            self.clues.power_on_read(time.time(), None)
            raise
        if reconnecting:
            self.clues.power_on_read(time.time(), powered_on)
        else:
            self.clues.cleared(time.time())

    # ---------------------------------------------------------------- a restore
    def inspect(self, driver: object, journal: Journal, call: tuple[str, tuple]) -> OutputState:
        """Read the output's state (one query where the driver has ``source_state``) against
        the journal, before the replay."""
        found, lost, level, surplus = [], False, None, 0.0
        checked = time.time()
        output = journal.get("output")
        if not output or not hasattr(type(driver), "output_enabled"):
            return OutputState(found, lost, level, surplus)
        expected_on = output[0] in RAMPS and output[1][0] != 0
        state = getattr(type(driver), "source_state", None)
        if state is not None:
            on, mode, present = state(driver)  # one query: on, and at what level
            if on and expected_on:
                level = min(max(present / output[1][0], 0.0), 1.0)
            what, args = call
            if on and not expected_on and RAMPS.get(what) == mode and args and args[0]:
                surplus = min(max(present / args[0], 0.0), 1.0)
        else:
            on = bool(driver.output_enabled)
        if on != expected_on:
            lost = expected_on
            found.append(f"output {'off' if expected_on else 'on'}, expected "
                         f"{'on' if expected_on else 'off'}")
        elif expected_on and self.outage is None and (level is None or level >= PARTIAL):
            # Seen as it should be before the checks that follow: if one of them meets a power
            # cycle, the outage starts here, not at the call's start.
            self.seen_as_expected(checked)
        return OutputState(found, lost, level, surplus)

    def book(self, state: OutputState, checked: float, driver: object, attempt: int) -> None:
        """Open, carry or close an outage or a surplus from what the restore found."""
        short = state.level is not None and state.level < PARTIAL  # on, but below its level
        if state.surplus > 0.0:
            # The pixel sat at the ramp's level through the timeout and the reconnect while the
            # journal had the output off; the replay ramps it off before the retry ramps it up.
            self.surplus = Surplus(self.known_since, state.surplus)
        if state.lost:
            # Met in the call under way, after the output was last known as it should be. Found
            # off before, by a restore that failed, more than one power cycle may lie in the
            # outage, and the instrument's clock dates only the last.
            pending = self.outage
            if pending is None:
                self.outage = Outage(self.known_since, self.clues.snapshot(), 1.0)
            else:
                if pending.clues is not None:
                    pending.clues.clock_dates_it = False
                self.outage = Outage(pending.since, pending.clues, 1.0)
            self._replay_began = None  # no replay of this outage has begun
        elif self.outage is not None:
            # Found off by a restore whose replay then failed, and on now: that replay put it
            # back (its ramp ran, its closing *OPC? did not answer).
            self._close_outage(self._replay_began or time.time(), driver, attempt)
            if short:  # that replay's ramp was cut short: below its level since it began
                self.outage = Outage(self.known_since, None, 1.0 - state.level)
                self._replay_began = None
        elif short:
            # Left part-way along a ramp by a failed attempt: that share of the stress is
            # missing from when it was last as it should be.
            self.outage = Outage(self.known_since, None, 1.0 - state.level)
            self._replay_began = None
        else:  # seen as it should be: an outage met later in this call starts after this
            self.seen_as_expected(checked)

    def replay_began(self, at: float) -> None:
        self._replay_began = at

    def replayed(self, result: object, began: float, began_mono: float, driver: object,
                 attempt: int) -> None:
        """The output slot's call replayed (begun at wall ``began``, monotonic ``began_mono``):
        the output is as the journal has it again from the ramp's one-step moment."""
        now, now_mono = time.time(), time.monotonic()
        at = (result.stress_moment if isinstance(result, RampTiming) and began_mono
              <= result.stress_moment <= now_mono else (began_mono + now_mono) / 2)
        back_at = now - (now_mono - at)
        self._close_surplus(back_at, attempt)
        self._close_outage(back_at, driver, attempt)

    # ---------------------------------------------------------------- closing
    def _close_outage(self, back_at: float, driver: object, attempt: int) -> None:
        """The output is as the journal has it again from ``back_at``: an outage ends here, at
        once on record."""
        self.seen_as_expected(back_at)
        outage, self.outage = self.outage, None
        if outage is None:
            return
        since = outage.since
        if outage.clues is not None:
            since = self._off_since_estimate(since, back_at, outage.clues, driver)
        lost_s = outage.missing * max(back_at - since, 0.0)
        text = (f"off for about {back_at - since:.3f} s" if outage.missing >= 1.0 else
                f"at {1 - outage.missing:.0%} of its level for about {back_at - since:.3f} s")
        if self._listener is not None:
            self._listener(FaultEvent(self._name, "output-restored", text, attempt,
                                      output_lost_since=since, output_off_s=lost_s))

    def _close_surplus(self, off_at: float, attempt: int) -> None:
        """The output found on against the journal is off again from ``off_at``: the stress it
        gave meanwhile, at once on record."""
        surplus, self.surplus = self.surplus, None
        if surplus is None or self._listener is None:
            return
        on_s = max(off_at - surplus.since, 0.0)
        self._listener(FaultEvent(
            self._name, "output-restored",
            f"off again after about {on_s:.3f} s on at {surplus.share:.0%} of the ramp's level, "
            f"expected off", attempt, output_on_s=surplus.share * on_s))

    @staticmethod
    def _off_since_estimate(lost_since: float, back_at: float, clues: PowerCutClues,
                            driver: object) -> float:
        """When the output went off: no earlier than ``lost_since``, placed by the clues the bus
        gave (see power_cuts) and by the last power-on the instrument's own clock dates, if it
        keeps one (``uptime_s``)."""
        powered_at = None
        uptime = getattr(type(driver), "uptime_s", None)
        if uptime is not None and clues.clock_dates_it:
            try:
                asked = time.time()
                seconds = uptime(driver)
                powered_at = (asked + time.time()) / 2 - seconds
            except Exception:  # the reading failed: the call's next attempt will meet it
                powered_at = None
        return min(max(lost_since, clues.off_since(powered_at, back_at)), back_at)
