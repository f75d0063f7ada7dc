"""Virtual SRS SR830 and SR860 lock-in amplifiers, shared, looking at the PL of one pixel.

Physics (``LockinCore``), common to both models:
- the 445 nm laser is TTL-modulated by the lock-in's reference, so the PL on the PL detector is a
  0-to-peak square wave at the reference frequency; its fundamental has an RMS amplitude of
  (√2/π)·peak, odd harmonics 1/k of that, even harmonics nothing;
- the PL detector is a transimpedance amplifier (1 MΩ, 1 MHz bandwidth, which sets the signal
  phase) collecting 1e-3 of what the pixel's own photodiode collects; the DC EL it also sees is
  rejected by demodulation but adds shot noise;
- outputs settle through an n-pole RC filter (n = 1..4 for 6..24 dB/oct) in instrument (wall)
  time, from the moment the input changed (e.g. the laser was switched on);
- an output beyond 1.09 × full scale clamps and latches the output-overload bit (SR830 LIAS? bit 2);
- AUX IN 1 reads the optics-target pixel's photodiode through a 10 kΩ transimpedance amplifier: the
  luminance monitor of a rig with a lock-in instead of a second SMU.
"""

from __future__ import annotations

import cmath
import copy
import math
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import ClassVar

from agelab.instruments.sim.devices.scpi import (
    EXECUTION_ERROR,
    ILLEGAL_PARAMETER,
    Call,
    CommandTree,
    ScpiError,
    Unterminated,
    add_common_commands,
)
from agelab.instruments.sim.model.photometry import ELEMENTARY_C
from agelab.instruments.sim.rig import Rig

PL_DETECTOR_GAIN_V_PER_A = 1e6
PL_DETECTOR_COLLECTION = 1e-3
PL_DETECTOR_BANDWIDTH_HZ = 1e6
AUX_TIA_GAIN_V_PER_A = 1e4
INPUT_NOISE_V_RT_HZ = 6e-9
OVERLOAD_FACTOR = 1.09

SR830_SENSITIVITIES = [2e-9, 5e-9, 1e-8, 2e-8, 5e-8, 1e-7, 2e-7, 5e-7, 1e-6, 2e-6, 5e-6, 1e-5,
                       2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2,
                       0.5, 1.0]
SR830_TIME_CONSTANTS = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1, 3, 10, 30,
                        100, 300, 1e3, 3e3, 1e4, 3e4]
SR860_SENSITIVITIES = [1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 5e-4, 2e-4, 1e-4,
                       5e-5, 2e-5, 1e-5, 5e-6, 2e-6, 1e-6, 5e-7, 2e-7, 1e-7, 5e-8, 2e-8, 1e-8,
                       5e-9, 2e-9, 1e-9]
SR860_TIME_CONSTANTS = [1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1,
                        3, 10, 30, 100, 300, 1e3, 3e3, 1e4, 3e4]
SR860_INPUT_RANGES = [1.0, 0.3, 0.1, 0.03, 0.01]  # IRNG 0-4, V
_ENBW_FACTOR = {1: 1 / 4, 2: 1 / 8, 3: 3 / 32, 4: 5 / 64}  # ENBW = factor / τ


class LockinCore:
    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.frequency_hz = 1000.0
        self.phase_deg = 0.0
        self.harmonic = 1
        self.sensitivity_v = 1.0
        self.time_constant_s = 0.1
        self.slope_order = 2
        self.ac_coupled = True
        self.aux_out = [0.0, 0.0, 0.0, 0.0]
        self.overload = False
        self._stages = [0j] * 4
        self._target = 0j
        self._t = time.monotonic()

    # --------------------------------------------------------------- the input
    def _pixel_inputs(self) -> tuple[float, float]:
        """(PL photocurrent peak, DC EL photocurrent) at the PL detector, in A."""
        site = self.rig.sites[self.rig.optics_site]
        px = site.sync()
        j = site.present_j()
        laser = self.rig.laser.emitting_w
        el = px.photodiode_current(j)
        pl = px.photodiode_current(j, laser) - el
        return pl * PL_DETECTOR_COLLECTION, el * PL_DETECTOR_COLLECTION

    def target(self) -> complex:
        """Noise-free demodulated signal (V rms, complex X + iY) for the present input."""
        pl_peak, _ = self._pixel_inputs()
        k = self.harmonic
        if k % 2 == 0:
            return 0j
        amplitude = math.sqrt(2) / math.pi * pl_peak * PL_DETECTOR_GAIN_V_PER_A / k
        f = self.frequency_hz * k
        signal_phase = -math.atan(f / PL_DETECTOR_BANDWIDTH_HZ)
        return cmath.rect(amplitude, signal_phase - math.radians(self.phase_deg))

    # --------------------------------------------------------------- the filter
    def _advance(self, until: float, target: complex) -> None:
        dt = until - self._t
        if dt <= 0:
            return
        tau = self.time_constant_s
        n = self.slope_order
        if dt > 40 * tau:
            self._stages = [target] * 4
        else:
            steps = min(400, max(1, math.ceil(dt / (tau / 20))))
            a = 1 - math.exp(-dt / steps / tau)
            for _ in range(steps):
                u = target
                for i in range(n):
                    self._stages[i] += (u - self._stages[i]) * a
                    u = self._stages[i]
        self._t = until

    def outputs(self) -> complex:
        """X + iY as the front panel shows them now: filtered, noisy, clamped."""
        now = time.monotonic()
        changed = max(self.rig.laser.changed_at, self._t)
        if changed < now:
            self._advance(changed, self._target)  # the old input, up to when it changed
        self._target = self.target()
        self._advance(now, self._target)
        value = self._stages[self.slope_order - 1]
        sigma = self.noise_v()
        rng = self.rig.sites[self.rig.optics_site].pixel.noise.rng
        value += complex(rng.standard_normal(), rng.standard_normal()) * sigma / math.sqrt(2)
        limit = OVERLOAD_FACTOR * self.sensitivity_v
        if abs(value.real) > limit or abs(value.imag) > limit:
            self.overload = True
            value = complex(max(-limit, min(limit, value.real)),
                            max(-limit, min(limit, value.imag)))
        return value

    def noise_v(self) -> float:
        """The output noise (V rms): the detector's shot noise and the input noise in the
        filter's equivalent noise bandwidth."""
        _, el_dc = self._pixel_inputs()
        enbw = _ENBW_FACTOR[self.slope_order] / self.time_constant_s
        shot = math.sqrt(2 * ELEMENTARY_C * abs(el_dc)) * PL_DETECTOR_GAIN_V_PER_A
        return math.hypot(shot, INPUT_NOISE_V_RT_HZ) * math.sqrt(enbw)

    def aux_in(self, index: int) -> float:
        """AUX IN 1: the luminance monitor (photodiode through a TIA); the others read 0 V."""
        if index != 0:
            return 0.0
        site = self.rig.sites[self.rig.optics_site]
        px = site.sync()
        volts = px.read_photodiode(site.present_j()) * AUX_TIA_GAIN_V_PER_A
        return max(-10.5, min(10.5, volts))

    def snap_value(self, name: str) -> float:
        if name.startswith("IN"):
            return self.aux_in(int(name[2:]) - 1)
        if name in ("XNOISE", "YNOISE"):
            return self.noise_v()
        if name == "F":
            return self.frequency_hz
        xy = self.outputs()
        return {"X": xy.real, "Y": xy.imag, "R": abs(xy),
                "TH": math.degrees(cmath.phase(xy))}[name]


class StorageBuffer:
    """A lock-in's data storage: points taken at a set rate from the simulated outputs, while
    storage runs (SR830 ``SRAT/STRT/STRD/PAUS/REST``, SR860 ``CAPTURE*``).

    Points are kept as they fall due and filled in when the buffer is next looked at: each one
    is a fresh reading of the outputs (filter and noise as they are then), so a buffered PL
    acquisition reads as on hardware, without a thread sampling at up to 512 Hz."""

    def __init__(self, read: Callable[[], tuple[float, ...]], capacity: int) -> None:
        self.read = read
        self.capacity = capacity
        self.rate_hz: float | None = 1.0      # None: a point per trigger
        self.loop = True                      # full: go on over the oldest (else stop)
        self.points: deque[tuple[float, ...]] = deque(maxlen=capacity)
        self.stored = 0                       # points taken since the reset (beyond capacity)
        self.running = False
        self._since = 0.0                     # monotonic time the running stretch began
        self._due_before = 0                  # points that fell due in earlier stretches

    def reset(self) -> None:
        self.points.clear()
        self.stored = self._due_before = 0
        self.running = False

    def start(self, delay_s: float = 0.0) -> None:
        if not self.running:
            self.running = True
            self._since = time.monotonic() + delay_s

    def pause(self) -> None:
        self.update()
        self._due_before = self.stored
        self.running = False

    def trigger(self) -> None:
        if self.running and self.rate_hz is None:
            self._take(1)

    def update(self) -> None:
        if not self.running or self.rate_hz is None:
            return
        due = self._due_before + max(0, int((time.monotonic() - self._since) * self.rate_hz))
        self._take(due - self.stored)

    def _take(self, count: int) -> None:
        if not self.loop:
            count = min(count, self.capacity - self.stored)
        skipped = max(0, count - self.capacity)  # only the newest capacity survive a wrap
        self.stored += skipped
        for _ in range(count - skipped):
            self.points.append(self.read())
            self.stored += 1
        if not self.loop and self.stored >= self.capacity:
            self.running = False

    def values(self, column: int, start: int, count: int) -> list[float]:
        self.update()
        if start < 0 or count < 1 or start + count > len(self.points):
            raise ScpiError(ILLEGAL_PARAMETER, f"points {start}..{start + count - 1} of "
                            f"{len(self.points)} stored")
        return [self.points[k][column] for k in range(start, start + count)]


def lia_float(value: float) -> bytes:
    """A value in the SR830's TRCL format: a 16-bit mantissa m and exponent e (little-endian),
    the value m x 2^(e - 124)."""
    if value == 0 or not math.isfinite(value):
        return struct.pack("<hh", 0, 124)
    exponent = math.ceil(math.log2(abs(value) / 32767))
    mantissa = max(-32768, min(32767, round(value / 2.0 ** exponent)))
    return struct.pack("<hh", mantissa, exponent + 124)


def srs_exponent(value: float) -> str:
    """A value as the SR830 writes a stored point: signed, three-digit exponent
    ("+7.654321e-009")."""
    mantissa, exponent = f"{value:+.6e}".split("e")
    return f"{mantissa}e{exponent[0]}{int(exponent[1:]):03d}"


def _settings(tree: CommandTree, store: dict, specs: dict[str, tuple]) -> None:
    """Plain SRS settings: mnemonic → (key, parse, format)."""
    for mnemonic, (key, parse, fmt) in specs.items():
        tree.setting(mnemonic, store, key, parse, fmt)


def _index(c: Call, n: int) -> int:
    return int(c.number(minimum=0, maximum=n - 1))


class _SrsLockinSim:
    """What both SRS models share: the physics core, an SRS-syntax command tree, a reset."""

    def __init__(self, rig: Rig, serial: str, settings: dict) -> None:
        self.core = LockinCore(rig)
        self.serial = serial
        self.s = settings
        self.tree = CommandTree()
        self._declare()

    SPACE_BEFORE_QUERY = False
    JOINER = b";"

    def handle(self, message: str) -> bytes | None:
        return self.tree.execute_srs(message, space_before_query=self.SPACE_BEFORE_QUERY,
                                     joiner=self.JOINER)

    def reset(self) -> None:
        self.__init__(self.core.rig, self.serial)

    def _declare(self) -> None:
        raise NotImplementedError

    def _interface_and_status(self) -> None:
        """The interface and status settings both models keep: remote/local (LOCL), GPIB
        override (OVRM), power-on status clear (*PSC) and the error and lock-in status
        enable registers (ERRE, LIAE)."""
        t, s = self.tree, self.s
        s.update({"locl": 0, "ovrm": 0, "psc": 1, "erre": 0, "liae": 0, "ese": 0, "sre": 0})
        integer = lambda hi: lambda c: int(c.number(minimum=0, maximum=hi))  # noqa: E731
        _settings(t, s, {"LOCL": ("locl", integer(2), str), "OVRM": ("ovrm", integer(1), str),
                         "*PSC": ("psc", integer(1), str)})
        for mnemonic in ("*ESE", "*SRE", "ERRE", "LIAE"):
            key = mnemonic.strip("*").lower()
            t.add(mnemonic, write=lambda c, k=key: self._set_register(k, c),
                  query=lambda c, k=key: str(self._bits(s[k], c)))
        t.add("*ESR", query=self._event_status)
        t.add("LIAS", query=self._lias)
        t.add("ERRS", query=lambda c: "0")  # no error bit is ever set in the model

    def _set_register(self, key: str, c: Call) -> None:
        """An enable register: ``i`` sets it whole (0-255); ``i, j`` sets bit i to j."""
        if len(c.args) > 1:
            bit, on = int(c.number(0, minimum=0, maximum=7)), c.number(1, minimum=0, maximum=1)
            self.s[key] = (self.s[key] | 1 << bit) if on else (self.s[key] & ~(1 << bit))
        else:
            self.s[key] = int(c.number(minimum=0, maximum=255))

    @staticmethod
    def _bits(value: int, c: Call) -> int:
        """A register's query: the byte, or with ``i`` its bit i."""
        return (value >> int(c.number(0, minimum=0, maximum=7))) & 1 if c.args else value

    def _event_status(self, c: Call) -> str:
        """*ESR? reads and clears the standard event status byte; *ESR? i reads and clears
        bit i only."""
        tree = self.tree
        if not c.args:
            value, tree.esr = tree.esr, 0
            return str(value)
        bit = self._bits(tree.esr, c)
        tree.esr &= ~(1 << int(c.number(0)))
        return str(bit)

    def _lias(self, c: Call) -> str:
        """The lock-in status byte: the input overload bit (2), cleared when read whole."""
        self.core.outputs()
        value = 4 if self.core.overload else 0
        if c.args:  # LIAS? i: one bit, not cleared by reading others
            return str((value >> int(c.number(0, minimum=0, maximum=7))) & 1)
        self.core.overload = False
        return str(value)


class SR830Sim(_SrsLockinSim):
    IDN = "Stanford_Research_Systems,SR830,s/n{serial},ver1.07 "
    SNAP: ClassVar[dict[int, str]] = {1: "X", 2: "Y", 3: "R", 4: "TH", 5: "IN1", 6: "IN2",
                                      7: "IN3", 8: "IN4", 9: "F", 10: "CH1", 11: "CH2"}
    # What each display shows (DDEF i, j): channel 1 X, R, X noise, AUX 1, AUX 2; channel 2
    # Y, θ, Y noise, AUX 3, AUX 4.
    DISPLAYS: ClassVar[dict[int, tuple[str, ...]]] = {
        1: ("X", "R", "XNOISE", "IN1", "IN2"), 2: ("Y", "TH", "YNOISE", "IN3", "IN4")}
    # The manual writes its queries with a space ("SRAT ?") and real units take it; each
    # answer to a line of several queries comes with its own terminator.
    SPACE_BEFORE_QUERY = True
    JOINER = b"\n"
    BUFFER_POINTS = 16383
    STRD_DELAY_S = 0.5

    def __init__(self, rig: Rig, serial: str = "80001") -> None:
        super().__init__(rig, serial, {
            "isrc": 0, "ignd": 0, "icpl": 0, "ilin": 0, "fmod": 1, "rslp": 0, "sync": 0,
            "rmod": 1, "slvl": 1.0, "ddef1": (0, 0), "ddef2": (0, 0), "srat": 4, "send": 1,
            "tstr": 0, "fast": 0, "outx": 1, "oexp": {1: (0.0, 0), 2: (0.0, 0), 3: (0.0, 0)},
            "fpop": {1: 0, 2: 0}, "kclk": 1, "alrm": 1})
        self.setups: dict[int, tuple[dict, dict]] = {}

    def _declare(self) -> None:
        t, s, core = self.tree, self.s, self.core
        integer = lambda lo, hi: lambda c: int(c.number(minimum=lo, maximum=hi))  # noqa: E731
        add_common_commands(t, idn=lambda: self.IDN.format(serial=self.serial), reset=self.reset)
        ranges = {"ISRC": 3, "IGND": 1, "ICPL": 1, "ILIN": 3, "FMOD": 1, "RSLP": 2, "SYNC": 1,
                  "RMOD": 2, "TSTR": 1, "FAST": 2}
        _settings(t, s, {m: (m.lower(), integer(0, hi), str) for m, hi in ranges.items()})
        t.setting("SLVL", s, "slvl", lambda c: c.number(minimum=0.004, maximum=5.0),
                  lambda v: f"{v:.3f}")
        t.add("FREQ", write=lambda c: setattr(core, "frequency_hz", c.number(
            minimum=0.001, maximum=102000.0)), query=lambda c: f"{core.frequency_hz:.5g}")
        t.add("PHAS", write=lambda c: setattr(core, "phase_deg", c.number(
            minimum=-360.0, maximum=729.99)), query=lambda c: f"{core.phase_deg:.2f}")
        t.add("HARM", write=lambda c: setattr(core, "harmonic", int(c.number(
            minimum=1, maximum=19999))), query=lambda c: str(core.harmonic))
        t.add("SENS", write=self._set_sens, query=lambda c: str(
            SR830_SENSITIVITIES.index(core.sensitivity_v)))
        t.add("OFLT", write=lambda c: setattr(core, "time_constant_s", SR830_TIME_CONSTANTS[
            _index(c, len(SR830_TIME_CONSTANTS))]),
              query=lambda c: str(SR830_TIME_CONSTANTS.index(core.time_constant_s)))
        t.add("OFSL", write=lambda c: setattr(core, "slope_order", _index(c, 4) + 1),
              query=lambda c: str(core.slope_order - 1))
        t.add("OUTP", query=lambda c: self._snap(c, [0], highest=4))
        t.add("SNAP", query=lambda c: self._snap(c, range(len(c.args)), highest=11))
        t.add("OAUX", query=lambda c: f"{core.aux_in(_index(c, 5) - 1):.4f}")
        t.add("AUXV", write=lambda c: core.aux_out.__setitem__(
            int(c.number(0, minimum=1, maximum=4)) - 1, c.number(1, minimum=-10.5, maximum=10.5)),
              query=lambda c: f"{core.aux_out[int(c.number(0, minimum=1, maximum=4)) - 1]:.3f}")
        t.add("DDEF", write=self._set_display, query=lambda c: "{},{}".format(
            *s[f"ddef{int(c.number(0, minimum=1, maximum=2))}"]))
        for command in ("AGAN", "APHS", "ARSV", "AOFF"):
            t.add(command, write=lambda c: None)
        self.buffer = StorageBuffer(lambda: (self._display(1), self._display(2)),
                                    self.BUFFER_POINTS)
        self._buffer_settings()
        t.add("REST", write=lambda c: self.buffer.reset())
        t.add("STRT", write=lambda c: self.buffer.start())
        t.add("STRD", write=lambda c: self.buffer.start(self.STRD_DELAY_S))
        t.add("PAUS", write=lambda c: self.buffer.pause())
        t.add("TRIG", write=lambda c: self.buffer.trigger())
        t.add("SPTS", query=lambda c: self._stored())
        t.add("TRCA", query=lambda c: "".join(f"{srs_exponent(v)}," for v in self._trace(c)))
        t.add("TRCB", query=lambda c: Unterminated(struct.pack(
            f"<{int(c.number(2))}f", *self._trace(c))))
        t.add("TRCL", query=lambda c: Unterminated(b"".join(lia_float(v)
                                                            for v in self._trace(c))))
        t.add("OUTX", write=lambda c: s.update(outx=int(c.number(minimum=0, maximum=1))),
              query=lambda c: str(s["outx"]))
        t.add("OEXP", write=self._set_offset, query=lambda c: "{:.2f},{}".format(
            *s["oexp"][int(c.number(0, minimum=1, maximum=3))]))
        t.add("OUTR", query=lambda c: f"{self._display(int(c.number(minimum=1, maximum=2))):.6e}")
        t.add("FPOP", write=lambda c: s["fpop"].__setitem__(
            int(c.number(0, minimum=1, maximum=2)), int(c.number(1, minimum=0, maximum=1))),
              query=lambda c: str(s["fpop"][int(c.number(0, minimum=1, maximum=2))]))
        _settings(t, s, {"KCLK": ("kclk", integer(0, 1), str),
                         "ALRM": ("alrm", integer(0, 1), str)})
        t.add("SSET", write=lambda c: self.setups.__setitem__(
            int(c.number(minimum=1, maximum=9)), self._setup()))
        t.add("RSET", write=self._recall)
        self._interface_and_status()

    def reset(self) -> None:
        setups = self.setups  # the nine stored setups outlive a reset
        super().reset()
        self.setups = setups

    def _setup(self) -> tuple[dict, dict]:
        """The front-panel settings SSET saves: the instrument's and the signal core's."""
        core = {k: copy.deepcopy(getattr(self.core, k)) for k in (
            "frequency_hz", "phase_deg", "harmonic", "sensitivity_v", "time_constant_s",
            "slope_order", "aux_out")}
        return copy.deepcopy(self.s), core

    def _recall(self, c: Call) -> None:
        index = int(c.number(minimum=1, maximum=9))
        if index not in self.setups:
            raise ScpiError(EXECUTION_ERROR, f"no setup saved in buffer {index}")
        settings, core = copy.deepcopy(self.setups[index])
        self.s.update(settings)
        for key, value in core.items():
            setattr(self.core, key, value)
        self._buffer_settings_apply()

    def _buffer_settings(self) -> None:
        """SRAT and SEND also set the storage's rate and mode."""
        for mnemonic, hi in (("SRAT", 14), ("SEND", 1)):
            self.tree.setting(mnemonic, self.s, mnemonic.lower(), lambda c, hi=hi: int(c.number(
                minimum=0, maximum=hi)), str, on_change=self._buffer_settings_apply)
        self._buffer_settings_apply()

    def _buffer_settings_apply(self) -> None:
        self.buffer.rate_hz = None if self.s["srat"] == 14 else 2.0 ** (self.s["srat"] - 4)
        self.buffer.loop = self.s["send"] == 1

    def _set_display(self, c: Call) -> None:
        """DDEF i, j {, k}: display i shows quantity j, divided by an Aux In when k is 1 or 2
        (CH1 by Aux In 1 or 2, CH2 by Aux In 3 or 4)."""
        channel = int(c.number(0, minimum=1, maximum=2))
        ratio = int(c.number(2, minimum=0, maximum=2)) if len(c.args) > 2 else 0
        self.s[f"ddef{channel}"] = (int(c.number(1, minimum=0, maximum=4)), ratio)

    def _display(self, channel: int) -> float:
        quantity, ratio = self.s[f"ddef{channel}"]
        value = self.core.snap_value(self.DISPLAYS[channel][quantity])
        if ratio:  # an Aux In read as 0 V is taken at its resolution, 1/3 mV
            aux = self.core.aux_in(2 * (channel - 1) + ratio - 1)
            value = value / math.copysign(max(abs(aux), 1 / 3000), aux)
        return value

    def _stored(self) -> str:
        self.buffer.update()
        return str(len(self.buffer.points))

    def _trace(self, c: Call) -> list[float]:
        channel = int(c.number(0, minimum=1, maximum=2))
        return self.buffer.values(channel - 1, int(c.number(1, minimum=0)),
                                  int(c.number(2, minimum=1)))

    def _set_offset(self, c: Call) -> None:
        self.s["oexp"][int(c.number(0, minimum=1, maximum=3))] = (
            c.number(1, minimum=-105.0, maximum=105.0), int(c.number(2, minimum=0, maximum=2)))

    def _snap(self, c: Call, positions, highest: int) -> str:
        names = [self.SNAP[int(c.number(i, minimum=1, maximum=highest))] for i in positions]
        return ",".join(f"{self._value(name):.6e}" for name in names)

    def _value(self, name: str) -> float:
        if name.startswith("CH"):
            return self._display(int(name[2:]))
        return self.core.snap_value(name)

    def _set_sens(self, c: Call) -> None:
        self.core.sensitivity_v = SR830_SENSITIVITIES[_index(c, len(SR830_SENSITIVITIES))]


class SR860Sim(_SrsLockinSim):
    IDN = "Stanford_Research_Systems,SR860,{serial},v1.51"
    # The parameters of SNAP?, OUTP?, CDSP and the capture, by index and by name (manual): X, Y,
    # R, θ, AUX IN 1-4, X noise, Y noise, AUX OUT 1-2, reference phase, sine amplitude, DC
    # level, internal and external reference frequency.
    PARAMETERS = ("X", "Y", "R", "TH", "IN1", "IN2", "IN3", "IN4", "XNOISE", "YNOISE", "OUT1",
                  "OUT2", "PHASE", "SAMP", "LEVEL", "FINT", "FEXT")
    NAMES: ClassVar[dict[str, str]] = {
        "X": "X", "Y": "Y", "R": "R", "THETA": "TH", "THE": "TH", "TH": "TH", "IN1": "IN1",
        "IN2": "IN2", "IN3": "IN3", "IN4": "IN4", "XNOISE": "XNOISE", "XNO": "XNOISE",
        "YNOISE": "YNOISE", "YNO": "YNOISE", "OUT1": "OUT1", "OUT2": "OUT2", "PHASE": "PHASE",
        "PHA": "PHASE", "SAMP": "SAMP", "SAM": "SAMP", "LEVEL": "LEVEL", "LEV": "LEVEL",
        "FINT": "FINT", "FIN": "FINT", "FEXT": "FEXT", "FEX": "FEXT"}
    SNAP: ClassVar[dict[str, str]] = {**{str(k): p for k, p in enumerate(PARAMETERS)}, **NAMES}
    CAPTURE_COLUMNS = (("X",), ("X", "Y"), ("R", "TH"), ("X", "Y", "R", "TH"))  # CAPTURECFG
    CAPTURE_RATE_MAX_HZ = 1.25e6

    def __init__(self, rig: Rig, serial: str = "004321") -> None:
        s = {"harmdual": 1, "slvl": 1.0, "tbmode": 0, "refm": 0, "rsrc": 0, "rtrg": 0, "refz": 0,
             "ivmd": 0, "isrc": 0, "icpl": 0, "ignd": 0, "irng": 0, "icur": 0, "sync": 0,
             "advfilt": 0, "dblk": 0, "dlay": 0, "gspd": 0, "freqint": 1000.0,
             "bladeslots": 0, "bladephase": 0.0}
        s.update({f"pstf{i}": 1000.0 for i in range(4)})
        s.update({f"psta{i}": 1e-3 for i in range(4)})
        s.update({f"pstl{i}": 0.0 for i in range(4)})
        s.update({f"cdsp{i}": i for i in range(4)})
        s.update({f"cgrf{i}": 0 for i in range(4)})
        s.update({f"cofp{i}": 0.0 for i in range(3)})
        s.update({f"cexp{i}": 0 for i in range(3)})
        s.update({"soff": 0.0, "capturelen": 256, "capturecfg": 0, "capturerate": 0})
        super().__init__(rig, serial, s)

    def _declare(self) -> None:
        t, s, core = self.tree, self.s, self.core
        integer = lambda lo, hi: lambda c: int(c.number(minimum=lo, maximum=hi))  # noqa: E731
        e = lambda v: f"{v:.6e}"  # noqa: E731
        add_common_commands(t, idn=lambda: self.IDN.format(serial=self.serial), reset=self.reset)
        _settings(t, s, {
            "HARMDUAL": ("harmdual", integer(1, 99), str), "TBMODE": ("tbmode", integer(0, 1), str),
            "REFM": ("refm", integer(0, 1), str), "RSRC": ("rsrc", integer(0, 3), str),
            "RTRG": ("rtrg", integer(0, 4), str), "REFZ": ("refz", integer(0, 1), str),
            "IVMD": ("ivmd", integer(0, 1), str), "ISRC": ("isrc", integer(0, 1), str),
            "ICPL": ("icpl", integer(0, 1), str), "IGND": ("ignd", integer(0, 1), str),
            "IRNG": ("irng", integer(0, 4), str), "ICUR": ("icur", integer(0, 1), str),
            "SYNC": ("sync", integer(0, 1), str), "ADVFILT": ("advfilt", integer(0, 1), str),
            "DBLK": ("dblk", integer(0, 1), str), "DLAY": ("dlay", integer(0, 5), str),
            "GSPD": ("gspd", integer(0, 15), str),
            "SLVL": ("slvl", lambda c: c.number(minimum=0.0, maximum=2.0), e),
            "FREQINT": ("freqint", lambda c: c.number(minimum=0.001, maximum=500000.0), e)})
        for name, lo, hi in (("PSTF", 0.001, 500000.0), ("PSTA", 0.0, 2.0), ("PSTL", -5.0, 5.0),
                             ("CDSP", 0, 16), ("CGRF", 0, 1)):
            t.add(name, write=lambda c, n=name, lo=lo, hi=hi: s.update(
                {f"{n.lower()}{_index(c, 4)}": c.number(1, minimum=lo, maximum=hi)}),
                  query=lambda c, n=name: self._indexed(n, _index(c, 4)))
        t.add("FREQ", write=lambda c: setattr(core, "frequency_hz", c.number(
            minimum=0.001, maximum=500000.0)), query=lambda c: e(core.frequency_hz))
        t.add("FREQEXT", query=lambda c: e(0.0))
        t.add("FREQDET", query=lambda c: e(core.frequency_hz))
        t.add("PHAS", write=lambda c: setattr(core, "phase_deg", c.number(
            minimum=-360000.0, maximum=360000.0)), query=lambda c: f"{core.phase_deg:.7f}")
        t.add("HARM", write=lambda c: setattr(core, "harmonic", int(c.number(
            minimum=1, maximum=99))), query=lambda c: str(core.harmonic))
        t.add("SCAL", write=lambda c: setattr(core, "sensitivity_v", SR860_SENSITIVITIES[
            _index(c, len(SR860_SENSITIVITIES))]),
              query=lambda c: str(SR860_SENSITIVITIES.index(core.sensitivity_v)))
        t.add("OFLT", write=lambda c: setattr(core, "time_constant_s", SR860_TIME_CONSTANTS[
            _index(c, len(SR860_TIME_CONSTANTS))]),
              query=lambda c: str(SR860_TIME_CONSTANTS.index(core.time_constant_s)))
        t.add("OFSL", write=lambda c: setattr(core, "slope_order", _index(c, 4) + 1),
              query=lambda c: str(core.slope_order - 1))
        t.add("ENBW", query=lambda c: e(_ENBW_FACTOR[core.slope_order] / core.time_constant_s))
        t.add("ILVL", query=lambda c: "0")
        t.add("TBSTAT", query=lambda c: "1")
        t.add("OUTP", query=lambda c: e(self._value(self._snap_name(c.arg(0)))))
        t.add("SNAP", query=lambda c: ",".join(
            e(self._value(self._snap_name(a))) for a in c.args))
        t.add("SNAPD", query=lambda c: ",".join(
            e(self._value(self.PARAMETERS[int(s[f"cdsp{i}"])])) for i in range(4)))
        t.setting("SOFF", s, "soff", lambda c: c.number(minimum=-5.0, maximum=5.0), e)
        for name, lo, hi, fmt in (("COFP", -999.99, 999.99, lambda v: f"{v:.2f}"),
                                  ("CEXP", 0, 2, lambda v: str(int(v)))):
            t.add(name, write=lambda c, n=name, lo=lo, hi=hi: s.update(
                {f"{n.lower()}{_index(c, 3)}": c.number(1, minimum=lo, maximum=hi)}),
                  query=lambda c, n=name, fmt=fmt: fmt(s[f"{n.lower()}{_index(c, 3)}"]))
        t.add("APHS", write=lambda c: setattr(
            core, "phase_deg", core.phase_deg + math.degrees(cmath.phase(core.outputs()))))
        t.add("ASCL", write=lambda c: setattr(core, "sensitivity_v", self._fitting(
            SR860_SENSITIVITIES, abs(core.outputs()))))
        t.add("ARNG", write=lambda c: s.update(irng=SR860_INPUT_RANGES.index(self._fitting(
            SR860_INPUT_RANGES, abs(core.outputs()) * math.sqrt(2)))))
        t.add("COFA", write=self._auto_offset)
        _settings(t, s, {"BLADESLOTS": ("bladeslots", integer(0, 1), str),
                         "BLADEPHASE": ("bladephase", lambda c: c.number(
                             minimum=-360000.0, maximum=360000.0), e)})
        t.add("TIME", query=lambda c: str(time.localtime()[(5, 4, 3)[_index(c, 3)]]))
        t.add("DATE", query=lambda c: str(time.localtime()[(2, 1, 0)[_index(c, 3)]]))
        t.add("*TST", query=lambda c: "0")
        self._interface_and_status()
        self._capture_commands()
        t.add("OAUX", query=lambda c: e(core.aux_in(_index(c, 4))))
        t.add("AUXV", write=lambda c: core.aux_out.__setitem__(
            _index(c, 4), c.number(1, minimum=-10.5, maximum=10.5)),
              query=lambda c: e(core.aux_out[_index(c, 4)]))
        t.add("DCAP", write=lambda c: None)

    @staticmethod
    def _fitting(full_scales: tuple[float, ...] | list[float], value: float) -> float:
        """The smallest full scale that holds ``value`` with a third to spare (the auto
        functions' choice), or the largest."""
        return min((f for f in full_scales if f >= 1.5 * value), default=max(full_scales))

    def _auto_offset(self, c: Call) -> None:
        """COFA i: the offset (percent of full scale) that brings output i (X, Y, R) to zero."""
        i = _index(c, 3)
        value = self.core.snap_value(("X", "Y", "R")[i])
        self.s[f"cofp{i}"] = max(-999.99, min(999.99, -100.0 * value / self.core.sensitivity_v))

    def _value(self, name: str) -> float:
        core = self.core
        special = {"OUT1": lambda: core.snap_value("X"), "OUT2": lambda: core.snap_value("Y"),
                   "PHASE": lambda: core.phase_deg, "SAMP": lambda: self.s["slvl"],
                   "LEVEL": lambda: self.s["soff"], "FINT": lambda: self.s["freqint"],
                   "FEXT": lambda: 0.0}
        return special[name]() if name in special else core.snap_value(name)

    # ---------------------------------------------------------------- the capture buffer
    def _capture_commands(self) -> None:
        t, s = self.tree, self.s
        self.capture = StorageBuffer(self._capture_point, 1)
        self._capture_settings()
        t.add("CAPTURELEN", write=self._set_capture_len, query=lambda c: str(s["capturelen"]))
        t.add("CAPTURECFG", write=self._set_capture_cfg, query=lambda c: str(s["capturecfg"]))
        t.add("CAPTURERATEMAX", query=lambda c: f"{self._rate_max():.6e}")
        t.add("CAPTURERATE", write=self._set_capture_rate,
              query=lambda c: f"{self._rate_max() / 2 ** s['capturerate']:.6e}")
        t.add("CAPTURESTART", write=self._capture_start)
        t.add("CAPTURESTOP", write=lambda c: self.capture.pause())
        t.add("CAPTURESTAT", query=lambda c: self._capture_status())
        t.add("CAPTUREBYTES", query=lambda c: str(self._captured_bytes()))
        t.add("CAPTUREPROG", query=lambda c: str(min(s["capturelen"], 2 * math.ceil(
            self._captured_bytes() / 2048))))
        t.add("CAPTUREGET", query=self._capture_get)

    def _capture_settings(self) -> None:
        width = 4 * len(self.CAPTURE_COLUMNS[self.s["capturecfg"]])  # float32 a column
        self.capture.capacity = self.s["capturelen"] * 1024 // width
        self.capture.points = deque(self.capture.points, maxlen=self.capture.capacity)
        self.capture.rate_hz = self._rate_max() / 2 ** self.s["capturerate"]

    def _rate_max(self) -> float:
        """The capture's fastest rate: 1.25 MHz halved until a point spans at least a fifth
        of the time constant (a model of the manual's rule that it follows the filter)."""
        n = max(0, math.ceil(math.log2(self.CAPTURE_RATE_MAX_HZ * self.core.time_constant_s / 5)))
        return self.CAPTURE_RATE_MAX_HZ / 2 ** min(n, 20)

    def _set_capture_len(self, c: Call) -> None:
        length = int(c.number(minimum=1, maximum=4096))
        self.s["capturelen"] = length + (length % 2)  # kept in 2 kB blocks
        self._capture_settings()

    def _set_capture_cfg(self, c: Call) -> None:
        self.s["capturecfg"] = int(c.number(minimum=0, maximum=3))
        self.capture.reset()
        self._capture_settings()

    def _set_capture_rate(self, c: Call) -> None:
        self.s["capturerate"] = int(c.number(minimum=0, maximum=20))
        self._capture_settings()

    def _capture_point(self) -> tuple[float, ...]:
        return tuple(self._value(n) for n in self.CAPTURE_COLUMNS[self.s["capturecfg"]])

    def _capture_start(self, c: Call) -> None:
        """CAPTURESTART acquisition (ONE, CONTinuous), trigger (IMMediate, TRIGstart, SAMPpp):
        samples at the capture rate; a trigger-per-sample capture counts no time here."""
        mode = c.choice({"ONE": "0", "CONTinuous": "1", "0": "0", "1": "1"})
        c.choice({"IMMediate": "0", "TRIGstart": "1", "SAMPpp": "2", "0": "0", "1": "1",
                  "2": "2"}, 1)
        self.capture.reset()
        self.capture.loop = mode == "1"
        self._capture_settings()
        self.capture.start()

    def _captured_bytes(self) -> int:
        self.capture.update()
        return 4 * len(self.CAPTURE_COLUMNS[self.s["capturecfg"]]) * len(self.capture.points)

    def _capture_status(self) -> str:
        self.capture.update()
        return str((1 if self.capture.running else 0)
                   | (4 if self.capture.stored > self.capture.capacity else 0))

    def _capture_get(self, c: Call) -> Unterminated:
        """CAPTUREGET? offset, length (kB): the captured floats as a definite-length block,
        sent with no terminator (the manual's binary transfer)."""
        self.capture.update()
        offset, size = int(c.number(0, minimum=0)), int(c.number(1, minimum=1, maximum=64))
        data = b"".join(struct.pack(f"<{len(p)}f", *p) for p in self.capture.points)
        if (offset + size) * 1024 > max(len(data), 1) + 2047:
            raise ScpiError(ILLEGAL_PARAMETER, f"{offset + size} kB of {len(data)} bytes")
        chunk = data[offset * 1024:(offset + size) * 1024]
        head = str(len(chunk)).encode()
        return Unterminated(b"#" + str(len(head)).encode() + head + chunk)

    def _indexed(self, name: str, i: int) -> str:
        value = self.s[f"{name.lower()}{i}"]
        return str(int(value)) if name in ("CDSP", "CGRF") else f"{value:.6e}"

    def _snap_name(self, arg: str) -> str:
        key = arg.strip().upper()
        if key not in self.SNAP:
            raise ScpiError(ILLEGAL_PARAMETER, f"SNAP parameter {arg}")
        return self.SNAP[key]
