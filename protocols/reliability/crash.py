"""The crash test: ``kill -9`` the engine at random moments, ``agelab resume`` each time.

The harness hosts the virtual bench, which, like a real source-meter whose computer died, keeps
sourcing while no engine runs. After every kill it checks the run file with SQLite's integrity
check and notes every sample committed so far; at the end it checks that none of them was lost,
that every gap is an event, and that each channel's lifetimes match an uninterrupted twin (same
seed) within 1 %.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from agelab.instruments.station.virtual import VirtualBench
from agelab.protocols.reliability.soak import (
    LIFETIME_GOAL,
    Check,
    SoakPlan,
    SoakResult,
    agelab,
    lifetime_check,
    lifetime_row,
    lifetimes_of,
    presets,
    run_twin,
    stress_check,
    study_config,
)
from agelab.protocols.store import RunFile
from agelab.protocols.store.records import FINAL_STATUSES


@dataclass(frozen=True)
class CrashPlan:
    kills: int = 20
    hours: float = 60.0
    channels: int = 4
    speedup: float = 1000.0
    seed: int = 5
    twin: bool = True  # also run the uninterrupted twin and compare lifetimes

    @classmethod
    def short(cls) -> CrashPlan:
        return cls(kills=3, hours=12.0, channels=2, twin=False)

    def soak_plan(self) -> SoakPlan:
        return SoakPlan(hours=self.hours, channels=self.channels, fault_rate=0.0, sampling_min=1.0,
                        speedup=self.speedup, seed=self.seed, timeout_ms=1000, victims=False)


def committed(run_path: Path) -> tuple[str, set[tuple], dict[str, str]]:
    """The file's integrity verdict, every sample in it, and each channel's status."""
    with RunFile(run_path) as run:
        verdict = run.integrity()
        rows, statuses = set(), {}
        for ch in run.channels():
            statuses[ch.name] = ch.state.get("status", "pending")
            for t, lum, v in run.samples(ch.name, ("t_h", "l_cd_m2", "v_v")):
                rows.add((ch.name, float(t), float(lum), float(v)))
    return verdict, rows, statuses


def _wait_for_file(runs: Path, proc: subprocess.Popen, timeout_s: float = 60.0) -> Path | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        files = sorted(runs.glob("*.sqlite"))
        if files:
            return files[-1]
        time.sleep(0.1)
    return None


def _started(run_path: Path, after_events: int) -> bool:
    """Whether the engine now writing has started its channels (a new 'started' or 'resumed')."""
    try:
        with RunFile(run_path) as run:
            events = run.events(after_id=after_events)
        return any(e["kind"] in ("started", "resumed") for e in events)
    except Exception:  # the file is being created
        return False


def _event_count(run_path: Path) -> int:
    with RunFile(run_path) as run:
        events = run.events()
    return events[-1]["id"] if events else 0


def run_crash_test(plan: CrashPlan, out: Path, say: Callable[[str], None] = print
                   ) -> SoakResult:
    soak = plan.soak_plan()
    rng = random.Random(plan.seed)
    out.mkdir(parents=True, exist_ok=True)
    running_s = plan.hours * 3600.0 / plan.speedup
    say(f"crash test: {plan.channels} channels x {plan.hours:g} device-h at {plan.speedup:g}x, "
        f"{plan.kills} kills ~{0.8 * running_s / max(plan.kills, 1):.1f} s apart")
    bench = VirtualBench(presets(soak), speedup=plan.speedup, seed=plan.seed).start()
    verdicts, snapshots, kills_at = [], [], []
    interrupted: list[tuple[float, list[str]]] = []  # each kill's moment, the channels it stopped
    try:
        cfg = out / "crash.yaml"
        cfg.write_text(yaml.safe_dump(study_config(soak, bench.resources, "crash"),
                                      sort_keys=False))
        runs = out / "crash"
        log = (out / "crash.log").open("w")
        proc = subprocess.Popen(agelab("run", str(cfg), "--out", str(runs)), stdout=log,
                                stderr=subprocess.STDOUT)
        run_path = _wait_for_file(runs, proc)
        if run_path is None:
            raise RuntimeError(f"the engine wrote no run file; see {out / 'crash.log'}")
        seen_events = 0
        # Kill moments drawn over the run's first 85 % (a gap counts as stress, so the run
        # lasts about running_s whatever the kills): spacings drawn one by one could add up to
        # more than the run, and the last kills never came (18 of 20 in the first full test).
        t0 = time.monotonic()
        schedule = sorted(rng.uniform(0.05, 0.85) * running_s for _ in range(plan.kills))
        for k in range(plan.kills):
            deadline = time.monotonic() + 60
            while not _started(run_path, seen_events) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(max(t0 + schedule[k] - time.monotonic(), 0.2))
            if proc.poll() is not None:
                say(f"crash test: the run ended before kill {k + 1}")
                break
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed_at = time.time()  # dead by now: its last sample is earlier, the resume later
            verdict, rows, statuses = committed(run_path)
            verdicts.append(verdict)
            snapshots.append(rows)
            kills_at.append(killed_at)
            # A channel done for good (a runaway included) is not resumed, so has no gap.
            interrupted.append((killed_at, [name for name, s in statuses.items()
                                            if s not in (*FINAL_STATUSES, "pending")]))
            seen_events = _event_count(run_path)
            proc = subprocess.Popen(agelab("resume", str(run_path)), stdout=log,
                                    stderr=subprocess.STDOUT)
        returncode = proc.wait()
        log.close()
        charge = [s.charge_mah_cm2 for s in bench.rig.sites]
    finally:
        bench.stop()
    if not plan.twin:
        return _judge(plan, run_path, returncode, verdicts, snapshots, interrupted, charge, None)
    say(f"crash test: {len(kills_at)} kills done; twin next")
    return _judge(plan, run_path, returncode, verdicts, snapshots, interrupted, charge,
                  run_twin(soak, out))


def unrecorded(gaps: list[dict], interrupted: list[tuple[float, list[str]]]) -> list[str]:
    """Each channel a kill stopped mid-run whose outage no gap event spans: a gap event covers
    the wall time from the channel's last sample to the resume that wrote it. Counted by
    coverage, not one event per kill: a kill that lands inside a resume, after some channels'
    gap events and before the rest, leaves the rest to the next resume's event, which spans
    both outages from the same last sample."""
    # A gap event's wall is the moment the resumed stress clock ran again (engine._close_gap).
    spans: dict[str, list[tuple[float, float]]] = {}
    for gap in gaps:
        wall, width = float(gap["wall"]), float(gap["detail"].get("wall_s", 0.0))
        spans.setdefault(gap["channel"], []).append((wall - width, wall))
    return [f"{name} at kill {k + 1}" for k, (at, names) in enumerate(interrupted)
            for name in names if not any(a <= at <= b for a, b in spans.get(name, []))]


def _judge(plan: CrashPlan, run_path: Path, returncode: int, verdicts: list[str],
           snapshots: list[set], interrupted: list[tuple[float, list[str]]],
           charge: list[float], twin) -> SoakResult:
    checks = []
    final_verdict, final_rows, statuses = committed(run_path)
    with RunFile(run_path) as run:
        gaps = run.events(None, "gap")
        stop_reason = run.meta().get("stop_reason")
    finished = sum(s == "finished" for s in statuses.values())
    checks.append(Check("kills, then the run completes",
                        f"{len(snapshots)} kills; exit {returncode}, {finished}/{len(statuses)} "
                        f"finished", f"{plan.kills} kills, all finished",
                        len(snapshots) == plan.kills and returncode == 0
                        and finished == len(statuses) and stop_reason == "completed"))
    ok_count = sum(v == "ok" for v in [*verdicts, final_verdict])
    checks.append(Check("SQLite integrity check", f"ok {ok_count}/{len(verdicts) + 1}",
                        "ok every time", ok_count == len(verdicts) + 1))
    lost = [len(s - final_rows) for s in snapshots]
    last = len(snapshots[-1]) if snapshots else 0
    checks.append(Check("committed samples lost", f"{sum(lost)} (of {last} committed by the last "
                        f"kill)", "0", not any(lost)))
    kept = sum(bool(g["detail"].get("kept_sourcing")) for g in gaps)
    missing = unrecorded(gaps, interrupted)
    total = sum(len(names) for _, names in interrupted)
    checks.append(Check("gaps recorded", f"{total - len(missing)} of {total} interrupted "
                        f"channel-runs inside a gap event ({len(gaps)} events, {kept} kept "
                        "sourcing)" + (f"; none for {', '.join(missing[:4])}" if missing else ""),
                        "every kill of every running channel", not missing))
    checks.append(stress_check(plan.soak_plan(), run_path, charge, "killed run"))
    names = list(statuses)
    if twin is None:
        pass  # the short version: no twin
    elif twin.run_path is None:
        checks.append(Check("lifetimes vs uninterrupted twin", "twin wrote no run file",
                            LIFETIME_GOAL, False))
    else:
        checks.append(stress_check(plan.soak_plan(), twin.run_path, twin.charge, "twin"))
        lives = lifetime_check(lifetimes_of(run_path), lifetimes_of(twin.run_path), names)
        checks.append(Check("lifetimes vs uninterrupted twin", lifetime_row(lives),
                            LIFETIME_GOAL, not lives.problems))
    return SoakResult(checks, {"run file": str(run_path)})
