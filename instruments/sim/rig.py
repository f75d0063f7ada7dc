"""The virtual rig's shared state: device time, the pixels, what drives them, and the routing.

Pixels age lazily: whenever anything touches a pixel, it is first advanced to the present device
time under the drive it had since the last touch. Aging under a constant drive is closed-form in the
model, so this is exact, and an idle bench costs nothing.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum

from agelab.instruments.sim.model.qled import QledPixel


class Timing(str, Enum):
    FAST = "fast"            # tests: instruments answer at once
    REALISTIC = "realistic"  # instruments take as long as the real ones would


@dataclass
class DeviceClock:
    """Device time runs ``speedup`` times faster than the wall clock."""

    speedup: float = 1.0
    _t0: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not self.speedup > 0:
            raise ValueError(f"speedup must be > 0, got {self.speedup!r}")

    def hours(self) -> float:
        return self.hours_at(time.monotonic())

    def hours_at(self, monotonic_s: float) -> float:
        """The device hour at the moment ``monotonic_s`` (of time.monotonic())."""
        return (monotonic_s - self._t0) * self.speedup / 3600.0


@dataclass
class TimingModel:
    """How long instrument operations take in wall time (zero in fast timing).

    Integration (NPLC / line frequency), autozero (signal, reference and zero: three integrations
    a reading while it is on) and the source delay are the instrument's physics. The fixed costs
    are model choices for a GPIB-generation source-meter, not taken from a data sheet: 1 ms to
    parse each program message, 3 ms to set up and answer one bus-triggered reading, 0.3 ms a
    point inside a sweep the instrument runs itself.
    """

    mode: Timing = Timing.FAST
    line_frequency_hz: float = 50.0
    message_s: float = 1e-3
    trigger_setup_s: float = 3e-3
    sweep_point_s: float = 3e-4

    def wait(self, seconds: float) -> None:
        if self.mode is Timing.REALISTIC and seconds > 0:
            time.sleep(seconds)

    def wait_until(self, deadline: float) -> None:
        """Sleep until a monotonic deadline: a sequence of steps timed against absolute deadlines
        takes its modelled time, however much each sleep overshoots."""
        if self.mode is Timing.REALISTIC:
            remaining = deadline - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)

    def integration_s(self, nplc: float) -> float:
        return nplc / self.line_frequency_hz

    def smu_sequence_s(self, points: int, nplc: float, source_delay_s: float,
                       autozero: bool = True) -> float:
        """A trigger sequence of ``points`` readings (1 for a single :READ?)."""
        per_point = (source_delay_s + self.integration_s(nplc) * (3.0 if autozero else 1.0)
                     + self.sweep_point_s)
        return self.trigger_setup_s + points * per_point


class TriggerLink:
    """The trigger-link cable between a pixel's source-meter and its photodiode meter.

    The source-meter puts one trigger on the line per source step; the photodiode meter, armed on
    the link, takes one reading per trigger at that step's drive. The bench hands the drives over
    when the source-meter's sequence ends (aging within a sweep of seconds is negligible), each
    sequence numbered so a meter armed after a sequence never reads an older one.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self._drives: list[float] = []

    @property
    def generation(self) -> int:
        with self._cond:
            return self._generation

    def publish(self, drives_ma_cm2: list[float]) -> None:
        with self._cond:
            self._generation += 1
            self._drives = list(drives_ma_cm2)
            self._cond.notify_all()

    def wait(self, after_generation: int, timeout_s: float,
             cancelled: Callable[[], bool] = lambda: False) -> list[float] | None:
        """The drives of the first sequence published after ``after_generation``, or None (no
        sequence in time, or ``cancelled`` became true: the waiting meter was aborted)."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation > after_generation or cancelled(),
                                timeout_s)
            if cancelled() or self._generation <= after_generation:
                return None
            return list(self._drives)

    def wake(self) -> None:
        """Make every waiter look again at whether it was cancelled."""
        with self._cond:
            self._cond.notify_all()


class Route(str, Enum):
    SMU = "SMU"
    LCR = "LCR"
    OPEN = "OPEN"


@dataclass
class Thermal:
    """A pixel on a temperature-controlled stage, its controller's sensor at the pixel.

    Model choices: while the controller regulates, the pixel's temperature relaxes to the set
    point with the loop's time constant; off, to the ambient plus its self-heating. A change of
    the electrical power (J·V·area) moves it at once by the thermal resistance times the change
    (the heat sink is slower than the pixel), and the loop then pulls it back: self-heating is
    a transient at each change of drive, not an offset.
    """

    r_th_k_per_w: float
    tau_h: float = 60.0 / 3600.0  # the loop's (and the passive stage's) time constant
    ambient_k: float = 298.15
    setpoint_k: float = 298.15
    regulating: bool = False
    temperature_k: float = 298.15
    power_w: float = 0.0

    def target_k(self) -> float:
        if self.regulating:
            return self.setpoint_k
        return self.ambient_k + self.r_th_k_per_w * self.power_w

    def evolve(self, dt_h: float) -> float:
        """Advance ``dt_h`` device-hours at constant power; returns the mean temperature over
        them."""
        start, target = self.temperature_k, self.target_k()
        if dt_h <= 0:
            return start
        x = dt_h / self.tau_h
        decay = math.exp(-x)
        self.temperature_k = target + (start - target) * decay
        return target + (start - target) * -math.expm1(-x) / x

    def power_changed(self, power_w: float) -> None:
        self.temperature_k += self.r_th_k_per_w * (power_w - self.power_w)
        self.power_w = power_w


class Site:
    """One pixel on the rig, with whatever its source-meter currently forces on it."""

    def __init__(self, index: int, pixel: QledPixel, clock: DeviceClock) -> None:
        self.index = index
        self.pixel = pixel
        self.clock = clock
        self.lock = threading.RLock()
        self.route = Route.SMU
        self.drive_j_ma_cm2 = 0.0      # forced current density while the SMU sources current
        self.drive_v: float | None = None  # or the forced voltage while it sources voltage
        self._last_h = clock.hours()
        # Every drive applied, (device hours, J or None, V or None): the ground truth against which
        # tests check that a ramp never overshoots and a reboot is ramped back, not stepped.
        self.drive_history: deque[tuple[float, float, float | None]] = deque(maxlen=100_000)
        self.link = TriggerLink()
        self._sweep_h: float | None = None  # while a sweep runs in no modelled time: its start
        # The charge the pixel has passed (mA·h/cm²): over a constant-current stress, the hours
        # it was really stressed: the truth a run file's stress clock is checked against.
        self.charge_mah_cm2 = 0.0
        # A temperature-controlled stage under it (None: the pixel stays at its reference
        # temperature, the bench without temperature control).
        self.thermal: Thermal | None = None

    def sync(self) -> QledPixel:
        """Advance the pixel to now under the drive it has had since the last sync (at rest
        while a sweep runs in no modelled time)."""
        with self.lock:
            now = self.clock.hours()
            dt = now - self._last_h
            if dt > 0:
                j = 0.0 if self._sweep_h is not None else self.present_j()
                if self.thermal is not None:
                    self.pixel.set_temperature(self.thermal.evolve(dt))
                self.pixel.advance(dt, j)
                if self.thermal is not None:
                    self.pixel.set_temperature(self.thermal.temperature_k)
                self.charge_mah_cm2 += dt * j
                self._last_h = now
            return self.pixel

    @contextlib.contextmanager
    def instant_sweep(self) -> Iterator[None]:
        """A sweep the source-meter runs itself in fast timing takes no modelled time, so the
        host's time while it runs is rest for the pixel, not stress at the sweep's points: at
        6000x each millisecond of Python is 6 device-seconds, at up to the sweep's top current,
        and CPU load stretched it at random. On hardware a 61-point sweep lasts about a
        second. The history records the points at the sweep's start, then the rest, so a
        replay ages as the pixel did."""
        with self.lock:
            self.sync()
            self._sweep_h = self._last_h
        try:
            yield
        finally:
            with self.lock:
                self.sync()
                start, self._sweep_h = self._sweep_h, None
                self.drive_history.append((start, 0.0, None))
                self.drive_history.append((self._last_h, self.drive_j_ma_cm2, self.drive_v))

    def present_j(self) -> float:
        if self.route is not Route.SMU:
            return 0.0
        if self.drive_v is not None:
            return float(self.pixel.current_density(self.drive_v))
        return self.drive_j_ma_cm2

    def set_drive(self, *, j_ma_cm2: float = 0.0, volts: float | None = None) -> None:
        with self.lock:
            self.sync()
            self.drive_j_ma_cm2, self.drive_v = j_ma_cm2, volts
            at = self._last_h if self._sweep_h is None else self._sweep_h
            self.drive_history.append((at, j_ma_cm2, volts))
            if self.thermal is not None:
                j = self.present_j()
                volts_now = self.pixel.voltage(j) if j > 0 else 0.0
                self.thermal.power_changed(j * 1e-3 * self.pixel.area_cm2 * volts_now)
                self.pixel.set_temperature(self.thermal.temperature_k)


@dataclass
class Laser:
    """The 445 nm diode laser: enabled over serial, TTL-modulated by the lock-in reference."""

    enabled: bool = False
    power_w: float = 1e-3
    interlock_ok: bool = True
    changed_at: float = 0.0  # monotonic time of the last change, for the lock-in's filter

    def __setattr__(self, name: str, value: object) -> None:
        if name in ("enabled", "power_w", "interlock_ok"):
            object.__setattr__(self, "changed_at", time.monotonic())
        object.__setattr__(self, name, value)

    @property
    def emitting_w(self) -> float:
        return self.power_w if (self.enabled and self.interlock_ok) else 0.0


@dataclass
class Rig:
    sites: list[Site]
    clock: DeviceClock
    timing: TimingModel
    laser: Laser = field(default_factory=Laser)
    lcr_site: int | None = None  # which pixel the LCR meter is routed to, if any
    optics_site: int = 0  # which pixel the laser, PL detector and spectrometer fibre look at
    lock: threading.RLock = field(default_factory=threading.RLock)

    def route(self, index: int, route: Route) -> None:
        """Route a pixel to its SMU, to the shared LCR meter, or to nothing; never SMU and LCR."""
        with self.lock:
            site = self.sites[index]
            site.sync()
            if route is Route.LCR:
                if self.lcr_site is not None and self.lcr_site != index:
                    self.sites[self.lcr_site].sync()
                    self.sites[self.lcr_site].route = Route.OPEN
                self.lcr_site = index
            elif self.lcr_site == index:
                self.lcr_site = None
            site.route = route
