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
import math
import time
from typing import ClassVar

from agelab.instruments.sim.devices.scpi import (
    ILLEGAL_PARAMETER,
    Call,
    CommandTree,
    ScpiError,
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
        _, el_dc = self._pixel_inputs()
        enbw = _ENBW_FACTOR[self.slope_order] / self.time_constant_s
        shot = math.sqrt(2 * ELEMENTARY_C * abs(el_dc)) * PL_DETECTOR_GAIN_V_PER_A
        sigma = math.hypot(shot, INPUT_NOISE_V_RT_HZ) * math.sqrt(enbw)
        rng = self.rig.sites[self.rig.optics_site].pixel.noise.rng
        value += complex(rng.standard_normal(), rng.standard_normal()) * sigma / math.sqrt(2)
        limit = OVERLOAD_FACTOR * self.sensitivity_v
        if abs(value.real) > limit or abs(value.imag) > limit:
            self.overload = True
            value = complex(max(-limit, min(limit, value.real)),
                            max(-limit, min(limit, value.imag)))
        return value

    def aux_in(self, index: int) -> float:
        """AUX IN 1: the luminance monitor (photodiode through a TIA); the others read 0 V."""
        if index != 0:
            return 0.0
        site = self.rig.sites[self.rig.optics_site]
        px = site.sync()
        volts = px.read_photodiode(site.present_j()) * AUX_TIA_GAIN_V_PER_A
        return max(-10.5, min(10.5, volts))

    def snap_value(self, name: str) -> float:
        xy = self.outputs()
        values = {"X": xy.real, "Y": xy.imag, "R": abs(xy), "TH": math.degrees(cmath.phase(xy)),
                  "F": self.frequency_hz}
        if name.startswith("IN"):
            return self.aux_in(int(name[2:]) - 1)
        return values[name]


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

    def handle(self, message: str) -> bytes | None:
        return self.tree.execute_srs(message)

    def reset(self) -> None:
        self.__init__(self.core.rig, self.serial)

    def _declare(self) -> None:
        raise NotImplementedError


class SR830Sim(_SrsLockinSim):
    IDN = "Stanford_Research_Systems,SR830,s/n{serial},ver1.07 "
    SNAP: ClassVar[dict[int, str]] = {1: "X", 2: "Y", 3: "R", 4: "TH", 5: "IN1", 6: "IN2",
                                      7: "IN3", 8: "IN4", 9: "F"}

    def __init__(self, rig: Rig, serial: str = "80001") -> None:
        super().__init__(rig, serial, {
            "isrc": 0, "ignd": 0, "icpl": 0, "ilin": 0, "fmod": 1, "rslp": 0, "sync": 0,
            "rmod": 1, "slvl": 1.0, "ddef1": 0, "ddef2": 0, "srat": 4, "send": 1, "tstr": 0,
            "fast": 0})

    def _declare(self) -> None:
        t, s, core = self.tree, self.s, self.core
        integer = lambda lo, hi: lambda c: int(c.number(minimum=lo, maximum=hi))  # noqa: E731
        add_common_commands(t, idn=lambda: self.IDN.format(serial=self.serial), reset=self.reset)
        ranges = {"ISRC": 3, "IGND": 1, "ICPL": 1, "ILIN": 3, "FMOD": 1, "RSLP": 2, "SYNC": 1,
                  "RMOD": 2, "SRAT": 14, "SEND": 1, "TSTR": 1, "FAST": 2}
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
        t.add("SNAP", query=lambda c: self._snap(c, range(len(c.args)), highest=9))
        t.add("OAUX", query=lambda c: f"{core.aux_in(_index(c, 5) - 1):.4f}")
        t.add("AUXV", write=lambda c: core.aux_out.__setitem__(
            int(c.number(0, minimum=1, maximum=4)) - 1, c.number(1, minimum=-10.5, maximum=10.5)),
              query=lambda c: f"{core.aux_out[int(c.number(0, minimum=1, maximum=4)) - 1]:.3f}")
        t.add("DDEF", write=lambda c: s.update({f"ddef{int(c.number(0, minimum=1, maximum=2))}":
                                                int(c.number(1, minimum=0, maximum=4))}),
              query=lambda c: f"{s[f'ddef{int(c.number(0, minimum=1, maximum=2))}']},0")
        t.add("LIAS", query=self._lias)
        t.add("ERRS", query=lambda c: "0")
        for command in ("AGAN", "APHS", "ARSV", "AOFF", "REST", "STRT", "PAUS", "TRIG", "STRD"):
            t.add(command, write=lambda c: None)
        t.add("SPTS", query=lambda c: "0")

    def _snap(self, c: Call, positions, highest: int) -> str:
        names = [self.SNAP[int(c.number(i, minimum=1, maximum=highest))] for i in positions]
        return ",".join(f"{self.core.snap_value(name):.6e}" for name in names)

    def _set_sens(self, c: Call) -> None:
        self.core.sensitivity_v = SR830_SENSITIVITIES[_index(c, len(SR830_SENSITIVITIES))]

    def _lias(self, c: Call) -> str:
        self.core.outputs()
        value = 4 if self.core.overload else 0
        if c.args:  # LIAS? i: one bit, not cleared by reading others
            return str((value >> int(c.number(0, minimum=0, maximum=7))) & 1)
        self.core.overload = False
        return str(value)


class SR860Sim(_SrsLockinSim):
    IDN = "Stanford_Research_Systems,SR860,{serial},v1.51"
    SNAP: ClassVar[dict[str, str]] = {
        "0": "X", "1": "Y", "2": "R", "3": "TH", "4": "IN1", "5": "IN2", "6": "IN3", "7": "IN4",
        "X": "X", "Y": "Y", "R": "R", "THETA": "TH", "THE": "TH", "TH": "TH",
            "IN1": "IN1", "IN2": "IN2", "IN3": "IN3", "IN4": "IN4"}

    def __init__(self, rig: Rig, serial: str = "004321") -> None:
        s = {"harmdual": 1, "slvl": 1.0, "tbmode": 0, "refm": 0, "rsrc": 0, "rtrg": 0, "refz": 0,
             "ivmd": 0, "isrc": 0, "icpl": 0, "ignd": 0, "irng": 0, "icur": 0, "sync": 0,
             "advfilt": 0, "dblk": 0, "dlay": 0, "gspd": 0, "freqint": 1000.0}
        s.update({f"pstf{i}": 1000.0 for i in range(4)})
        s.update({f"psta{i}": 1e-3 for i in range(4)})
        s.update({f"pstl{i}": 0.0 for i in range(4)})
        s.update({f"cdsp{i}": i for i in range(4)})
        s.update({f"cgrf{i}": 0 for i in range(4)})
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
                             ("CDSP", 0, 15), ("CGRF", 0, 1)):
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
        t.add("OUTP", query=lambda c: e(core.snap_value(self._snap_name(c.arg(0)))))
        t.add("SNAP", query=lambda c: ",".join(
            e(core.snap_value(self._snap_name(a))) for a in c.args))
        t.add("SNAPD", query=lambda c: ",".join(
            e(core.snap_value(n)) for n in ("X", "Y", "R", "TH")))
        t.add("OAUX", query=lambda c: e(core.aux_in(_index(c, 4))))
        t.add("AUXV", write=lambda c: core.aux_out.__setitem__(
            _index(c, 4), c.number(1, minimum=-10.5, maximum=10.5)),
              query=lambda c: e(core.aux_out[_index(c, 4)]))
        t.add("DCAP", write=lambda c: None)

    def _indexed(self, name: str, i: int) -> str:
        value = self.s[f"{name.lower()}{i}"]
        return str(int(value)) if name in ("CDSP", "CGRF") else f"{value:.6e}"

    def _snap_name(self, arg: str) -> str:
        key = arg.strip().upper()
        if key not in self.SNAP:
            raise ScpiError(ILLEGAL_PARAMETER, f"SNAP parameter {arg}")
        return self.SNAP[key]
