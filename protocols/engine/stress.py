"""How a channel's stress is applied: a constant current (the default) or a constant voltage.

One object per channel knows the source mode, its level and its compliance, so the runner's
start, interruptions, pauses and way out, and the engine's last sweep and resume check, drive
both kinds the same way: compliance first, then a ramp that never passes the level, and down the
same way before the output goes off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agelab.instruments.roles import RampTiming
from agelab.protocols.config import ChannelSpec


@dataclass(frozen=True)
class StressDrive:
    mode: Literal["current", "voltage"]
    level: float        # A (current) or V (voltage)
    compliance: float   # V (current) or A (voltage)
    steps: int
    dwell_s: float
    nplc: float
    span: float | None = None  # the level the steps are sized on (default: ``level``)

    @classmethod
    def of(cls, ch: ChannelSpec, level: float | None = None) -> StressDrive:
        """The channel's stress drive; ``level`` a current that replaced its own (a held
        luminance's), ramped in steps sized on the channel's own."""
        s = ch.stress
        if s.voltage is not None:
            return cls("voltage", s.voltage, (s.current_limit or 0.0) * ch.area * 1e-3,
                       s.ramp_steps, s.ramp_dwell, s.nplc)
        if level is not None:
            return cls("current", level, s.compliance, s.ramp_steps, s.ramp_dwell, s.nplc,
                       ch.current_a)
        return cls("current", ch.current_a, s.compliance, s.ramp_steps, s.ramp_dwell, s.nplc)

    @classmethod
    def at_level(cls, ch: ChannelSpec, mode: Literal["current", "voltage"], level: float,
                 compliance: float) -> StressDrive:
        """A drive to any level on the channel's pixel (the benchtop's), ramped with the
        channel's own steps and dwell, sized on the larger of the level and the channel's
        stress (a current) or 1 V (a voltage), so a ramp to 0 still moves in steps."""
        s = ch.stress
        span = max(level, ch.current_a if s.voltage is None else 0.0, 1e-6) if (
            mode == "current") else max(level, 1.0)
        return cls(mode, level, compliance, s.ramp_steps, s.ramp_dwell, s.nplc, span)

    @property
    def step(self) -> float:
        return (self.level if self.span is None else self.span) / self.steps

    def configure(self, smu) -> None:
        """The source mode with its compliance set; the output is not touched."""
        if self.mode == "voltage":
            smu.configure_voltage_source(self.compliance, nplc=self.nplc)
        else:
            smu.configure_current_source(self.compliance, nplc=self.nplc)

    def ramp_on(self, smu) -> RampTiming:
        if self.mode == "voltage":
            return smu.ramp_voltage(self.level, self.step, self.dwell_s)
        return smu.ramp_current(self.level, self.step, self.dwell_s)

    def ramp_off(self, smu) -> RampTiming:
        return smu.output_off(self.step, self.dwell_s)

    def still_sourcing(self, smu) -> tuple[bool, float]:
        """(the source-meter still holds the stress level, the level it holds); I/O."""
        on = bool(smu.output_enabled)
        level = float(smu.get(f"source_{self.mode}")) if on else 0.0
        return on and abs(level - self.level) <= 0.02 * self.level, level
