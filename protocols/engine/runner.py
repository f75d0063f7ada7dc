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

import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from agelab.instruments.resilience import InstrumentFault
from agelab.protocols.config import EXCLUSIVE_KINDS, ChannelSpec, RunConfig
from agelab.protocols.engine.clock import EngineClock
from agelab.protocols.engine.milestones import MilestoneTracker
from agelab.protocols.engine.steps import STEPS, SharedLocks, StepContext
from agelab.protocols.engine.stress import StressDrive
from agelab.protocols.store.records import (
    FINAL_STATUSES,
    L0_AVERAGE,
    ChannelState,
    EventRecord,
    RecordBus,
    Sample,
)

STATE_SAVE_INTERVAL_S = 0.5
DARK_READINGS, DARK_BUDGET_S = 8, 10.0


class Aborted(Exception):
    """The operator (or a signal) aborted this channel."""


class ChannelRunner(threading.Thread):
    def __init__(self, config: RunConfig, channel: ChannelSpec, station, locks: SharedLocks,
                 bus: RecordBus, clock: EngineClock, resume_state: dict[str, Any] | None = None,
                 history: list[tuple[float, float, float]] | None = None) -> None:
        super().__init__(name=f"channel:{channel.name}", daemon=True)
        self.config, self.ch, self.station, self.bus, self.clock = (config, channel, station,
                                                                    bus, clock)
        self.ctx = StepContext(station, channel, locks, self.t_h)
        self.smu = station[channel.smu_name]
        self.pd = station[channel.pd_name]
        self.drive = StressDrive.of(channel)
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
        s = resume_state or {}
        self.status: str = s.get("status", "pending")
        self.checkpoint_index: int = s.get("checkpoint_index", 0)
        self.interrupted_h: float = s.get("interrupted_h", 0.0)
        self.samples_taken: int = s.get("samples", 0)
        self.stop_reason: str | None = s.get("stop_reason")
        self.offset_h: float = 0.0         # stress time = offset + engine clock − time off
        self.off_h: float = 0.0            # device hours with the stress off (pauses, J–V, C–V)
        self._off_since: float | None = None
        self._ramping_off = False  # a checkpoint's or a pause's ramp down, the clock stopped
        self._holdoff_until = 0.0
        self._l0_lag_h = 0.0  # stress hours a retried first ramp made L0 late by
        self.end_h: float | None = None  # stress time when the channel stopped
        self.last_v: float | None = None
        self.last_l: float | None = None
        self.error: BaseException | None = None
        for t, lum, v in history or []:
            self.tracker.add(t, lum)
            self.last_v, self.last_l = v, lum

    # ---------------------------------------------------------------- time
    def t_h(self) -> float:
        if self.end_h is not None:
            return self.end_h
        off = self.off_h
        if self._off_since is not None:
            off += self.clock.hours() - self._off_since
        return self.offset_h + self.clock.hours() - off

    def _stop_clock(self) -> None:
        """Stress time stands still from now (the stress is going off)."""
        self._off_since = self.clock.hours()

    def _restart_clock(self, at_h: float | None = None) -> float:
        """Stress time runs again (from engine-clock hour ``at_h``, else now); returns the
        device hours it stood still."""
        stood = (self.clock.hours() if at_h is None else at_h) - self._off_since
        self.off_h += stood
        self._off_since = None
        return stood

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
        """The source-meter was found off (it rebooted), or below its level (a ramp cut short),
        and missed ``wall_s`` seconds' worth of stress; the resilience layer has put it back.
        Called on the thread that found it."""
        if (self._off_since is not None and not self._ramping_off) or self.end_h is not None:
            return  # the stress was meant to be off anyway
        # An outage met while ramping off for a checkpoint (a reboot, a ramp cut short): the
        # clock stops at that ramp's middle, after the outage, so it is still lost stress
        # (0.07-0.6 s of a channel's checkpoints each time in the soak, uncounted).
        lost_h = self.clock.hours_of(max(wall_s, 0.0))
        self.off_h += lost_h
        self._holdoff_until = self.t_h() + self.ch.holdoff  # the turn-on transient replays
        self._event("stress-lost", off_h=lost_h, wall_s=wall_s,
                    detail="the source-meter was found off (a reboot) or part-way along a "
                           "ramp (a cut link); the stress it missed is not counted")

    def stress_gained(self, wall_s: float) -> None:
        """The source-meter held (part of) the stress for ``wall_s`` seconds' worth while the
        clock stood still: a ramp up that went through but whose end was lost, found on by the
        reconnect and ramped off before the retry. Those are stress hours. Called on the thread
        that found it."""
        if self._off_since is None or self._ramping_off or self.end_h is not None:
            return  # the clock was running (the stress was meant to be on), or the channel ended
        gained_h = self.clock.hours_of(max(wall_s, 0.0))
        self.off_h -= gained_h
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
            "l_max": self.tracker.l_max, "t_max": self.tracker.t_max}))

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
        self.drive.configure(self.smu)
        if fresh:
            # Stress time 0 is when the stress reaches its set point: it stands still from the
            # engine clock's 0 until then.
            self._off_since = 0.0
            self._event("started", mode=self.drive.mode, level=self.drive.level,
                        j_ma_cm2=self.ch.stress.current_density, v_v=self.ch.stress.voltage,
                        current_a=self.ch.current_a if self.drive.mode == "current" else None)
            if self.checkpoints and self.checkpoints[0] == 0.0:
                self._run_checkpoint(0.0, before_stress=True)
        self._check_abort()  # an abort during set-up or the t = 0 checkpoint: never ramp up
        if fresh:
            self._read_dark(max(L0_AVERAGE, self.ch.light_average))
            self._check_abort()
        called = time.monotonic()
        ramp_h = None
        try:
            ramp_h = self._stress_on()
        finally:
            if fresh:
                # From the first ramp's one-step equivalent, like every other ramp, not from
                # when its call returned: the ramp's closing *OPC? answered 36 ms after its
                # last level on a busy soak bench, and a blue pixel's steep first minutes
                # (its L0 read 0.06 device-h late) put its T95 1.1 % late against its twin.
                zero = self._zero_h(called)
                self._restart_clock(zero if zero is not None else ramp_h)
                # A retried ramp that left the pixel driven put stress time 0 before its
                # successful attempt: the stress hours to that attempt's one-step equivalent
                # made L0 late (none for a ramp that went through at once).
                if zero is not None and ramp_h is not None:
                    self._l0_lag_h = max(ramp_h - zero, 0.0)
        for names, label in self._deferred:  # the t = 0 checkpoint's EL/PL need the stress on
            self._submit(names, label)
        self._deferred.clear()
        if fresh and self._take_sample(average=max(L0_AVERAGE, self.ch.light_average),
                                       first=True):
            return  # the very first sample can already stop it (an open pixel, say)
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
            now = self.t_h()
            if now >= t_sample:
                if self._take_sample(average=self.ch.light_average):
                    self._final_checkpoint()
                    return
                # Absolute deadlines: the next sample is the grid's next point, skipping any
                # already past (a slow reading, a checkpoint).
                t_sample = schedule.next_after(max(t_sample, self.t_h()))
            if self.checkpoint_index < len(self.checkpoints) and self.t_h() >= t_checkpoint:
                self._run_checkpoint(t_checkpoint)

    # ---------------------------------------------------------------- stress
    def _stress_on(self) -> float:
        """Ramps the stress on; returns the engine-clock hour of the ramp's middle."""
        self.drive.configure(self.smu)
        self.drive.ramp_on(self.smu)
        self._holdoff_until = self.t_h() + self.ch.holdoff
        return self._ramp_middle_h()

    def _stress_off(self) -> float:
        """Ramps the stress off; returns the engine-clock hour of the ramp's middle."""
        self._ramping_off = True
        try:
            self.drive.ramp_off(self.smu)
        finally:
            self._ramping_off = False
        return self._ramp_middle_h()

    def _zero_h(self, called: float) -> float | None:
        """Stress time 0 for a first ramp that was retried (engine-clock hour; None: the ramp's
        one-step equivalent, as for a ramp that went through at once). A ramp retried after a
        failed attempt may have left the pixel driven meanwhile: a timeout on its closing *OPC?
        left a blue pixel at its set point through the timeout and the reconnect (0.5 device-h
        at 6000x), aged 0.16 % before its L0 was read, and its T95 from L0 came out 2.5 % late.
        The level the retry found, as a fraction of the set point, says how much of the time
        since the call began was stress (all of it for a ramp that had finished, none for one
        that found 0)."""
        now = time.monotonic()
        began = getattr(self.smu, "last_attempt_started", now)
        driver = getattr(self.smu, "driver", None)
        found = getattr(driver, "ramp_found", 0.0)
        if (not isinstance(began, float) or not called < began <= now
                or not isinstance(found, float) or not self.drive.level):
            return None
        fraction = min(max(found / self.drive.level, 0.0), 1.0)
        if fraction == 0.0:
            return None
        return self.clock.hours_at(now - fraction * (began - called))

    def _ramp_middle_h(self) -> float:
        """Where the ramp just done (its last attempt, if it was retried) stops or starts the
        stress clock: when one step would have passed the same charge, as the driver timed its
        levels; else the middle of the attempt (a linear ramp passes half its time's charge).
        From the ramp's ends, each checkpoint's two ramps added to a pixel's charge what its
        clock did not count (at 6000x, 0.1-0.26 % over 100 h of a fault-free soak). A failed
        first attempt leaves the current where it was: on before a ramp down, off before a
        ramp up."""
        now = time.monotonic()
        began = getattr(self.smu, "last_attempt_started", now)
        if not isinstance(began, float) or not began <= now:
            began = now
        at = getattr(getattr(self.smu, "driver", None), "ramp_at", None)
        if not isinstance(at, float) or not began <= at <= now:
            at = (began + now) / 2
        return self.clock.hours_at(at)

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
        for name, t_cross in self.tracker.add(t, lum, holding=holding):
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
        if stop:
            self.status = "finished"
            self._event("stop", reason=self.stop_reason)
        self._save(force=stop)
        return stop

    def _read_light(self, average: int) -> tuple[float, float, float, float]:
        """The photocurrent, stamped: (stress time, wall time, amperes, the stress hours its
        retries delayed it by)."""
        with self.ctx.laser_on_pixel:  # never while the PL laser is on this pixel
            asked = time.monotonic()
            i_pd = self.pd.read_photocurrent(average=average)
            # The sample is stamped at the middle of the light reading's own query (of its
            # last attempt, if it was retried), not before the V-I read that precedes it, nor
            # before the filter settings written ahead of it: at a high speed-up (or a long
            # integration) those differ by device-minutes, a T90's error on a fast-decaying
            # pixel; a retried L0 read was once stamped 9 device-hours early, and the L0
            # read's stamp before its filter setting made blue T97s 1 % late at 1500x.
            done, t_done, wall_done = time.monotonic(), self.t_h(), time.time()
            # Read before the window: reading a driver attribute through the resilience layer
            # is a call of its own, which sets its own attempt start.
            attempt = max(asked, getattr(self.pd, "last_attempt_started", asked))
            began, ended = self.pd.last_read_window
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
        """Stress off (ramped), the exclusive steps, stress back on (ramped) unless ``restore``
        is False (the channel's last measurement); timed. Stress time stands still meanwhile,
        so a lifetime counts only hours at the set current."""
        t0, wall0 = self.t_h(), time.monotonic()
        back_h = None
        if stress_is_on:
            self._stop_clock()
        try:
            if stress_is_on:
                self._off_since = self._stress_off()
            for name in names:
                self._check_abort()
                self._step(name, label)
        finally:
            if stress_is_on and restore and self._abort_reason is None:
                back_h = self._stress_on()
            if not stress_is_on:
                off_h = 0.0
            elif restore:
                off_h = self._restart_clock(back_h)
            else:  # the stress stays off: stress time stands still to the end
                off_h = self.clock.hours() - self._off_since
        self.interrupted_h += off_h
        self._event("interruption", steps=names, label=label, at_h=t0, off_h=off_h,
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
        self._stop_clock()
        self._off_since = self._stress_off()
        self._set_status("paused")
        self._event("paused")
        back_h = None
        with self._cond:
            while self._pause_wanted and self._abort_reason is None:
                self._cond.wait(0.5)
        try:
            self._check_abort()
            back_h = self._stress_on()
        finally:
            self._restart_clock(back_h)
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
            self._stress_off()
            self._event("output-off")
        except Exception as exc:
            self._event("output-off-failed", error=str(exc))
            self.status = "failed"
        if self.status == "running":
            self.status = "finished"
        self._save(force=True)
        self.end_h = self.t_h()

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
