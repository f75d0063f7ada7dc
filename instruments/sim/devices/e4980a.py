"""A virtual Keysight/Agilent E4980A precision LCR meter, shared by all pixels via the relay box.

It measures whichever pixel the relay routes to it (an open fixture otherwise), at the set
frequency and AC level, with the DC bias applied when ``:BIAS:STAT ON``. Beyond pymeasure's
``AgilentE4980`` set it supports ``:BIAS:VOLT``, list sweeps over frequency or DC bias
(``:LIST:FREQ``, ``:LIST:BIAS:VOLT``, ``:LIST:MODE``) triggered by ``:TRIG`` / ``*TRG``, and
``:FETC?`` in the instrument's format: ``A,B,status`` (plus a bin number per point in list mode);
``:FETC:IMP:CORR?`` as ``R,X`` whatever the function; the impedance and bias ranges, the open and
short corrections' states, and ``*OPT?``.
"""

from __future__ import annotations

import cmath
import math
import time

from agelab.instruments.sim.devices.scpi import (
    DATA_OUT_OF_RANGE,
    Call,
    CommandTree,
    ScpiError,
    add_common_commands,
    add_status_and_errors,
    one_of,
)
from agelab.instruments.sim.rig import Rig, Route, TimingModel

IDN = "Keysight Technologies,E4980A,MY{serial},A.02.20"
FUNCTIONS = ("CPD", "CPQ", "CPG", "CPRP", "CSD", "CSQ", "CSRS", "LPD", "LPQ", "LPG", "LPRP",
             "LSD", "LSQ", "LSRS", "RX", "ZTD", "ZTR", "GB", "YTD", "YTR")
APERTURE_S = {"SHOR": 0.03, "MED": 0.09, "LONG": 0.3}  # per reading at 1 kHz, a model choice
LIST_MAX = 201
_OPEN_C_F, _OPEN_G_S = 5e-15, 1e-12


# The installed options *OPT? reports: 001, Power and DC Bias Enhance (the ±40 V bias this
# bench offers; the standard unit stops at ±2 V).
OPTIONS = "001"
# The impedance ranges of :FUNCtion:IMPedance:RANGe, in ohms (programming guide).
IMPEDANCE_RANGES = (0.1, 1.0, 10.0, 100.0, 300.0, 1e3, 3e3, 1e4, 3e4, 1e5)


def _defaults() -> dict:
    return {"freq": 1000.0, "ac_volt": 1.0, "ac_curr": 0.01, "function": "CPD",
            "trig_source": "INT", "bias_on": False, "bias_volt": 0.0, "display": "MEAS",
            "format": "ASC", "aperture": "MED", "averages": 1, "init_cont": True,
            "list_mode": "SEQ", "list_param": None, "list_values": [], "imp_range": 1e5,
            "imp_range_auto": True, "bias_range_auto": True, "open_on": False,
            "short_on": False, "alc": False, "high_power": True, "dc_isolation": False,
            "isolation_auto": True, "isolation_level": 0.02, "bias_curr": 0.0,
            "polarity_auto": False, "dev1_mode": "OFF", "dev2_mode": "OFF", "dev1_ref": 0.0,
            "dev2_ref": 0.0, "trig_delay": 0.0, "step_delay": 0.0, "border": "NORM",
            "ascii_long": False, "display_on": True, "cable_m": 0, "corr_method": "SING",
            "load_on": False, "comparator_on": False, "beeper_on": True,
            "beeper_tone": 4, "keys_locked": False}


def express(function: str, c_p: float, g_p: float, freq_hz: float) -> tuple[float, float]:
    """Express a parallel C–G admittance in one of the E4980A's measurement functions."""
    w = 2 * math.pi * freq_hz
    y = complex(g_p, w * c_p)
    z = 1 / y
    d = g_p / (w * c_p) if c_p else math.inf
    c_s = -1 / (w * z.imag) if z.imag else math.inf
    l_p = -1 / (w * y.imag) if y.imag else math.inf
    l_s = z.imag / w
    values = {
        "CPD": (c_p, d), "CPQ": (c_p, 1 / d if d else math.inf), "CPG": (c_p, g_p),
        "CPRP": (c_p, 1 / g_p if g_p else math.inf), "CSD": (c_s, d),
        "CSQ": (c_s, 1 / d if d else math.inf), "CSRS": (c_s, z.real), "LPD": (l_p, d),
        "LPQ": (l_p, 1 / d if d else math.inf), "LPG": (l_p, g_p),
        "LPRP": (l_p, 1 / g_p if g_p else math.inf), "LSD": (l_s, d),
        "LSQ": (l_s, 1 / d if d else math.inf), "LSRS": (l_s, z.real), "RX": (z.real, z.imag),
        "ZTD": (abs(z), math.degrees(cmath.phase(z))), "ZTR": (abs(z), cmath.phase(z)),
        "GB": (y.real, y.imag), "YTD": (abs(y), math.degrees(cmath.phase(y))),
        "YTR": (abs(y), cmath.phase(y)),
    }
    return values[function]


class E4980ASim:
    def __init__(self, rig: Rig, timing: TimingModel, serial: str = "54321") -> None:
        self.rig = rig
        self.timing = timing
        self.serial = serial
        self.s = _defaults()
        self.list_results: list[tuple[float, float, int, int]] = []
        self.tree = CommandTree()
        self._declare()

    def handle(self, message: str) -> bytes | None:
        return self.tree.execute(message)

    def reset(self) -> None:
        self.s.clear()
        self.s.update(_defaults())
        self.list_results.clear()

    def _declare(self) -> None:
        t, s = self.tree, self.s
        g = lambda v: f"{v:+.6E}"  # noqa: E731
        b = lambda v: "1" if v else "0"  # noqa: E731
        add_common_commands(t, idn=lambda: IDN.format(serial=self.serial), reset=self.reset,
                            trigger=self._trigger)
        t.setting(":FREQuency[:CW]", s, "freq", lambda c: c.number(minimum=20, maximum=2e6), g)
        t.setting(":VOLTage[:LEVel]", s, "ac_volt", lambda c: c.number(minimum=0, maximum=20), g)
        t.setting(":CURRent[:LEVel]", s, "ac_curr", lambda c: c.number(minimum=0, maximum=0.1), g)
        t.setting(":FUNCtion:IMPedance[:TYPE]", s, "function",
                  lambda c: c.choice({f: f for f in FUNCTIONS}))
        t.setting(":TRIGger:SOURce", s, "trig_source",
                  lambda c: c.choice({"HOLD": "HOLD", "INTernal": "INT", "BUS": "BUS",
                                      "EXTernal": "EXT"}))
        t.add(":TRIGger[:IMMediate]", write=lambda c: self._trigger())
        t.setting(":INITiate:CONTinuous", s, "init_cont", lambda c: c.boolean(), b)
        t.add(":INITiate[:IMMediate]", write=lambda c: None)
        t.setting(":BIAS:STATe", s, "bias_on", lambda c: c.boolean(), b)
        t.setting(":BIAS:VOLTage[:LEVel]", s, "bias_volt",
                  lambda c: c.number(minimum=-40, maximum=40), g)
        t.setting(":DISPlay:PAGE", s, "display", lambda c: c.arg().upper()[:4])
        t.setting(":FORMat[:DATA]", s, "format",
                  lambda c: c.choice({"ASCii": "ASC", "REAL": "REAL"}))
        t.add(":APERture", write=self._set_aperture,
              query=lambda c: f"{s['aperture']},{s['averages']}")
        t.setting(":LIST:MODE", s, "list_mode",
                  lambda c: c.choice({"SEQuence": "SEQ", "STEPped": "STEP"}))
        for pattern, param in ((":LIST:FREQuency", "FREQ"), (":LIST:BIAS:VOLTage", "BIAS")):
            t.add(pattern, write=lambda c, p=param: self._set_list(p, c),
                  query=lambda c, p=param: ",".join(
                      f"{v:+.6E}" for v in (s["list_values"] if s["list_param"] == p else [])))
        t.add(":FETCh[:IMPedance][:FORMatted]", query=lambda c: self._fetch())
        t.add(":FETCh[:IMPedance]:CORRected", query=lambda c: self._fetch_rx())
        t.add("*OPT", query=lambda c: OPTIONS)
        t.add(":FUNCtion:IMPedance:RANGe[:VALue]", write=self._set_range,
              query=lambda c: g(s["imp_range"]))
        t.setting(":FUNCtion:IMPedance:RANGe:AUTO", s, "imp_range_auto", lambda c: c.boolean(), b)
        t.setting(":BIAS:RANGe:AUTO", s, "bias_range_auto", lambda c: c.boolean(), b)
        for node, key in (("OPEN", "open_on"), ("SHORt", "short_on")):
            t.add(f":CORRection:{node}[:EXECute]", write=lambda c, k=key: s.update({k: True}))
            t.setting(f":CORRection:{node}:STATe", s, key, lambda c: c.boolean(), b)
        self._declare_kept_settings(t, s)

    def _declare_kept_settings(self, t: CommandTree, s: dict) -> None:
        """Settings a driver reads at start-up or in a snapshot, kept as the E4980A keeps
        them; the model's C and G do not depend on them."""
        g = lambda v: f"{v:+.6E}"  # noqa: E731
        b = lambda v: "1" if v else "0"  # noqa: E731
        on = lambda c: c.boolean()  # noqa: E731
        for pattern, key in ((":AMPLitude:ALC", "alc"), (":OUTPut:HPOWer", "high_power"),
                             (":OUTPut:DC:ISOLation[:STATe]", "dc_isolation"),
                             (":OUTPut:DC:ISOLation:LEVel:AUTO", "isolation_auto"),
                             (":BIAS:POLarity:AUTO", "polarity_auto"),
                             (":DISPlay:ENABle", "display_on"),
                             (":CORRection:LOAD:STATe", "load_on"),
                             (":COMParator[:STATe]", "comparator_on"),
                             (":SYSTem:BEEPer:STATe", "beeper_on")):
            t.setting(pattern, s, key, on, b)
        t.setting(":OUTPut:DC:ISOLation:LEVel[:VALue]", s, "isolation_level",
                  lambda c: c.number(minimum=0, maximum=0.1), g)
        t.setting(":BIAS:CURRent[:LEVel]", s, "bias_curr",
                  lambda c: c.number(minimum=-0.1, maximum=0.1), g)
        for n in (1, 2):
            t.setting(f":FUNCtion:DEV{n}:MODE", s, f"dev{n}_mode",
                      one_of("ABSolute", "PERCent", "OFF"))
            t.setting(f":FUNCtion:DEV{n}:REFerence[:VALue]", s, f"dev{n}_ref",
                      lambda c: c.number(minimum=-9.9e37, maximum=9.9e37), g)
        t.setting(":TRIGger:DELay", s, "trig_delay", lambda c: c.number(minimum=0, maximum=999),
                  g)
        t.setting(":TRIGger:TDELay", s, "step_delay",
                  lambda c: c.number(minimum=0, maximum=999), g)
        t.setting(":FORMat:BORDer", s, "border", one_of("NORMal", "SWAPped"))
        t.setting(":FORMat:ASCii:LONG", s, "ascii_long", on, b)
        t.setting(":CORRection:LENGth", s, "cable_m",
                  lambda c: int(c.choice({"0": "0", "1": "1", "2": "2", "4": "4"})), str)
        t.setting(":CORRection:METHod", s, "corr_method", one_of("SINGle", "MULTi"))
        add_status_and_errors(t, s)
        t.add(":SYSTem:PRESet", write=lambda c: self.reset())
        t.add(":ABORt", write=lambda c: None)
        t.add(":DISPlay:CCLear", write=lambda c: None)
        t.add(":LIST:CLEar:ALL", write=lambda c: s.update(list_param=None, list_values=[]))
        t.setting(":SYSTem:BEEPer:TONE", s, "beeper_tone",
                  lambda c: int(c.number(minimum=1, maximum=5)), str)
        t.setting(":SYSTem:KLOCk", s, "keys_locked", on, b)
        t.add(":SYSTem:DATE", query=lambda c: "{},{},{}".format(*time.localtime()[:3]))
        t.add(":SYSTem:TIME", query=lambda c: "{},{},{}".format(*time.localtime()[3:6]))

    def _set_aperture(self, c: Call) -> None:
        self.s["aperture"] = c.choice({"SHORt": "SHOR", "MEDium": "MED", "LONG": "LONG"})
        if len(c.args) > 1:
            self.s["averages"] = int(c.number(1, minimum=1, maximum=256))

    def _set_range(self, c: Call) -> None:
        """A fixed range: the smallest that holds the value asked for; autoranging off."""
        value = c.number(minimum=0, maximum=IMPEDANCE_RANGES[-1])
        self.s["imp_range"] = next(r for r in IMPEDANCE_RANGES if r >= value)
        self.s["imp_range_auto"] = False

    def _set_list(self, param: str, c: Call) -> None:
        if not 1 <= len(c.args) <= LIST_MAX:
            raise ScpiError(DATA_OUT_OF_RANGE, f"a list holds 1 to {LIST_MAX} points")
        lo, hi = (20.0, 2e6) if param == "FREQ" else (-40.0, 40.0)
        self.s["list_values"] = [c.number(i, minimum=lo, maximum=hi) for i in range(len(c.args))]
        self.s["list_param"] = param

    def measure(self, freq_hz: float, bias_v: float) -> tuple[float, float]:
        """Parallel C and G of whatever the relay connects to the LCR terminals."""
        self.timing.wait(APERTURE_S[self.s["aperture"]] * self.s["averages"])
        index = self.rig.lcr_site
        if index is None or self.rig.sites[index].route is not Route.LCR:
            return _OPEN_C_F, _OPEN_G_S
        site = self.rig.sites[index]
        px = site.sync()
        site.set_drive(volts=bias_v)  # the DC bias drives the pixel while it is measured
        c, g = px.impedance(bias_v, freq_hz)
        site.set_drive(j_ma_cm2=0.0)
        noise = px.noise
        return noise.lcr(float(c)), noise.lcr(float(g))

    def _point(self, freq_hz: float, bias_v: float) -> tuple[float, float, int]:
        c, g = self.measure(freq_hz, bias_v)
        a, b = express(self.s["function"], c, g, freq_hz)
        return a, b, 0

    def _trigger(self) -> None:
        if self.s["display"].startswith("LIST") and self.s["list_param"]:
            results = []
            for i, value in enumerate(self.s["list_values"]):
                freq = value if self.s["list_param"] == "FREQ" else self.s["freq"]
                bias = value if self.s["list_param"] == "BIAS" else self._bias()
                a, b, status = self._point(freq, bias)
                results.append((a, b, status, i + 1))
            self.list_results = results

    def _bias(self) -> float:
        return self.s["bias_volt"] if self.s["bias_on"] else 0.0

    def _fetch(self) -> str:
        if self.s["display"].startswith("LIST") and self.list_results:
            return ",".join(f"{a:+.5E},{b:+.5E},{st:+d},{n:+d}"
                            for a, b, st, n in self.list_results)
        a, b, status = self._point(self.s["freq"], self._bias())
        return f"{a:+.5E},{b:+.5E},{status:+d}"

    def _fetch_rx(self) -> str:
        """:FETCh:IMPedance:CORRected? answers R and X, whatever the displayed function."""
        freq = self.s["freq"]
        c, g = self.measure(freq, self._bias())
        r, x = express("RX", c, g, freq)
        return f"{r:+.5E},{x:+.5E}"
