"""Stress time: the device hours a channel's pixel has spent at its set point.

Every lifetime is read on this axis, so it stands still whenever the stress is off: before the
first ramp, during a J–V or C–V interruption, a pause, or an outage the resilience layer found
(a reboot, a ramp cut short). One ``StressClock`` per channel owns that bookkeeping; the runner
tells it when the stress goes off and on (at each ramp's one-step moment, as the driver timed
it), and the engine hands it the stress lost or gained that a fault event reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from agelab.protocols.engine.clock import EngineClock


@dataclass
class StressClock:
    clock: EngineClock
    offset_h: float = 0.0           # stress time served before this engine (a resumed run)
    off_h: float = 0.0              # device hours with the stress off, so far
    off_since: float | None = None  # engine-clock hour the stress went off, while it is off
    ramping_off: bool = False       # inside a ramp down: the clock stopped, the stress not yet off
    end_h: float | None = None      # stress time when the channel stopped (it reads this then)

    def t_h(self) -> float:
        """Stress time now."""
        if self.end_h is not None:
            return self.end_h
        return self.offset_h + self.clock.hours() - self.off_h - self.stood_h()

    def stood_h(self) -> float:
        """Device hours the clock has stood still since it last stopped (0 while it runs)."""
        return 0.0 if self.off_since is None else self.clock.hours() - self.off_since

    @property
    def running(self) -> bool:
        return self.off_since is None

    def stop(self, at_h: float | None = None) -> None:
        """Stress time stands still from engine-clock hour ``at_h`` (else now)."""
        self.off_since = self.clock.hours() if at_h is None else at_h

    def restart(self, at_h: float | None = None) -> float:
        """Stress time runs again from engine-clock hour ``at_h`` (else now); returns the
        device hours it stood still."""
        stood = (self.clock.hours() if at_h is None else at_h) - self.off_since
        self.off_h += stood
        self.off_since = None
        return stood

    def end(self) -> None:
        """The channel stopped: stress time reads its last value from now on."""
        self.end_h = self.t_h()

    def lose(self, wall_s: float) -> float | None:
        """The output was found off or short of its level for ``wall_s`` seconds' worth of the
        stress while the clock ran (or during a ramp down: the outage came first); those hours
        come off. Returns them, or None where the stress was meant to be off anyway."""
        if (not self.running and not self.ramping_off) or self.end_h is not None:
            return None
        lost_h = self.clock.hours_of(max(wall_s, 0.0))
        self.off_h += lost_h
        return lost_h

    def gain(self, wall_s: float) -> float | None:
        """The output held ``wall_s`` seconds' worth of the stress while the clock stood still
        (a ramp up that went through, its end lost); those hours count. Returns them, or None
        where the clock was running anyway."""
        if self.running or self.ramping_off or self.end_h is not None:
            return None
        gained_h = self.clock.hours_of(max(wall_s, 0.0))
        self.off_h -= gained_h
        return gained_h
