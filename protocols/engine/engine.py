"""The engine: the one place that owns a run's execution and its cleanup.

``Engine.run()`` opens the run file and the station, starts a runner per channel, waits, and on
every way out — the study done, an abort, an exception, SIGINT, SIGTERM — stops the runners (each
ramps its output down and off), then sweeps every source-meter once more, makes every instrument
safe, and closes the file. Everything the run produces goes through one ``RecordBus``: the run
file, the CLI progress and the GUI are all subscribers.

``Engine(..., resume=True)`` continues a run from its file: the virtual bench (or the rack) is
found again, each channel's gap is recorded with whether its source-meter kept sourcing, and the
schedules carry on from the stress time the file reached.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agelab.instruments.resilience import FaultEvent
from agelab.instruments.station import Station
from agelab.instruments.station.virtual import BenchProcess
from agelab.protocols.config import RunConfig, parse_config
from agelab.protocols.engine.bus import RecordBus, fault_record
from agelab.protocols.engine.clock import EngineClock
from agelab.protocols.engine.runner import ChannelRunner
from agelab.protocols.engine.steps import SharedLocks
from agelab.protocols.engine.stress import StressDrive
from agelab.protocols.store import RunFile, RunFileError, RunWriter, inbox
from agelab.protocols.store.records import FINAL_STATUSES, EventRecord


class Terminated(Exception):
    """SIGTERM, turned into an exception in the main thread so the cleanup runs."""


class Engine:
    def __init__(self, config: RunConfig, run_path: Path | str, *, config_text: str = "",
                 bench_process: bool = False, resume: bool = False,
                 bench_idle_exit_s: float = 900.0) -> None:
        self.config = config
        self.path = Path(run_path)
        self.config_text = config_text
        self.bench_process = bench_process
        self.resume = resume
        self.bench_idle_exit_s = bench_idle_exit_s
        self.bus = RecordBus()
        self.clock = EngineClock(config.device_speedup)
        self.locks = SharedLocks()
        self.runners: dict[str, ChannelRunner] = {}
        self.station: Station | None = None
        self.writer: RunWriter | None = None
        self.bench: BenchProcess | None = None
        self.virtual_bench = None
        self._stop_reason: str | None = None
        self._inbox_error: str | None = None
        self._started = threading.Event()

    @classmethod
    def for_resume(cls, run_path: Path | str, **kwargs: Any) -> Engine:
        """An engine that continues the run in ``run_path`` with the config stored in it."""
        with RunFile(run_path) as run:
            meta = run.meta()
        text = meta.get("config_yaml")
        if not isinstance(text, str):
            raise RunFileError(f"{run_path}: the run file holds no config")
        config = parse_config(text, f"{run_path} (stored config)")
        kwargs.setdefault("bench_process", bool(meta.get("bench")))
        return cls(config, run_path, config_text=text, resume=True, **kwargs)

    # ---------------------------------------------------------------- control (any thread)
    def pause(self, channel: str | None = None) -> None:
        for r in self._select(channel):
            r.request_pause()
        self._operator("pause", channel)

    def resume_channel(self, channel: str | None = None) -> None:
        for r in self._select(channel):
            r.request_resume()
        self._operator("resume", channel)

    def abort(self, channel: str | None = None, reason: str = "operator abort",
              **origin: Any) -> None:
        """Stop ``channel`` (every channel if None) through each runner's safe way out (ramp
        down, output off). ``origin`` (who asked, through what) goes into the operator event."""
        if channel is None:  # the whole run; also holds for runners not started yet
            self._stop_reason = self._stop_reason or reason
        for r in self._select(channel):
            r.request_abort(reason)
        self._operator("abort", channel, **origin)

    def _select(self, channel: str | None) -> list[ChannelRunner]:
        if channel is None:
            return list(self.runners.values())
        if channel not in self.runners:
            raise ValueError(f"no channel {channel!r}")
        return [self.runners[channel]]

    def _operator(self, action: str, channel: str | None, **origin: Any) -> None:
        self.bus.publish(EventRecord(channel, "operator", {"action": action, **origin}))

    def take_commands(self) -> None:
        """Carry out the commands dropped in the run's inbox (a stop from Central, say). An
        inbox that cannot be read is reported, never raised into the run."""
        try:
            commands, problems = inbox.take(self.path)
        except OSError as exc:  # said once, not every tick
            if str(exc) != self._inbox_error:
                self.bus.publish(EventRecord(None, "command-rejected",
                                             {"detail": f"the inbox cannot be read: {exc}"}))
            self._inbox_error = str(exc)
            return
        self._inbox_error = None
        for text in problems:
            self.bus.publish(EventRecord(None, "command-rejected", {"detail": text}))
        for c in commands:
            origin = {"by": c.by, "via": c.via, "command": c.id}
            try:
                self.abort(c.channel, f"stopped by {c.by} via {c.via}", **origin)
            except ValueError as exc:  # a channel this run does not have
                self.bus.publish(EventRecord(None, "command-rejected",
                                             {"detail": str(exc), **origin}))

    def snapshot(self) -> list[dict[str, Any]]:
        return [r.snapshot() for r in self.runners.values()]

    def wait_started(self, timeout_s: float = 60.0) -> bool:
        return self._started.wait(timeout_s)

    # ---------------------------------------------------------------- the run
    def run(self, on_tick: Callable[[Engine], None] | None = None,
            tick_s: float = 0.5) -> dict[str, str]:
        """Run to the end; returns each channel's final status. Safe on every way out."""
        restore = self._install_signal_handlers()
        try:
            self._open()
            self._start_runners()
            self._started.set()
            while any(r.is_alive() for r in self.runners.values()):
                for r in self.runners.values():
                    r.join(timeout=tick_s / max(1, len(self.runners)))
                self.take_commands()
                if on_tick is not None:
                    try:
                        on_tick(self)
                    except Exception as exc:  # a display error must never stop a run
                        self.bus.publish(EventRecord(None, "display-error", {"error": str(exc)}))
                        on_tick = None
            self._stop_reason = self._stop_reason or "completed"
        except KeyboardInterrupt:
            self._stop_reason = "interrupted (SIGINT)"
            raise
        except Terminated:
            self._stop_reason = "terminated (SIGTERM)"
            raise
        except BaseException as exc:
            self._stop_reason = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._ignore_signals()
            try:
                self._shutdown()
            finally:
                gc.unfreeze()  # what the run held goes back to the collector (a GUI runs again)
                restore()
        return {name: r.status for name, r in self.runners.items()}

    def _open(self) -> None:
        if not self.resume and self.path.exists():
            raise FileExistsError(f"{self.path} exists; use 'agelab resume' to continue it")
        meta: dict[str, Any] = {}
        if self.resume:
            with RunFile(self.path) as run:
                meta = run.meta()
            self.writer = RunWriter(self.path)
        else:
            self.writer = RunWriter.new_run(
                self.path, study=self.config.study, config_yaml=self.config_text,
                config=self.config.model_dump(mode="json"), speedup=self.clock.speedup)
            for ch in self.config.channels:
                self.writer.add_channel(ch.name, ch.pixel, ch.area,
                                        ch.stress.current_density or 0.0, ch.sample.fields())
        self.bus.subscribe(self.writer.write)
        self.writer.set_meta(status="running", engine_pid=os.getpid())
        self.writer.start()
        self.station = Station(self.config.station, listener=self._on_fault)
        if self.config.station.virtual is not None and self.bench_process:
            self._bring_up_bench(meta.get("bench"))
        self.station.open()
        self.virtual_bench = self.station.bench  # kept after close: tests read its ground truth
        self.writer.update_meta(identities=self.station.identities())
        if self.resume:
            self.bus.publish(EventRecord(None, "resumed", {"engine_pid": os.getpid()}))

    def _bring_up_bench(self, previous: dict | None) -> None:
        if previous:
            self.bench = BenchProcess.attach(int(previous["pid"]), previous["resources"])
            if self.bench is None:
                self.bus.publish(EventRecord(None, "bench-restarted", {
                    "detail": "the virtual bench process had stopped; a new one was started, "
                              "so the virtual pixels are pristine again"}))
        if self.bench is None:
            self.bench = BenchProcess.start(self.config.station.virtual,
                                            idle_exit_s=self.bench_idle_exit_s)
        self.station.attach_bench(self.bench.resources)
        self.writer.update_meta(bench={"pid": self.bench.pid, "resources": self.bench.resources})

    def _start_runners(self) -> None:
        self._route_pixels_to_source_meters()
        states, histories, gaps = {}, {}, {}
        if self.resume:
            states, histories, gaps = self._resume_state()
        for ch in self.config.channels:
            runner = ChannelRunner(self.config, ch, self.station, self.locks, self.bus,
                                   self.clock, states.get(ch.name), histories.get(ch.name))
            self.runners[ch.name] = runner
            if self._stop_reason is not None:  # aborted while the station was being opened
                runner.request_abort(self._stop_reason)
        # Everything alive now (modules, the station, the bench) lives as long as the run:
        # moved out of the collector's way, a full collection no longer walks it (one can take
        # tens of ms, with every channel's sampling held up meanwhile).
        gc.collect()
        gc.freeze()
        self.clock.restart()  # opening the station took wall time that is no device time
        started_wall = time.time()
        for name, gap in gaps.items():
            self.runners[name].stress.offset_h = self._close_gap(name, gap, started_wall)
        if gaps:
            # On disk before any output changes, so a resume killed in its first C–V still
            # leaves the next one the stress hours this one found.
            self.writer.flush()
        for runner in self.runners.values():
            runner.start()

    def _route_pixels_to_source_meters(self) -> None:
        """A run killed inside a C–V leaves its pixel on the LCR meter, where its source-meter
        would meet an open and stop the channel as a runaway: every pixel goes back to its
        source-meter first."""
        try:
            relay = self.station["relay"]
        except KeyError:
            return  # no relay box: each pixel is wired to its source-meter
        for ch in self.config.channels:
            try:
                relay.route(ch.pixel, "SMU")
            except Exception as exc:  # reported; a pixel left open is then stopped as a runaway
                self.bus.publish(EventRecord(ch.name, "route-failed", {"error": str(exc)}))

    def _resume_state(self) -> tuple[dict, dict, dict]:
        """Each channel's saved state, its luminance history, and its open gap: where its
        record stops (stress time, wall) and whether its source-meter kept sourcing since."""
        states, histories, gaps = {}, {}, {}
        with RunFile(self.path) as run:
            closed = {e["channel"]: e for e in run.events(None, "gap")}  # each channel's last
            for info in run.channels():
                states[info.name] = info.state
                data = run.samples(info.name, ("t_h", "l_cd_m2", "v_v", "wall", "j_ma_cm2"))
                histories[info.name] = [(t, lum, v, j) for t, lum, v, _, j in data]
                if info.state.get("status") in FINAL_STATUSES or not len(data):
                    continue
                ch = next(c for c in self.config.channels if c.name == info.name)
                sourcing, level = self._still_sourcing(ch, info.state.get("level_a"))
                since = (float(data[-1, 0]), float(data[-1, 3]))
                gap = closed.get(info.name)
                if gap is not None and gap["wall"] > since[1]:
                    # The last resume closed a gap and was killed before any sample: what it
                    # found holds up to then (the source may have been on through the first
                    # part and off in a C–V since, found off now).
                    d = gap["detail"]
                    since = (d["from_h"] + (d["gap_h"] if d["counted_as_stress"] else 0.0),
                             gap["wall"])
                gaps[info.name] = (*since, sourcing, level)
        return states, histories, gaps

    def _close_gap(self, name: str, gap: tuple, until_wall: float) -> float:
        """Records a channel's gap up to ``until_wall``, the moment its stress clock runs again,
        and returns its stress time then: the gap counts as stress only if the source-meter kept
        sourcing through it. Measured to when the clock restarts, not to when the station was
        found: the wall time between (opening the run's history, the collection above) is
        stress too."""
        last_t, last_wall, sourcing, level = gap
        wall_s = until_wall - last_wall
        gap_h = self.clock.hours_of(wall_s)
        to_h = last_t + (gap_h if sourcing else 0.0)
        ch = next(c for c in self.config.channels if c.name == name)
        self.bus.publish(EventRecord(name, "gap", {
            "from_h": last_t, "to_h": to_h, "gap_h": gap_h, "wall_s": wall_s,
            "kept_sourcing": sourcing,
            "level_a" if ch.stress.mode == "current" else "level_v": level,
            "counted_as_stress": sourcing}, last_t, wall=until_wall))
        return to_h

    def _still_sourcing(self, ch, level_a: float | None = None) -> tuple[bool, float]:
        """Whether the channel's source-meter still holds its stress (``level_a``: the level
        a held luminance had set)."""
        try:
            return StressDrive.of(ch, level_a).still_sourcing(self.station[ch.smu_name])
        except Exception:  # unreachable: treat as not sourcing, and say so in the gap event
            return False, 0.0

    # ---------------------------------------------------------------- faults
    def _on_fault(self, event: FaultEvent) -> None:
        owner = next((ch.name for ch in self.config.channels
                      if event.instrument in (ch.smu_name, ch.pd_name) or (
                          ch.temperature is not None
                          and event.instrument == ch.temperature.controller)), None)
        self.bus.publish(fault_record(event, owner))
        if event.output_off_s is not None and owner in self.runners:
            # A source-meter rebooted under stress, now back on: the hours it sat off are not
            # stress hours.
            self.runners[owner].stress_lost(event.output_off_s)
        if event.output_on_s is not None and owner in self.runners:
            # A ramp up's end lost: the source-meter held the stress while the clock stood.
            self.runners[owner].stress_gained(event.output_on_s)

    # ---------------------------------------------------------------- the way out
    def _shutdown(self) -> None:
        reason = self._stop_reason or "stopped"
        for runner in self.runners.values():
            runner.request_abort(reason)
        for runner in self.runners.values():
            if runner.is_alive():
                runner.join(timeout=120)
        if self.station is not None:
            self._sweep_outputs()
            self.station.close()
        if self.bench is not None:
            self.bench.stop()
        if self.writer is not None:
            statuses = {name: r.status for name, r in self.runners.items()}
            self.bus.publish(EventRecord(None, "run-end", {"reason": reason,
                                                           "channels": statuses}))
            final = "finished" if reason == "completed" else "stopped"
            self.writer.update_meta(status=final, stop_reason=reason, ended=time.time())
            self.writer.close()

    def _sweep_outputs(self) -> None:
        """The second line of defence: every channel's source-meter, ramped off if still on."""
        for ch in self.config.channels:
            with contextlib.suppress(KeyError):
                smu = self.station[ch.smu_name]
                try:
                    if smu.output_enabled:
                        StressDrive.of(ch).ramp_off(smu)
                        self.bus.publish(EventRecord(ch.name, "output-off", {"by": "engine"}))
                except Exception as exc:  # reported; close() still tries once more
                    self.bus.publish(EventRecord(ch.name, "output-off-failed",
                                                 {"error": str(exc)}))

    # ---------------------------------------------------------------- signals
    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def on_term(signum, frame):
            raise Terminated("SIGTERM")

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, signal.default_int_handler)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _ignore_signals(self) -> None:
        """While the outputs are being ramped down, a second Ctrl-C must not cut that short."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: print("agelab: stopping safely, ramping outputs down",
                                                flush=True))

