"""The soak test: a lab's worst weeks, in minutes, on the virtual bench.

The harness hosts a virtual bench (with its ground truth and its fault log) and runs the engine as
a user does, ``agelab run`` in its own process, against that bench's resources. Faults strike a
given fraction of all instrument transactions, spread over every transport kind (timeout, garble,
drop, reboot, error); two extra "victim" pixels go open and short circuit mid-run. Then a
fault-free twin (same seed, same plan) runs, and the harness checks:

- the run completed: every channel finished, each victim stopped as a runaway;
- every fault in the bench's log appears as a fault event in the run file;
- no safety invariant was broken: no source-meter output on (or any current) after the end, no
  current above a channel's set point, compliance always set before output on (the bench audits);
- the engine's resident memory after warm-up stays within 10 % of its level at warm-up's end;
- each channel's lifetimes (T95/T90/T50 from L0 and from Lmax, as the report computes them) are
  within 1 % of the twin's.

``agelab soak`` runs it (``--short`` for the version in ``make test``); ``agelab soak --crash N``
runs the crash test in ``protocols.crash``.
"""

from __future__ import annotations

import bisect
import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from agelab.instruments.resilience import ERROR_POLL_S
from agelab.instruments.station.virtual import (
    ElevationLaw,
    FaultKind,
    FaultRecord,
    QledPixel,
    VirtualBench,
    bench_instruments,
)
from agelab.protocols.analysis.study import analyse
from agelab.protocols.reliability.clock_check import (
    ClockError,
    WallToDevice,
    clock_errors,
    clock_figure,
    write_clock_errors,
)
from agelab.protocols.reliability.truth import (
    PixelTruth,
    aging_figure,
    extra_aging_h,
    pixel_truths,
    save_truth,
    true_lifetimes,
    truth_figures,
    truth_rows,
    write_truth_rows,
)
from agelab.protocols.store import RunFile

CAL = {"blue-znsete": 8.54e7, "red-cdse": 1.70e8}  # photodiode cd/m² per A (as config.yaml)
TRANSPORT = ("timeout", "garble", "drop", "reboot", "error")
# What the engine may call each bench fault when it meets it (a garbled reply cut short is met
# as a timeout; pyvisa-py notices a closed socket only at its timeout).
SEEN_AS = {
    FaultKind.TIMEOUT: {"timeout"},
    # A garbled error-queue reply that still parses is met as a device error, its text garbled.
    FaultKind.GARBLE: {"garbled", "timeout", "wrong-identity", "link-lost", "device-error"},
    FaultKind.DROP: {"link-lost", "timeout"},
    FaultKind.REBOOT: {"reboot-detected", "link-lost", "timeout"},
    FaultKind.ERROR: {"device-error"},
}
LIFETIME_KEYS = ((0.95, False), (0.90, False), (0.50, False), (0.95, True), (0.90, True),
                 (0.50, True))


@dataclass(frozen=True)
class SoakPlan:
    hours: float = 1000.0         # device hours every channel is stressed
    channels: int = 16
    fault_rate: float = 0.01      # fraction of transactions struck, spread over TRANSPORT
    sampling_min: float = 2.0
    speedup: float = 6000.0
    seed: int = 11
    timeout_ms: int = 200
    victims: bool = True          # two extra pixels that go open and short mid-run

    @classmethod
    def short(cls) -> SoakPlan:
        return cls(hours=40.0, sampling_min=1.0, speedup=2000.0)


@dataclass
class Check:
    name: str
    measured: str
    goal: str
    ok: bool


@dataclass
class EngineRun:
    """One ``agelab run`` process: its exit code, run file, log and resource use."""

    returncode: int
    run_path: Path | None
    log: str
    rss: list[tuple[float, int]] = field(default_factory=list)  # (wall time, bytes)
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (wall time, CPU seconds)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    charge: list[float] = field(default_factory=list)  # each pixel's, from its bench (mA·h/cm²)
    clock: list[ClockError] = field(default_factory=list)  # its stress clock, sample by sample
    truth: list[PixelTruth] = field(default_factory=list)  # each pixel's aging, from its bench
    true_lives: dict = field(default_factory=dict)  # T-values of its noise-free replay


# ---------------------------------------------------------------- the study
def blue_current(l0_cd_m2: float) -> float:
    """The current density (mA/cm²) at which a pristine blue pixel shines at ``l0_cd_m2``."""
    px = QledPixel("blue-znsete")
    lo, hi = 0.1, 300.0
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if px.luminance(mid) < l0_cd_m2 else (lo, mid)
    return round(math.sqrt(lo * hi), 3)


def red_current(t_el_h: float) -> float:
    """The current density (mA/cm²) whose efficiency elevation lasts ``t_el_h``."""
    law = ElevationLaw()
    lo, hi = 1.0, 300.0
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if law.elevation_hours(mid) > t_el_h else (lo, mid)
    return round(math.sqrt(lo * hi), 3)


def channel_plan(plan: SoakPlan) -> list[tuple[str, float]]:
    """(preset, mA/cm²) per channel: a quarter red, the rest blue, spread so that the blue T50s
    fall between 25 % and 85 % of the run and the red T95-from-Lmax between 30 % and 70 %."""
    n_red = max(1, plan.channels // 4)
    n_blue = plan.channels - n_red
    out = []
    for k in range(n_blue):
        t50 = plan.hours * (0.25 + 0.6 * k / max(n_blue - 1, 1))
        out.append(("blue-znsete", blue_current(100.0 * (16683.0 / t50) ** (1 / 1.8))))
    for k in range(n_red):
        t95_from_max = plan.hours * (0.3 + 0.4 * k / max(n_red - 1, 1))
        out.append(("red-cdse", red_current(t95_from_max / 2.5)))
    return out


def presets(plan: SoakPlan) -> list[str]:
    chans = [p for p, _ in channel_plan(plan)]
    return chans + (["blue-znsete", "blue-znsete"] if plan.victims else [])


def study_config(plan: SoakPlan, resources: dict[str, str], name: str) -> dict:
    """The soak study for a bench at ``resources``: every channel stressed for ``hours``, with
    J–V–L, C–V, EL and PL checkpoints log-spaced through the run."""
    channels = []
    for i, (name, (preset, j)) in enumerate(_names_and_plan(plan), start=1):
        channels.append({"name": name, "pixel": i, "cd_m2_per_A": CAL[preset],
                         "stress": {"current_density": f"{j} mA/cm^2"}})
    if plan.victims:
        for k, what in enumerate(("open", "short")):
            i = plan.channels + 1 + k
            channels.append({"name": f"victim-{what}", "pixel": i,
                             "cd_m2_per_A": CAL["blue-znsete"],
                             "stress": {"current_density": "50 mA/cm^2"}})
    return {
        "study": name,
        "speedup": plan.speedup,
        "station": station_of(resources, plan.timeout_ms),
        "safety": {"max_current_density": "300 mA/cm^2", "max_voltage": "10 V"},
        "measurements": {
            # Limited to 30 mA/cm² (compliance): at 6000x a sweep's wall time, which CPU load
            # stretches at random, is device-minutes, and at 150 mA/cm² each of those aged a
            # blue pixel by hours at its stress current; T90s of the same pixel then scattered
            # by ±20 % between two fault-free runs, which measured the speed-up, not the faults.
            "jvl": {"kind": "jv", "start": "0 V", "stop": "3.6 V", "points": 31, "nplc": 0.1,
                    "max_current_density": "30 mA/cm^2"},
            "cv": {"kind": "cv", "start": "-1 V", "stop": "3 V", "points": 21},
            "el": {"kind": "el", "integration": "50 ms"},
            "pl": {"kind": "pl", "time_constant": "3 ms"}},
        "defaults": {
            "area": "4 mm^2", "sampling": f"{plan.sampling_min} min",
            "stress": {"compliance": "9 V", "ramp_steps": 10, "ramp_dwell": "1 ms"},
            "checkpoints": {"at_start": True, "measure": ["jvl", "cv", "el", "pl"],
                            "log": {"first": f"{plan.hours / 50:g} h",
                                    "last": f"{plan.hours * 0.8:g} h", "per_decade": 2}},
            "stop": {"max_time": f"{plan.hours:g} h", "max_voltage": "8.5 V"}},
        "channels": channels,
    }


def station_of(resources: dict[str, str], timeout_ms: int, smu: str = "keithley2400") -> dict:
    """A config's station section naming a bench's instruments one by one, as a rack's would:
    the engine then runs against a bench this process hosts (with its ground truth)."""
    specs = bench_instruments(resources, smu=smu, timeout_ms=timeout_ms)
    return {"instruments": {k: v.model_dump() for k, v in specs.items()}}


def fault_specs(plan: SoakPlan) -> list[str]:
    rate = plan.fault_rate / len(TRANSPORT)
    specs = [f"{kind}:{rate:g}" for kind in TRANSPORT]
    if plan.victims:
        specs += [f"open@{plan.hours * 0.3:g}:smu{plan.channels + 1}",
                  f"short@{plan.hours * 0.6:g}:smu{plan.channels + 2}"]
    return specs


# ---------------------------------------------------------------- running the engine
def agelab(*args: str) -> list[str]:
    return [sys.executable, "-m", "agelab.protocols.cli", *args]


def watch(proc: subprocess.Popen, rss: list[tuple[float, int]],
          cpu: list[tuple[float, float]], period_s: float = 0.5) -> float:
    """Sample the process's resident memory and CPU time until it exits; returns its CPU
    seconds."""
    import psutil

    try:
        p = psutil.Process(proc.pid)
        while proc.poll() is None:
            with p.oneshot():
                now = time.time()
                rss.append((now, p.memory_info().rss))
                times = p.cpu_times()
                cpu.append((now, times.user + times.system))
            time.sleep(period_s)
    except psutil.NoSuchProcess:
        pass
    proc.wait()
    return cpu[-1][1] if cpu else 0.0


def run_engine(config: dict, out: Path, label: str, extra: tuple[str, ...] = ()) -> EngineRun:
    """``agelab run`` on ``config`` (and ``extra`` arguments) in its own process, watched; its
    log goes to out/LABEL.log."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = out / f"{label}.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    log_path = out / f"{label}.log"
    runs = out / label
    t0 = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.Popen(agelab("run", str(cfg), "--out", str(runs), *extra), stdout=log,
                                stderr=subprocess.STDOUT)
        rss: list[tuple[float, int]] = []
        cpu: list[tuple[float, float]] = []
        cpu_s = watch(proc, rss, cpu)
    files = sorted(runs.glob("*.sqlite"))
    return EngineRun(proc.returncode, files[-1] if files else None, log_path.read_text(), rss,
                     cpu, cpu_s, time.monotonic() - t0)


def lifetimes_of(run_path: Path) -> dict[str, dict[str, tuple[float | None, float | None]]]:
    """Each channel's T-values as the report computes them, with their standard errors."""
    with RunFile(run_path) as run:
        study = analyse(run)
    return {ch.name: {_key(f, m): (ch.t_value(f, m),
                                   ch.lifetimes.sigma(f, m) if ch.lifetimes else None)
                      for f, m in LIFETIME_KEYS}
            for ch in study.channels}


def _key(fraction: float, from_max: bool) -> str:
    return f"T{round(fraction * 100)}" + (" from Lmax" if from_max else "")


def write_fault_log(faults: list[FaultRecord], path: Path) -> None:
    """The bench's own record of every fault it injected, for a reader to compare."""
    with path.open("w") as f:
        f.write("wall_time,device_h,instrument,kind,message\n")
        for r in faults:
            f.write(f"{r.wall_time:.6f},{r.device_h:.6f},{r.instrument},{r.kind.value},"
                    f"\"{r.message[:80]}\"\n")


# ---------------------------------------------------------------- the checks
def match_faults(faults: list[FaultRecord], events: list[dict], slack_s: float = 0.05,
                 window_s: float = 60.0) -> list[FaultRecord]:
    """The bench's faults that no fault event in the run file answers: each event answers one
    fault of the same instrument, of a kind the fault can be seen as, no earlier than the fault
    and within ``window_s`` of it. The pairing is a maximum matching (a greedy one in time
    order let a reboot take the timeout a later timeout needed, and the shift ran down the
    whole run). An injected error entry that a reboot of the same instrument wiped before the
    next error-queue read (within ERROR_POLL_S) could never be seen, and is not asked for."""
    by_instrument: dict[str, list[tuple[float, str]]] = {}
    for e in events:
        d = e["detail"]
        by_instrument.setdefault(d.get("instrument", ""), []).append((e["wall"], d.get("fault")))
    missing = []
    mine: dict[str, list[FaultRecord]] = {}
    for f in faults:
        if f.kind in SEEN_AS:
            mine.setdefault(f.instrument, []).append(f)
    for instrument, fs in mine.items():
        fs.sort(key=lambda r: r.wall_time)
        seen = sorted(by_instrument.get(instrument, []))
        wiped = _wiped_errors(fs)
        wanted = [f for i, f in enumerate(fs) if i not in wiped]
        missing += _unmatched(wanted, seen, slack_s, window_s)
    return sorted(missing, key=lambda r: r.wall_time)


def _wiped_errors(fs: list[FaultRecord]) -> set[int]:
    out = set()
    for i, f in enumerate(fs):
        if f.kind is FaultKind.ERROR and any(
                g.kind is FaultKind.REBOOT and 0 <= g.wall_time - f.wall_time <= ERROR_POLL_S
                for g in fs[i + 1:i + 20]):
            out.add(i)
    return out


def _unmatched(faults: list[FaultRecord], seen: list[tuple[float, str]], slack_s: float,
               window_s: float) -> list[FaultRecord]:
    """Kuhn's augmenting paths over faults → events (both in time order)."""
    walls = [w for w, _ in seen]
    options = []
    for f in faults:
        lo = bisect.bisect_left(walls, f.wall_time - slack_s)
        # An error entry waits in the queue for the next poll, or for the close at the run's
        # end when its channel had finished: it may be read long after.
        reach = math.inf if f.kind is FaultKind.ERROR else window_s
        hi = bisect.bisect_right(walls, f.wall_time + reach)
        options.append([j for j in range(lo, hi) if seen[j][1] in SEEN_AS[f.kind]])
    owner: dict[int, int] = {}

    def place(i: int, visited: set[int]) -> bool:
        for j in options[i]:
            if j in visited:
                continue
            visited.add(j)
            if j not in owner or place(owner[j], visited):
                owner[j] = i
                return True
        return False

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(faults) + 100))
    try:
        placed = {i for i in range(len(faults)) if place(i, set())}
    finally:
        sys.setrecursionlimit(limit)
    return [f for i, f in enumerate(faults) if i not in placed]


def memory_check(rss: list[tuple[float, int]], start: float, end: float,
                 warmup: float = 0.2) -> tuple[float, float]:
    """(RSS at warm-up's end in MB, largest growth after it as a fraction) over [start, end]."""
    inside = [(t, r) for t, r in rss if start <= t <= end]
    if len(inside) < 4:
        return math.nan, math.nan
    t_warm = start + warmup * (end - start)
    after = [r for t, r in inside if t >= t_warm]
    base = after[0]
    return base / 2**20, max(after) / base - 1.0


@dataclass
class LifetimeComparison:
    worst: float = 0.0            # largest relative difference of any T-value both reached
    worst_resolved: float = 0.0   # ... among those whose noise allows a 1 % comparison
    compared: int = 0
    noise_limited: int = 0        # T-values whose 3σ (both runs) exceeds 1 %
    problems: list[str] = field(default_factory=list)


def lifetime_check(faulty: dict, twin: dict, names: list[str]) -> LifetimeComparison:
    """Each T-value against the twin's: within 1 %, or within 3σ of the two runs' combined
    noise where that is wider. Two runs with the same seed do not draw the same noise once a
    fault changes what is read, and an early T95 at 0.13 % photodiode noise is uncertain by
    1–2 % on its own (its σ comes from its local fit)."""
    out = LifetimeComparison()
    for name in names:
        for key, (value, sigma) in faulty.get(name, {}).items():
            other, other_sigma = twin.get(name, {}).get(key, (None, None))
            if (value is None) != (other is None):
                out.problems.append(f"{name} {key}: {value} vs twin {other}")
                continue
            if value is None or not other:
                continue
            diff = abs(value / other - 1.0)
            noise = 3 * math.hypot(sigma or 0.0, other_sigma or 0.0) / other
            out.compared += 1
            out.worst = max(out.worst, diff)
            if noise > 0.01:
                out.noise_limited += 1
            else:
                out.worst_resolved = max(out.worst_resolved, diff)
            if diff > max(0.01, noise):
                out.problems.append(f"{name} {key}: {value:.4g} h vs twin {other:.4g} h "
                                    f"({diff:+.2%}, 3σ {noise:.2%})")
    return out


def lifetime_row(c: LifetimeComparison) -> str:
    return (f"{c.compared} T-values: worst {c.worst:.2%}; {c.compared - c.noise_limited} "
            f"resolvable to 1 % (3σ), worst {c.worst_resolved:.2%}; {c.noise_limited} "
            f"noise-limited, held to 3σ" + (f"; {c.problems[0]}" if c.problems else ""))


LIFETIME_GOAL = "within 1 % (3σ where the noise is wider)"


@dataclass
class SoakResult:
    checks: list[Check]
    figures: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def run_soak(plan: SoakPlan, out: Path, say: Callable[[str], None] = print) -> SoakResult:
    names = [c["name"] for c in study_config(plan, {}, "x")["channels"]][:plan.channels]
    say(f"soak: {plan.channels} channels (+2 victims) x {plan.hours:g} device-h at "
        f"{plan.speedup:g}x, faults on {plan.fault_rate:.1%} of transactions")
    bench = VirtualBench(presets(plan), speedup=plan.speedup, seed=plan.seed,
                         faults=fault_specs(plan)).start()
    try:
        to_device = WallToDevice.of(bench.rig.clock)
        faulty = run_engine(study_config(plan, bench.resources, "soak"), out, "faulty")
        sites = bench.rig.sites
        faulty.charge = [s.charge_mah_cm2 for s in sites]
        faulty.clock = _clock_errors(plan, faulty, sites, to_device)
        faulty.truth = _keep_truth(plan, sites, bench.rig.clock, to_device, out, "faulty")
        faulty.true_lives = _true_lives(plan, faulty, sites, to_device)
        still_on = [f"pixel {s.index + 1}: {s.present_j():g} mA/cm²" for s in sites
                    if s.present_j() != 0.0]
        outputs_on = [n for n, d in bench.devices.items()
                      if n.startswith("smu") and d.s["output"]]
        overshoot = []
        for (_preset, j), site in zip(channel_plan(plan), sites, strict=False):
            drives = [d for _, d, volts in site.drive_history if volts is None]
            if drives and max(drives) > j * (1 + 1e-6):
                overshoot.append(f"pixel {site.index + 1}: {max(drives):.4g} > {j:g} mA/cm²")
        violations = bench.safety_violations()
        faults = bench.fault_log
        write_fault_log(faults, out / "bench-faults.csv")
        transactions = bench.injector.transactions if bench.injector else 0
    finally:
        bench.stop()
    say(f"soak: faulty run done in {faulty.wall_s:.0f} s (exit {faulty.returncode}); twin next")
    twin = run_twin(plan, out)
    return _judge(plan, names, faulty, twin, faults, transactions, still_on, outputs_on,
                  overshoot, violations)


def run_twin(plan: SoakPlan, out: Path) -> EngineRun:
    """The same study on a fault-free bench with the same seed, run without interruption."""
    bench = VirtualBench(presets(plan), speedup=plan.speedup, seed=plan.seed).start()
    try:
        to_device = WallToDevice.of(bench.rig.clock)
        twin = run_engine(study_config(plan, bench.resources, "twin"), out, "twin")
        twin.charge = [s.charge_mah_cm2 for s in bench.rig.sites]
        twin.clock = _clock_errors(plan, twin, bench.rig.sites, to_device)
        twin.truth = _keep_truth(plan, bench.rig.sites, bench.rig.clock, to_device, out, "twin")
        twin.true_lives = _true_lives(plan, twin, bench.rig.sites, to_device)
        return twin
    finally:
        bench.stop()


def _clock_errors(plan: SoakPlan, run: EngineRun, sites, to_device: WallToDevice
                  ) -> list[ClockError]:
    if run.run_path is None:
        return []
    names, plans = zip(*_names_and_plan(plan), strict=True)
    return clock_errors(run.run_path, names, [j for _, j in plans],
                        [list(s.drive_history) for s in sites], to_device)


def _true_lives(plan: SoakPlan, run: EngineRun, sites, to_device: WallToDevice) -> dict:
    if run.run_path is None:
        return {}
    channels = [(name, preset, j, plan.seed + i)
                for i, (name, (preset, j)) in enumerate(_names_and_plan(plan))]
    return true_lifetimes(run.run_path, channels, [list(s.drive_history) for s in sites],
                          to_device, sorted({f for f, _ in LIFETIME_KEYS}, reverse=True))


def _keep_truth(plan: SoakPlan, sites, clock, to_device: WallToDevice, out: Path,
                label: str) -> list[PixelTruth]:
    truths = pixel_truths(sites, [j for _, (_, j) in _names_and_plan(plan)])
    save_truth(sites, truths, to_device.wall_minus_monotonic, clock,
               out / f"bench-truth-{label}.npz")
    return truths


STRESS_GOAL = 0.001  # a tenth of the lifetime goal: an error of the stress clock is one of T


def stress_check(plan: SoakPlan, run_path: Path, charge: list[float], label: str) -> Check:
    """Each channel's stress time on record against the hours its pixel was really under its
    stress current: the charge the bench saw it pass over the set current density (ramps and
    the sweeps' instants aside, a constant-current stress passes charge only while stressed).
    A resume that counts a gap wrongly, or a reboot's off time counted as stress, shows here,
    free of the noise that limits the lifetime comparison."""
    rows = []
    with RunFile(run_path) as run:
        for (name, (_, j)), q in zip(_names_and_plan(plan), charge, strict=False):
            t = run.channel(name).state.get("t_h")
            if t:
                rows.append((abs(q / j - t) / t, q / j - t, name, t))
    (Path(run_path).parent.parent / f"stress-{label.replace(' ', '-')}.csv").write_text(
        "channel,recorded_h,bench_minus_recorded_h\n"
        + "".join(f"{n},{t:.4f},{d:+.5f}\n" for _, d, n, t in rows))
    if not rows:
        return Check(f"stress on record ({label})", "no channel", f"within {STRESS_GOAL:.1%}",
                     False)
    worst, diff, name, _ = max(rows)
    mean = sum(r[0] for r in rows) / len(rows)
    return Check(f"stress on record ({label})",
                 f"worst {name}: bench {diff:+.3f} h against the record ({worst:.3%}); "
                 f"mean {mean:.3%} over {len(rows)}",
                 f"within {STRESS_GOAL:.1%} of the bench's", worst <= STRESS_GOAL)


def _recorded_h(run_path: Path, names: list[str]) -> list[float]:
    with RunFile(run_path) as run:
        return [run.channel(n).state.get("t_h") or 0.0 for n in names]


def _names_and_plan(plan: SoakPlan) -> list[tuple[str, tuple[str, float]]]:
    return [(f"{preset.split('-')[0]}-{i:02d}", (preset, j))
            for i, (preset, j) in enumerate(channel_plan(plan), start=1)]


@dataclass(frozen=True)
class _FaultyRunRecord:
    """What the faulty run's file says, read once for the checks."""

    integrity: str
    meta: dict
    statuses: dict[str, str | None]
    fault_events: list[dict]
    runaways: dict[str, list[dict]]
    samples: int
    t_start: float
    t_end: float


def _read_record(run_path: str, names: list[str]) -> _FaultyRunRecord:
    with RunFile(run_path) as run:
        statuses = {c.name: c.state.get("status") for c in run.channels()}
        return _FaultyRunRecord(
            integrity=run.integrity(), meta=run.meta(), statuses=statuses,
            fault_events=run.events(None, "fault"),  # every channel's and the shared ones
            runaways={name: run.events(name, "runaway") for name in statuses},
            samples=run.sample_count(),
            t_start=min((e["wall"] for name in names for e in run.events(name, "started")),
                        default=math.nan),
            t_end=max((e["wall"] for e in run.events(None, "run-end")), default=math.nan))


def _judge(plan: SoakPlan, names: list[str], faulty: EngineRun, twin: EngineRun,
           faults: list[FaultRecord], transactions: int, still_on: list[str],
           outputs_on: list[str], overshoot: list[str], violations: dict) -> SoakResult:
    """Every goal of the soak checked, in the order the report lists them."""
    if faulty.run_path is None or twin.run_path is None:
        tail = "\n".join(faulty.log.splitlines()[-5:])
        return SoakResult([Check("run file written", "none", "one per run", False)],
                          {"log tail": tail})
    record = _read_record(faulty.run_path, names)
    checks: list[Check] = []
    figures: dict[str, str] = {}
    victims_ok = _completion_check(plan, names, faulty, record, checks)
    _fault_checks(faults, transactions, record, victims_ok, checks, figures)
    unsafe = still_on + outputs_on + overshoot + [f"{k}: {v}" for k, vs in violations.items()
                                                  for v in vs]
    checks.append(Check("safety invariants", "; ".join(unsafe[:4]) or "none broken",
                        "no output left on, no overshoot, compliance before output-on",
                        not unsafe))
    base_mb, growth = memory_check(faulty.rss, record.t_start, record.t_end)
    checks.append(Check("resident memory after warm-up", f"{base_mb:.0f} MB, +{growth:.1%} "
                        f"at most", "within 10 %", growth <= 0.10))
    checks.append(stress_check(plan, faulty.run_path, faulty.charge, "faulty run"))
    checks.append(stress_check(plan, twin.run_path, twin.charge, "twin"))
    _clock_and_aging_figures(plan, names, faulty, twin, figures)
    checks.append(_lifetime_check(names, faulty, twin, figures))
    figures["samples recorded"] = f"{record.samples:,}"
    figures["wall time (faulty, twin)"] = f"{faulty.wall_s:.0f} s, {twin.wall_s:.0f} s"
    figures["engine CPU (faulty run)"] = f"{faulty.cpu_s:.0f} s"
    return SoakResult(checks, figures)


def _completion_check(plan: SoakPlan, names: list[str], faulty: EngineRun,
                      record: _FaultyRunRecord, checks: list[Check]) -> bool:
    """Every channel finished, the victims stopped as runaways, the file whole; returns
    whether the victims were stopped."""
    finished = sum(record.statuses.get(n) == "finished" for n in names)
    victims_ok = (not plan.victims or all(
        record.statuses.get(v) == "stopped" and record.runaways.get(v)
        for v in ("victim-open", "victim-short")))
    checks.append(Check("run completes", f"exit {faulty.returncode}, {finished}/{len(names)} "
                        f"finished, victims stopped: {victims_ok}, integrity {record.integrity}",
                        "all finished, victims stopped", finished == len(names) and victims_ok
                        and record.integrity == "ok"
                        and record.meta.get("stop_reason") == "completed"))
    return victims_ok


def _fault_checks(faults: list[FaultRecord], transactions: int, record: _FaultyRunRecord,
                  victims_ok: bool, checks: list[Check], figures: dict[str, str]) -> None:
    """Every transport fault the bench injected is a fault event in the run file."""
    transport = [f for f in faults if f.kind in SEEN_AS]
    missing = match_faults(transport, record.fault_events)
    pixel_faults = [f for f in faults if f.kind not in SEEN_AS]
    kinds = {k.value: sum(f.kind is k for f in faults) for k in FaultKind}
    figures["transactions"] = f"{transactions:,}"
    figures["faults injected"] = ", ".join(f"{k} {v}" for k, v in kinds.items() if v)
    figures["fault fraction"] = f"{len(transport) / max(transactions, 1):.3%}"
    checks.append(Check("every bench fault is an event", f"{len(transport) - len(missing)}/"
                        f"{len(transport)} transport, {len(pixel_faults)} pixel faults as "
                        f"runaways", "all", not missing and victims_ok))
    for f in missing[:5]:
        figures[f"unmatched {f.instrument} {f.kind.value}"] = (
            f"{f.message[:60]!r} at {f.device_h:.2f} bench-h, {record.t_end - f.wall_time:+.1f}"
            f" s before the run ended")


def _clock_and_aging_figures(plan: SoakPlan, names: list[str], faulty: EngineRun,
                             twin: EngineRun, figures: dict[str, str]) -> None:
    """The stress clock's error at each sample, and how much more the faulty run aged each
    pixel than its twin did (figures, and CSV files beside the runs)."""
    out = Path(faulty.run_path).parent.parent
    for run, label in ((faulty, "faulty"), (twin, "twin")):
        write_clock_errors(run.clock, out / f"clock-errors-{label}.csv")
        figures[f"stress clock at each sample ({label})"] = clock_figure(run.clock)
    extra = extra_aging_h(faulty.truth, twin.truth, *(_recorded_h(r.run_path, names)
                                                       for r in (faulty, twin)))
    figures["aging beyond the twin's"] = aging_figure(names, extra, plan.hours)
    (out / "aging-beyond-twin.csv").write_text(
        "channel,extra_h_at_stress_current\n"
        + "".join(f"{n},{e:+.4f}\n" for n, e in zip(names, extra, strict=False)))


def _lifetime_check(names: list[str], faulty: EngineRun, twin: EngineRun,
                    figures: dict[str, str]) -> Check:
    """Each T-value against the twin's (and both against their noise-free truth)."""
    out = Path(faulty.run_path).parent.parent
    est_faulty, est_twin = lifetimes_of(faulty.run_path), lifetimes_of(twin.run_path)
    truths = truth_rows(names, [(_key(f, m), (f, m)) for f, m in LIFETIME_KEYS], est_faulty,
                        est_twin, faulty.true_lives, twin.true_lives)
    write_truth_rows(truths, out / "lifetimes-truth.csv")
    figures.update(truth_figures(truths))
    lives = lifetime_check(est_faulty, est_twin, names)
    (out / "lifetime-differences.txt").write_text("\n".join(lives.problems) + "\n")
    return Check("lifetimes vs fault-free twin", lifetime_row(lives), LIFETIME_GOAL,
                 not lives.problems)


def with_overrides(plan: SoakPlan, **overrides: float | int | None) -> SoakPlan:
    return replace(plan, **{k: v for k, v in overrides.items() if v is not None})
