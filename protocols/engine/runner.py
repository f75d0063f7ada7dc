"""One channel's run: stress a pixel, sample it, take its checkpoints, stop it at its milestone.

A ``ChannelRunner`` is a thread. Its schedule is in the channel's stress time (device hours under
stress: pauses and J–V/C–V interruptions excluded, so lifetimes are hours at the set current)
against absolute deadlines (sample k is due at k·interval, whatever the previous sample cost), so
nothing drifts. Exclusive steps (J–V, C–V) ramp the stress down, run,
and ramp it back up; the interruption is timed and recorded. Concurrent steps (EL, PL) run on the
channel's own worker thread while sampling goes on. Whatever ends the run — its stop rule, an
abort, an exception — the ``finally`` ramps the output down and switches it off.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from agelab.instruments.resilience import InstrumentFault
from agelab.instruments.roles import RampTiming
from agelab.protocols.config import EXCLUSIVE_KINDS, ChannelSpec, RunConfig
from agelab.protocols.engine.bus import RecordBus
from agelab.protocols.engine.clock import EngineClock
from agelab.protocols.engine.luminance_hold import LuminanceHold
from agelab.protocols.engine.milestones import MilestoneTracker
from agelab.protocols.engine.steps import STEPS, SharedLocks, StepContext
from agelab.protocols.engine.stress import StressDrive
from agelab.protocols.engine.stress_clock import StressClock
from agelab.protocols.store.records import (
    FINAL_STATUSES,
    L0_AVERAGE,
    ChannelState,
    EventRecord,
    ReadingRecord,
    Sample,
)

STATE_SAVE_INTERVAL_S = 0.5
DARK_READINGS, DARK_BUDGET_S = 8, 10.0


class Aborted(Exception):
    """The operator (or a signal) aborted this channel."""


@dataclass
class StressOff:
    """What one stress-off sequence cost: the device hours stress time stood still."""

    off_h: float = 0.0


class ChannelRunner(threading.Thread):
    def __init__(self, config: RunConfig, channel: ChannelSpec, station, locks: SharedLocks,
                 bus: RecordBus, clock: EngineClock, resume_state: dict[str, Any] | None = None,
                 history: list[tuple[float, float, float, float]] | None = None) -> None:
        super().__init__(name=f"channel:{channel.name}", daemon=True)
        self.config, self.ch, self.station, self.bus, self.clock = (config, channel, station,
                                                                    bus, clock)
        self.ctx = StepContext(station, channel, locks, self.t_h)
        self.smu = station[channel.smu_name]
        self.pd = station[channel.pd_name]
        self.tec = (station[channel.temperature.controller] if channel.temperature is not None
                    else None)
        self._excursion = False  # the temperature is outside its band now
        s = resume_state or {}
        self.drive = StressDrive.of(channel, s.get("level_a"))
        hold = channel.stress.hold_luminance
        self.hold = None if hold is None else LuminanceHold(
            hold.band, channel.current_a,
            config.safety.max_current_density * channel.area * 1e-3, self.drive.level)
        self.tracker = MilestoneTracker(config.milestones_of(channel), channel.smoothing,
                                        channel.settle)
        self.checkpoints = channel.checkpoints.times(self._horizon_h())
        self._cond = threading.Condition()
        self._abort_reason: str | None = None
        self._pause_wanted = False
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{channel.name}-c")
        self._pending: list[Future] = []
        self._deferred: list[tuple[list[str], str]] = []  # concurrent steps waiting for the stress
        self._last_save = 0.0
        # Persistent state (saved in the run file; restored by resume).
        self.status: str = s.get("status", "pending")
        self.checkpoint_index: int = s.get("checkpoint_index", 0)
        self.interrupted_h: float = s.get("interrupted_h", 0.0)
        self.samples_taken: int = s.get("samples", 0)
        self.stop_reason: str | None = s.get("stop_reason")
        self.stress = StressClock(clock)
        self._holdoff_until = 0.0
        self._l0_lag_h = 0.0  # stress hours a retried first ramp made L0 late by
        self.last_v: float | None = None
        self.last_l: float | None = None
        self.error: BaseException | None = None
        j0 = channel.stress.current_density or 0.0
        for t, lum, v, j in history or []:
            # A held luminance's milestones follow the efficiency: L at the starting current.
            self.tracker.add(t, lum * j0 / j if self.hold is not None and j > 0 else lum)
            self.last_v, self.last_l = v, lum

    # ---------------------------------------------------------------- time
    def t_h(self) -> float:
        return self.stress.t_h()

    def _sleep_until(self, t_h: float) -> None:
        """Wait until stress time ``t_h``, waking at once for an abort or a pause."""
        with self._cond:
            while self._abort_reason is None and not self._pause_wanted:
                remaining = t_h - self.t_h()
                if remaining <= 0:
                    return
                self._cond.wait(min(self.clock.wall_seconds(remaining), 0.5))
        self._check_abort()

    def _horizon_h(self) -> float:
        return self.ch.stop.max_time or 1e5

    # ---------------------------------------------------------------- control (any thread)
    def request_abort(self, reason: str = "abort") -> None:
        with self._cond:
            if self._abort_reason is None:
                self._abort_reason = reason
            self._cond.notify_all()

    def request_pause(self) -> None:
        with self._cond:
            self._pause_wanted = True
            self._cond.notify_all()

    def request_resume(self) -> None:
        with self._cond:
            self._pause_wanted = False
            self._cond.notify_all()

    def stress_lost(self, wall_s: float) -> None:
        """The source-meter was found off (a reboot) or below its level (a ramp cut short) and
        missed ``wall_s`` seconds' worth of stress; the resilience layer has put it back.
        Called on the thread that found it."""
        lost_h = self.stress.lose(wall_s)
        if lost_h is None:
            return  # the stress was meant to be off anyway
        self._holdoff_until = self.t_h() + self.ch.holdoff  # the turn-on transient replays
        self._event("stress-lost", off_h=lost_h, wall_s=wall_s,
                    detail="the source-meter was found off (a reboot) or part-way along a "
                           "ramp (a cut link); the stress it missed is not counted")

    def stress_gained(self, wall_s: float) -> None:
        """The source-meter held (part of) the stress for ``wall_s`` seconds' worth while the
        clock stood still: a ramp up that went through but whose end was lost, found on by the
        reconnect and ramped off before the retry. Called on the thread that found it."""
        gained_h = self.stress.gain(wall_s)
        if gained_h is None:
            return  # the clock was running (the stress was meant to be on), or the channel ended
        self._event("stress-gained", on_h=gained_h, wall_s=wall_s,
                    detail="a ramp up went through but its end was lost, so the source-meter "
                           "held the stress until the retry ramped it off and up again; "
                           "counted as stress")

    def _check_abort(self) -> None:
        if self._abort_reason is not None:
            raise Aborted(self._abort_reason)

    # ---------------------------------------------------------------- records
    def _event(self, kind: str, **detail: Any) -> None:
        self.bus.publish(EventRecord(self.ch.name, kind, detail, self.t_h()))

    def _save(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_save < STATE_SAVE_INTERVAL_S:
            return
        self._last_save = now
        self.bus.publish(ChannelState(self.ch.name, {
            "status": self.status, "checkpoint_index": self.checkpoint_index,
            "interrupted_h": self.interrupted_h, "samples": self.samples_taken,
            "t_h": self.t_h(), "stop_reason": self.stop_reason,
            "milestones": self.tracker.reached, "l0": self.tracker.l0,
            "l_max": self.tracker.l_max, "t_max": self.tracker.t_max,
            **({"level_a": self.drive.level} if self.hold is not None else {})}))

    def _set_status(self, status: str) -> None:
        self.status = status
        self._save(force=True)

    # ---------------------------------------------------------------- the run
    def run(self) -> None:
        try:
            self._run()
        except Aborted as exc:
            self.stop_reason = str(exc)
            self.status = "failed" if self.error is not None else "aborted"
            self._event("aborted", reason=str(exc))
        except Exception as exc:  # a bug or an unrecoverable instrument: stop this pixel safely
            self.error = exc
            self.stop_reason = f"{type(exc).__name__}: {exc}"
            self.status = "failed"
            self._event("error", error=type(exc).__name__, message=str(exc))
        finally:
            self._finish()

    def _run(self) -> None:
        if self.status in FINAL_STATUSES:
            return
        fresh = self.status == "pending"
        self._check_abort()
        self._set_status("running")
        if self.tec is not None:
            self._hold_temperature(wait=fresh)
        self.drive.configure(self.smu)
        if fresh:
            self._before_stress()
        self._check_abort()  # an abort during set-up or the t = 0 checkpoint: never ramp up
        if fresh:
            self._read_dark(max(L0_AVERAGE, self.ch.light_average))
            self._check_abort()
        self._first_ramp(fresh)
        for names, label in self._deferred:  # the t = 0 checkpoint's EL/PL need the stress on
            self._submit(names, label)
        self._deferred.clear()
        if fresh and self._take_sample(average=max(L0_AVERAGE, self.ch.light_average),
                                       first=True):
            return  # the very first sample can already stop it (an open pixel, say)
        self._sample_until_stopped()

    def _before_stress(self) -> None:
        """A fresh channel: stress time stands still from the engine clock's 0 until the first
        ramp reaches the set point; the t = 0 checkpoint runs before it."""
        self.stress.stop(at_h=0.0)
        self._event("started", mode=self.drive.mode, level=self.drive.level,
                    j_ma_cm2=self.ch.stress.current_density, v_v=self.ch.stress.voltage,
                    current_a=self.ch.current_a if self.drive.mode == "current" else None)
        if self.checkpoints and self.checkpoints[0] == 0.0:
            self._run_checkpoint(0.0, before_stress=True)

    def _first_ramp(self, fresh: bool) -> None:
        """The stress on; for a fresh channel, stress time 0 is this ramp's one-step moment, or,
        where a retried ramp had left the pixel driven, earlier by the stress it had meanwhile
        (and the first reading is late by that much)."""
        called = time.monotonic()
        timing = None
        try:
            timing = self._ramp_up()
        finally:
            if fresh:
                ramp_h = None if timing is None else self._hour_of(timing)
                zero = None if timing is None else self._retried_zero_h(called, timing)
                self.stress.restart(zero if zero is not None else ramp_h)
                if zero is not None and ramp_h is not None:
                    self._l0_lag_h = max(ramp_h - zero, 0.0)

    def _sample_until_stopped(self) -> None:
        """Samples on the schedule's grid and checkpoints when due, until a stop rule fires."""
        schedule = self.ch.schedule
        t_sample = schedule.next_after(self.t_h())
        while True:
            self._check_abort()
            if self._pause_wanted:
                self._pause()
                t_sample = schedule.next_after(self.t_h())
            t_checkpoint = (self.checkpoints[self.checkpoint_index]
                            if self.checkpoint_index < len(self.checkpoints) else math.inf)
            self._sleep_until(min(t_sample, t_checkpoint))
            if self._pause_wanted:
                continue
            if self.t_h() >= t_sample:
                if self._take_sample(average=self.ch.light_average):
                    self._final_checkpoint()
                    return
                # Absolute deadlines: the next sample is the grid's next point, skipping any
                # already past (a slow reading, a checkpoint).
                t_sample = schedule.next_after(max(t_sample, self.t_h()))
            if self.checkpoint_index < len(self.checkpoints) and self.t_h() >= t_checkpoint:
                self._run_checkpoint(t_checkpoint)

    # ---------------------------------------------------------------- stress
    def _ramp_up(self) -> RampTiming:
        """The stress on (compliance first, then the ramp); the turn-on transient's hold-off
        starts."""
        self.drive.configure(self.smu)
        timing = self.drive.ramp_on(self.smu)
        self._holdoff_until = self.t_h() + self.ch.holdoff
        return timing

    def _ramp_down(self) -> RampTiming:
        """The stress ramped off; an outage met meanwhile is still lost stress."""
        self.stress.ramping_off = True
        try:
            return self.drive.ramp_off(self.smu)
        finally:
            self.stress.ramping_off = False

    @contextlib.contextmanager
    def _stress_off(self, restore: bool = True) -> Iterator[StressOff]:
        """The stress-off sequence, the one way the stress goes off and back on: the clock stops
        now, the stress ramps down (the clock then stopped at the ramp's one-step moment), the
        body runs, and the stress ramps back up (the clock restarted at that ramp's one-step
        moment) unless ``restore`` is False or the channel is being aborted. A ramp up that
        fails leaves the clock stopped: the stress did not come back."""
        off = StressOff()
        self.stress.stop()
        try:
            self.stress.stop(at_h=self._hour_of(self._ramp_down()))
            yield off
        finally:
            if not restore:
                off.off_h = self.stress.stood_h()
            else:
                back_h = None
                if self._abort_reason is None:
                    back_h = self._hour_of(self._ramp_up())
                off.off_h = self.stress.restart(back_h)

    def _hour_of(self, timing: RampTiming) -> float:
        """The engine-clock hour at which a ramp stops or starts the stress clock (its one-step
        moment: from the ramp's ends, each checkpoint's two ramps would add to the pixel's
        charge what its clock did not count)."""
        return self.clock.hours_at(timing.stress_moment)

    def _retried_zero_h(self, called: float, timing: RampTiming) -> float | None:
        """Stress time 0 for a first ramp that was retried (engine-clock hour; None: the ramp's
        one-step moment, as for a ramp that went through at once). A failed attempt may have
        left the pixel driven until the retry; the level the retry found, as a share of the set
        point, says how much of the time from the call to the retry was stress (all of it for a
        ramp that had finished, none for one that found 0)."""
        now = time.monotonic()
        if not called < timing.began <= now or not self.drive.level:
            return None
        fraction = min(max(timing.found / self.drive.level, 0.0), 1.0)
        if fraction == 0.0:
            return None
        return self.clock.hours_at(now - fraction * (timing.began - called))

    # ---------------------------------------------------------------- sampling
    def _read_dark(self, average: int) -> None:
        """The photodiode with its pixel off, before the stress, at L0's integration: its dark
        current goes on record (a light leak or a failing photodiode shows there), and the
        readings let the meter's own clock place the L0 reading to the narrowest of their round
        trips (instruments/drivers/timestamps.py). Up to DARK_READINGS, within DARK_BUDGET_S
        (two on hardware, where each takes 6 s; all of them on the virtual bench)."""
        readings: list[float] = []
        began = time.monotonic()
        with self.ctx.laser_on_pixel:
            while len(readings) < DARK_READINGS and (
                    not readings or time.monotonic() - began < DARK_BUDGET_S):
                readings.append(self.pd.read_photocurrent(average=average))
        mean = sum(readings) / len(readings)
        self._event("dark", i_pd_a=mean, readings=len(readings), average=average,
                    cd_m2=mean * self.ch.cd_m2_per_A)

    # ---------------------------------------------------------------- temperature
    def _hold_temperature(self, wait: bool) -> None:
        """The stage to its set point; with ``wait``, no further until it has stayed within
        its tolerance for the settling time (device time), which goes on record."""
        spec = self.ch.temperature
        self.tec.hold(spec.setpoint)
        if not wait:
            return
        began = time.monotonic()
        stable_since: float | None = None
        while True:
            self._check_abort()
            celsius = self.tec.read_temperature()
            now = time.monotonic()
            waited_s = self.clock.hours_of(now - began) * 3600.0
            if abs(celsius - spec.setpoint) <= spec.tolerance:
                stable_since = now if stable_since is None else stable_since
                if self.clock.hours_of(now - stable_since) * 3600.0 >= spec.settle:
                    self._event("temperature-stable", setpoint_c=spec.setpoint,
                                temperature_c=celsius, waited_s=waited_s)
                    return
            else:
                stable_since = None
            if waited_s > spec.timeout:
                raise RuntimeError(f"the stage did not settle at {spec.setpoint:g} °C within "
                                   f"{spec.timeout:g} s (last {celsius:.2f} °C); no stress "
                                   "applied")
            time.sleep(max(self.clock.wall_seconds(spec.settle / 3600.0) / 20, 1e-3))

    def _read_temperature(self, t: float, holding: bool) -> str | None:
        """Each sample's stage temperature on record; an excursion from the band is an event,
        and what the config says to do: None (carry on), "pause" or "stop". Not while
        ``holding``: the pixel's own heating when the stress comes on is a transient the
        controller pulls back within the hold-off, not an excursion of the stage."""
        spec = self.ch.temperature
        celsius = self.tec.read_temperature()
        self.bus.publish(ReadingRecord(self.ch.name, "temperature", "sample", t, celsius,
                                       spec.setpoint))
        if holding:
            return None
        outside = abs(celsius - spec.setpoint) > spec.tolerance
        if outside and not self._excursion:
            self._event("temperature-excursion", temperature_c=celsius,
                        setpoint_c=spec.setpoint, tolerance_k=spec.tolerance,
                        action=spec.on_excursion)
        elif not outside and self._excursion:
            self._event("temperature-back", temperature_c=celsius, setpoint_c=spec.setpoint)
        self._excursion = outside
        return spec.on_excursion if outside and spec.on_excursion != "log" else None

    def _wait_out_excursion(self) -> None:
        """The stress off until the stage is back within its band (the ``pause`` action)."""
        spec = self.ch.temperature
        with self._stress_off():
            while abs(self.tec.read_temperature() - spec.setpoint) > spec.tolerance:
                self._check_abort()
                time.sleep(max(self.clock.wall_seconds(spec.settle / 3600.0) / 20, 1e-3))
            self._event("temperature-back", setpoint_c=spec.setpoint, resumed=True)
        self._excursion = False

    def _take_sample(self, average: int = 1, first: bool = False) -> bool:
        """Sample V and L; apply milestones and stop rules. True when the channel must stop.
        The first sample (L0) reads the light before V-I, so that no V-I retry delays it, and
        goes on record with when it was due: the stress hours that retries (its own, the
        first ramp's) made it late, which the report names (the analysis reads every L0 at a
        fixed stress time off the early trace)."""
        if not first:
            v, i, compliance = self.smu.read_vi()
        t, wall, i_pd, late_h = self._read_light(average)
        if first:
            v, i, compliance = self.smu.read_vi()
            late_h += self._l0_lag_h
            self._event("l0", t_read_h=t, due_h=max(t - late_h, 0.0), late_h=late_h)
        lum = i_pd * self.ch.cd_m2_per_A
        self.bus.publish(Sample(self.ch.name, t, i / self.ch.area * 1e3, v, lum, i_pd,
                                wall=wall))
        self.samples_taken += 1
        previous_v, self.last_v, self.last_l = self.last_v, v, lum
        runaway = self._runaway(v, previous_v, compliance, i / self.ch.area * 1e3)
        if runaway:
            self.stop_reason = runaway
            self._event("runaway", reason=runaway, v_v=v)
            self.status = "stopped"
            return True
        stop = False
        holding = t < self._holdoff_until
        tracked = lum if self.hold is None else self.hold.tracked(lum)
        for name, t_cross in self.tracker.add(t, tracked, holding=holding):
            actions = list(self.ch.milestones.get(name, []))
            self._event("milestone", name=name, key=self.tracker.milestones[name].key,
                        t_cross_h=t_cross, l0=self.tracker.l0, l_max=self.tracker.l_max)
            for action in actions:
                if action != "stop":
                    self._run_steps([action], label=name)
            if "stop" in actions or name == self.ch.stop.at:
                self.stop_reason = f"milestone {name}"
                stop = True
        if self.ch.stop.max_time is not None and self.t_h() >= self.ch.stop.max_time:
            self.stop_reason = f"max_time {self.ch.stop.max_time:g} h"
            stop = True
        excursion = self._read_temperature(t, holding) if self.tec is not None else None
        if excursion == "stop" and not stop:
            self.stop_reason = "temperature excursion"
            self._event("stop", reason=self.stop_reason)
            self.status = "stopped"
            self._save(force=True)
            return True
        if stop:
            self.status = "finished"
            self._event("stop", reason=self.stop_reason)
        elif self.hold is not None:
            self._hold_luminance(lum)
        if excursion == "pause" and not stop:
            self._wait_out_excursion()
        self._save(force=stop)
        return stop

    def _hold_luminance(self, luminance: float) -> None:
        """Constant-luminance stress: the current set to bring the luminance back to L0 when
        it has left the band (ramped, in the channel's own steps; the stress stays on)."""
        was_at_limit = self.hold.at_limit
        level = self.hold.next_level(luminance, self.tracker.l0)
        if self.hold.at_limit and not was_at_limit:
            self._event("luminance-not-held", level_a=self.hold.max_a, l_cd_m2=luminance,
                        l0=self.tracker.l0, detail="the current is at "
                        "safety.max_current_density; the luminance falls from here")
        if level is None:
            return
        self.drive = replace(self.drive, level=level)
        self.hold.level_a = level
        self.drive.ramp_on(self.smu)

    def _read_light(self, average: int) -> tuple[float, float, float, float]:
        """The photocurrent, stamped: (stress time, wall time, amperes, the stress hours its
        retries delayed it by)."""
        with self.ctx.laser_on_pixel:  # never while the PL laser is on this pixel
            asked = time.monotonic()
            i_pd = self.pd.read_photocurrent(average=average)
            # Stamped at the middle of the light reading's own query (of its last attempt, if
            # it was retried), as the meter timed it: not before the V-I read that precedes
            # it, nor before the filter settings written ahead of it, which at a high speed-up
            # or a long integration are device-minutes earlier.
            done, t_done, wall_done = time.monotonic(), self.t_h(), time.time()
            attempt = max(asked, self.pd.last_attempt_started)
            began, ended = self.pd.driver.last_read_window
            if not asked <= began <= ended <= done:  # a meter that does not say: the call
                began, ended = attempt, done
            back_s = done - (began + ended) / 2
            t, wall = t_done - self.clock.hours_of(back_s), wall_done - back_s
        return t, wall, i_pd, self.clock.hours_of(max(attempt - asked, 0.0))

    def _runaway(self, v: float, previous_v: float | None, compliance: bool,
                 j: float = math.nan) -> str | None:
        rules = self.ch.stop
        if self.drive.mode == "voltage":  # the voltage is held: the current tells
            if compliance and rules.on_compliance:
                return (f"compliance: J reached the {self.ch.stress.current_limit:g} mA/cm^2 "
                        "limit (short?)")
            if abs(j) < rules.min_current_density:
                return f"current collapse: {j:.4g} mA/cm^2 (open?)"
            return None
        if compliance and rules.on_compliance:
            return f"compliance: V reached the {self.ch.stress.compliance:g} V limit (open?)"
        if rules.max_voltage is not None and v > rules.max_voltage:
            return f"voltage runaway: {v:.3f} V > {rules.max_voltage:g} V"
        if v < rules.min_voltage:
            return f"voltage collapse: {v:.3f} V < {rules.min_voltage:g} V (short?)"
        if rules.voltage_jump is not None and previous_v is not None and (
                v - previous_v > rules.voltage_jump):
            return f"voltage jump: +{v - previous_v:.3f} V in one sample"
        return None

    # ---------------------------------------------------------------- checkpoints and steps
    def _run_checkpoint(self, t_planned: float, before_stress: bool = False) -> None:
        index = self.checkpoint_index
        self._event("checkpoint", index=index, planned_h=t_planned)
        self._run_steps(self.ch.checkpoints.measure, label=f"checkpoint {index}",
                        before_stress=before_stress)
        self.checkpoint_index = index + 1
        self._save(force=True)

    def _final_checkpoint(self) -> None:
        """A checkpoint due when the channel stops on its max_time (every 10 h, to 100 h) is the
        last measurement a user wants: taken before the way out, its EL/PL under the stress
        first, then its J–V/C–V with the stress off, which then stays off."""
        if (self.status != "finished" or self.checkpoint_index >= len(self.checkpoints)
                or self.checkpoints[self.checkpoint_index] > self.t_h() + 1e-9
                or self._abort_reason is not None):
            return
        index = self.checkpoint_index
        names = self.ch.checkpoints.measure
        self._event("checkpoint", index=index, planned_h=self.checkpoints[index], final=True)
        exclusive = [n for n in names if self.config.measurements[n].kind in EXCLUSIVE_KINDS]
        label = f"checkpoint {index}"
        for name in names:
            if name not in exclusive:
                self._step(name, label)
        if exclusive:
            self._interrupt(exclusive, label, stress_is_on=True, restore=False)
        self.checkpoint_index = index + 1
        self._save(force=True)

    def _run_steps(self, names: list[str], label: str, before_stress: bool = False) -> None:
        exclusive = [n for n in names if self.config.measurements[n].kind in EXCLUSIVE_KINDS]
        concurrent = [n for n in names if n not in exclusive]
        if exclusive:
            self._interrupt(exclusive, label, stress_is_on=not before_stress)
        if before_stress:
            self._deferred.append((concurrent, label))
        else:
            self._submit(concurrent, label)

    def _submit(self, names: list[str], label: str) -> None:
        """Concurrent steps go to the channel's worker; sampling goes on meanwhile."""
        for name in names:
            self._pending = [f for f in self._pending if not f.done()]
            self._pending.append(self._worker.submit(self._step, name, label))

    def _interrupt(self, names: list[str], label: str, stress_is_on: bool,
                   restore: bool = True) -> None:
        """The exclusive steps, with the stress off (unless it is not on yet) and back on unless
        ``restore`` is False (the channel's last measurement); timed and on record. Stress time
        stands still meanwhile, so a lifetime counts only hours at the set current."""
        t0, wall0 = self.t_h(), time.monotonic()
        with (self._stress_off(restore) if stress_is_on
              else contextlib.nullcontext(StressOff())) as off:
            for name in names:
                self._check_abort()
                self._step(name, label)
        self.interrupted_h += off.off_h
        self._event("interruption", steps=names, label=label, at_h=t0, off_h=off.off_h,
                    wall_s=time.monotonic() - wall0, stress_was_on=stress_is_on)

    def _step(self, name: str, label: str) -> None:
        spec = self.config.measurements[name]
        try:
            record = STEPS[spec.kind](self.ctx, spec, label)
        except (InstrumentFault, ValueError, OSError) as exc:
            # An instrument that could not deliver: the measurement is recorded as failed and the
            # stress goes on.
            self._event("step-failed", step=name, label=label, error=str(exc))
            return
        except Exception as exc:
            # Anything else is a defect: this channel stops, safely (on the worker thread the
            # runner is told; on the runner's own thread the exception ends the run).
            if threading.current_thread() is self:
                raise
            self.error = exc
            self._event("error", step=name, error=type(exc).__name__, message=str(exc))
            self.request_abort(f"error in step {name}: {exc}")
            return
        self.bus.publish(record)

    def _pause(self) -> None:
        """The stress off until the operator resumes (or aborts) the channel."""
        with self._stress_off():
            self._set_status("paused")
            self._event("paused")
            with self._cond:
                while self._pause_wanted and self._abort_reason is None:
                    self._cond.wait(0.5)
            self._check_abort()
        self._set_status("running")
        self._event("resumed")

    # ---------------------------------------------------------------- the way out
    def _finish(self) -> None:
        """Every exit: concurrent steps end, then the output is ramped down and switched off."""
        for future in self._pending:
            try:
                future.result(timeout=60)
            except Exception as exc:  # recorded; the output must still go off
                self._event("step-failed", error=str(exc))
        self._worker.shutdown(wait=True)
        try:
            self._ramp_down()
            self._event("output-off")
        except Exception as exc:
            self._event("output-off-failed", error=str(exc))
            self.status = "failed"
        if self.status == "running":
            self.status = "finished"
        self._save(force=True)
        self.stress.end()

    # ---------------------------------------------------------------- for displays
    def snapshot(self) -> dict[str, Any]:
        next_cp = (self.checkpoints[self.checkpoint_index]
                   if self.checkpoint_index < len(self.checkpoints) else None)
        t = self.t_h()
        return {"name": self.ch.name, "status": self.status, "t_h": t,
                "l_rel": self.tracker.relative(), "l_cd_m2": self.last_l, "v_v": self.last_v,
                "next_checkpoint_h": next_cp, "milestones": dict(self.tracker.reached),
                "duty_cycle": t / (t + self.interrupted_h) if t > 0 else 1.0,
                "eta_h": self._eta(t), "stop_reason": self.stop_reason}

    def _eta(self, t: float) -> float | None:
        """Device hours to the stop rule: the milestone by the recent decay rate, or max_time."""
        if self.ch.stop.at is not None:
            return self.tracker.eta_h(self.ch.stop.at)
        return (self.ch.stop.max_time - t) if self.ch.stop.max_time else None
