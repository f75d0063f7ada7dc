"""A virtual Keithley 2400 SourceMeter wired to one pixel.

It answers every command pymeasure's ``Keithley2400`` sends, plus the list/sweep source modes, the
trigger and arm counts, the 2500-point trace buffer, ASCII and binary (SREAL) data formats, and
compliance that clamps and sets status bit 3. Format details follow the 2400 manual: readings are
``VOLT,CURR,RES,TIME,STAT`` in that order whatever order ``:FORM:ELEM`` lists them in, 9.91e37 is
the overflow/NaN value, and SREAL data are little-endian singles behind an indefinite ``#0`` header.
"""

from __future__ import annotations

import contextlib
import copy
import statistics
import struct
import threading
import time

from agelab.instruments.sim.devices import smu_physics
from agelab.instruments.sim.devices.scpi import (
    DATA_OUT_OF_RANGE,
    EXECUTION_ERROR,
    ILLEGAL_PARAMETER,
    POWER_ON,
    SETTINGS_CONFLICT,
    Call,
    CommandTree,
    ScpiError,
    add_common_commands,
    add_status_and_errors,
    one_of,
)
from agelab.instruments.sim.loads import Load
from agelab.instruments.sim.rig import Timing, TimingModel

OVERFLOW = 9.91e37
BUFFER_MAX = 2500
STATUS_COMPLIANCE = 1 << 3
LINK_TIMEOUT_S = 10.0  # how long an INIT armed on the trigger link waits (the real one: forever)
ELEMENT_ORDER = ("VOLT", "CURR", "RES", "TIME", "STAT")
IDN = "KEITHLEY INSTRUMENTS INC.,MODEL 2400,{serial},C32   Oct  4 2010 14:20:11/A02  /S/K"


def _defaults() -> dict:
    return {
        "output": False, "source_func": "VOLT", "source_mode_v": "FIX", "source_mode_i": "FIX",
        "v_level": 0.0, "i_level": 0.0, "v_range": 21.0, "i_range": 1.05e-4,
        "v_range_auto": True, "i_range_auto": True, "v_compliance": 21.0, "i_compliance": 1.05e-4,
        "sense_v_range": 21.0, "sense_i_range": 1.05e-4, "sense_v_auto": True, "sense_i_auto": True,
        "sense_r_range": 2.1e5, "sense_r_auto": True, "res_mode": "MAN",
        "nplc_v": 1.0, "nplc_i": 1.0, "nplc_r": 1.0, "sense_funcs": {"CURR"},
        "list_v": [], "list_i": [], "v_start": 0.0, "v_stop": 0.0, "i_start": 0.0, "i_stop": 0.0,
        "sweep_points": 2500,
        "sweep_spacing": "LIN", "source_delay": 0.0, "source_delay_auto": True,
        "trigger_count": 1, "arm_count": 1, "trigger_delay": 0.0, "trigger_source": "IMM",
        "arm_source": "IMM", "arm_timer": 0.1, "elements": list(ELEMENT_ORDER),
        "data_format": "ASC", "border": "SWAP", "trace_points": 100, "trace_feed": "SENS",
        "trace_control": "NEV", "filter_count": 10, "filter_type": "REP", "filter_on": False,
        "autozero": "1", "line_freq": 50, "line_freq_auto": True, "terminals": "FRON",
        "display": True, "rsense": False, "auto_clear": True, "output_smode": "NORM",
        "meas_enable": 0, "sre": 0, "trigger_output": "NONE", "arm_output": "NONE",
        "iline": 1, "oline": 2, "arm_iline": 1, "arm_oline": 2, "guard": "CABL",
        "posetup": "PRES", "rcmode": "SING", "digits": 6, "text_on": False, "format_sour2": "ASC",
        "format_sreg": "ASC", "concurrent": True, "ocomp": False, "v_protection": 210.0,
        "auto_clear_mode": "ALW", "v_triggered": 0.0, "i_triggered": 0.0,
        "trigger_input": "SOUR", "tstamp_format": "ABS",
        "sweep_direction": "UP", "sweep_cabort": "NEV", "sweep_ranging": "BEST",
        "calc3": "MEAN", "beeper": True,
    }


class Keithley2400Sim:
    """One source-meter, wired to a load (a pixel through the relay box, or a photodiode)."""

    def __init__(self, load: Load, timing: TimingModel, serial: str = "1234567") -> None:
        self.load = load
        self.timing = timing
        self.serial = serial
        self.s = _defaults()
        self.trace: list[list[float]] = []
        self.last: list[list[float]] = []
        self.saved: dict[int, dict] = {}  # *SAV 0-4
        self._t_on = time.monotonic()
        self._link_armed_at: int | None = None
        self._aborted = threading.Event()  # an :ABOR that arrived while armed on the link
        self._link_waiting = False  # an INIT is waiting for the link's triggers
        # The message being handled: an instant sweep rests the pixel to its end (see _acquire).
        self._message: contextlib.ExitStack | None = None
        self._resting = False
        # Safety audit: the compliance limits written since the last reset, and every time the
        # output went on before the limit of its source function was written.
        self._limits_written: set[str] = set()
        self.violations: list[str] = []
        self.tree = CommandTree()
        self.tree.esr = POWER_ON  # it was just switched on
        self._declare()

    # ------------------------------------------------------------------ the command set
    def _declare(self) -> None:
        t, s = self.tree, self.s
        num = lambda lo, hi: lambda c: c.number(minimum=lo, maximum=hi)  # noqa: E731
        gfmt = lambda v: f"{v:.6E}"  # noqa: E731
        onoff = lambda c: c.boolean()  # noqa: E731
        b = lambda v: "1" if v else "0"  # noqa: E731
        add_common_commands(t, idn=lambda: IDN.format(serial=self.serial), reset=self.reset,
                            trigger=lambda: None, status_byte=self._status_byte)
        t.setting(":OUTPut[:STATe]", s, "output", onoff, b, on_change=self._output_written)
        t.setting(":OUTPut:SMODe", s, "output_smode",
                  lambda c: c.choice({"NORMal": "NORM", "HIMPedance": "HIMP", "ZERO": "ZERO",
                                      "GUARd": "GUAR"}))
        t.setting("[:SOURce]:FUNCtion[:MODE]", s, "source_func",
                  lambda c: c.choice({"VOLTage": "VOLT", "CURRent": "CURR"}),
                  on_change=self._apply_source)
        for key, node, lim in (("v", "VOLTage", 210.0), ("i", "CURRent", 1.05)):
            t.setting(f"[:SOURce]:{node}:MODE", s, f"source_mode_{key}",
                      lambda c: c.choice({"FIXed": "FIX", "LIST": "LIST", "SWEep": "SWE"}))
            t.setting(f"[:SOURce]:{node}[:LEVel][:IMMediate][:AMPLitude]", s, f"{key}_level",
                      num(-lim, lim), gfmt, on_change=self._apply_source)
            t.setting(f"[:SOURce]:{node}:RANGe", s, f"{key}_range", num(-lim, lim), gfmt)
            t.setting(f"[:SOURce]:{node}:RANGe:AUTO", s, f"{key}_range_auto", onoff, b)
            t.setting(f"[:SOURce]:{node}:STARt", s, f"{key}_start", num(-lim, lim), gfmt)
            t.setting(f"[:SOURce]:{node}:STOP", s, f"{key}_stop", num(-lim, lim), gfmt)
            limit = "v_compliance" if key == "v" else "i_compliance"
            t.setting(f"[:SENSe]:{node}[:DC]:PROTection[:LEVel]", s, limit, num(-lim, lim),
                      gfmt, on_change=lambda limit=limit: self._limits_written.add(limit))
            t.setting(f"[:SENSe]:{node}[:DC]:NPLCycles", s, f"nplc_{key}", num(0.01, 10.0), gfmt)
            t.setting(f"[:SENSe]:{node}[:DC]:RANGe[:UPPer]", s, f"sense_{key}_range",
                      num(-lim, lim), gfmt)
            t.setting(f"[:SENSe]:{node}[:DC]:RANGe:AUTO", s, f"sense_{key}_auto", onoff, b)
        t.add("[:SOURce]:LIST:VOLTage[:POINts]", write=lambda c: self._set_list("list_v", c),
              query=lambda c: ",".join(f"{v:.6E}" for v in s["list_v"]))
        t.add("[:SOURce]:LIST:CURRent[:POINts]", write=lambda c: self._set_list("list_i", c),
              query=lambda c: ",".join(f"{v:.6E}" for v in s["list_i"]))
        t.add("[:SOURce]:LIST:VOLTage:POINts", query=lambda c: str(len(s["list_v"])))
        t.setting("[:SOURce]:SWEep:POINts", s, "sweep_points", lambda c: int(c.number(
            minimum=1, maximum=BUFFER_MAX)), str)
        t.setting("[:SOURce]:SWEep:SPACing", s, "sweep_spacing",
                  lambda c: c.choice({"LINear": "LIN", "LOGarithmic": "LOG"}))
        t.setting("[:SOURce]:DELay", s, "source_delay", num(0.0, 999.9999), gfmt)
        t.setting("[:SOURce]:DELay:AUTO", s, "source_delay_auto", onoff, b)
        t.setting("[:SOURce]:CLEar:AUTO", s, "auto_clear", onoff, b)
        t.add("[:SOURce]:CLEar[:IMMediate]", write=lambda c: self._output(False))
        t.setting("[:SENSe]:RESistance:RANGe[:UPPer]", s, "sense_r_range", num(0, 2.1e8), gfmt)
        t.setting("[:SENSe]:RESistance:RANGe:AUTO", s, "sense_r_auto", onoff, b)
        t.setting("[:SENSe]:RESistance:MODE", s, "res_mode",
                  lambda c: c.choice({"MANual": "MAN", "AUTO": "AUTO"}))
        t.setting("[:SENSe]:RESistance:NPLCycles", s, "nplc_r", num(0.01, 10.0), gfmt)
        t.add("[:SENSe]:FUNCtion[:ON]", write=self._sense_on,
              query=lambda c: ",".join(f'"{f}:DC"' for f in sorted(s["sense_funcs"])))
        t.add("[:SENSe]:FUNCtion:ALL", write=lambda c: s.update(sense_funcs={"VOLT", "CURR",
                                                                              "RES"}))
        t.add("[:SENSe]:FUNCtion:OFF:ALL", write=lambda c: s.update(sense_funcs=set()))
        t.setting("[:SENSe]:AVERage[:STATe]", s, "filter_on", onoff, b)
        t.setting("[:SENSe]:AVERage:COUNt", s, "filter_count",
                  lambda c: int(c.number(minimum=1, maximum=100)), str)
        t.setting("[:SENSe]:AVERage:TCONtrol", s, "filter_type",
                  lambda c: c.choice({"REPeat": "REP", "MOVing": "MOV"}))
        t.setting(":TRIGger:COUNt", s, "trigger_count",
                  lambda c: int(c.number(minimum=1, maximum=BUFFER_MAX)), str)
        t.setting(":TRIGger:DELay", s, "trigger_delay", num(0.0, 999.9999), gfmt)
        t.setting(":TRIGger:SOURce", s, "trigger_source",
                  lambda c: c.choice({"IMMediate": "IMM", "TLINk": "TLIN"}))
        t.setting(":TRIGger:ILINe", s, "iline", lambda c: int(c.number(minimum=1, maximum=4)), str)
        t.setting(":TRIGger:OLINe", s, "oline", lambda c: int(c.number(minimum=1, maximum=4)), str)
        t.setting(":TRIGger:OUTPut", s, "trigger_output", lambda c: c.arg().upper())
        t.add(":TRIGger:CLEar", write=lambda c: None)
        t.setting(":ARM:COUNt", s, "arm_count",
                  lambda c: int(c.number(minimum=1, maximum=BUFFER_MAX)), str)
        t.setting(":ARM:SOURce", s, "arm_source", lambda c: c.choice(
            {"IMMediate": "IMM", "TIMer": "TIM", "MANual": "MAN", "BUS": "BUS", "TLINk": "TLIN",
             "NSTest": "NST", "PSTest": "PST", "BSTest": "BST"}))
        t.setting(":ARM:TIMer", s, "arm_timer", num(0.001, 99999.99), gfmt)
        t.setting(":ARM:ILINe", s, "arm_iline", lambda c: int(c.number(minimum=1, maximum=4)),
                  str)
        t.setting(":ARM:OLINe", s, "arm_oline", lambda c: int(c.number(minimum=1, maximum=4)),
                  str)
        t.setting(":ARM:OUTPut", s, "arm_output", lambda c: c.arg().upper())
        t.add(":FORMat[:DATA]", write=lambda c: s.update(data_format=c.choice(
            {"ASCii": "ASC", "SREal": "SRE", "REAL": "SRE"})),
              query=lambda c: {"ASC": "ASC", "SRE": "SRE"}[s["data_format"]])
        t.setting(":FORMat:BORDer", s, "border",
                  lambda c: c.choice({"NORMal": "NORM", "SWAPped": "SWAP"}))
        t.add(":FORMat:ELEMents[:SENSe[1]]", write=self._set_elements,
              query=lambda c: ",".join(s["elements"]))
        t.add(":READ", query=lambda c: self._encode(self._acquire()))
        t.add(":FETCh", query=lambda c: self._encode(self.last))
        t.add(":INITiate[:IMMediate]", write=lambda c: self._initiate())
        t.add(":ABORt", write=lambda c: None)
        for func in ("VOLTage", "CURRent", "RESistance"):
            t.add(f":MEASure:{func}[:DC]", query=lambda c, f=func: self._measure(f))
        t.setting(":TRACe:POINts", s, "trace_points",
                  lambda c: int(c.number(minimum=1, maximum=BUFFER_MAX)), str)
        t.add(":TRACe:POINts:ACTual", query=lambda c: str(len(self.trace)))
        t.setting(":TRACe:FEED", s, "trace_feed", lambda c: c.arg().upper()[:4])
        t.setting(":TRACe:FEED:CONTrol", s, "trace_control",
                  lambda c: c.choice({"NEXT": "NEXT", "NEVer": "NEV"}))
        t.add(":TRACe:CLEar", write=lambda c: self.trace.clear())
        t.add(":TRACe:DATA", query=lambda c: self._encode(self.trace))
        t.setting(":CALCulate3:FORMat", s, "calc3", one_of("MEAN", "SDEViation", "MAXimum",
                                                           "MINimum", "PKPK"))
        t.add(":CALCulate3:DATA", query=self._calc3)
        t.add(":STATus:PRESet", write=lambda c: None)
        t.setting(":STATus:MEASurement:ENABle", s, "meas_enable",
                  lambda c: int(c.number(minimum=0, maximum=65535)), str)
        t.add(":STATus:MEASurement[:EVENt]", query=lambda c: str(512 if self._buffer_full() else 0))
        t.add(":SYSTem:AZERo[:STATe]", write=self._set_autozero,
              query=lambda c: "1" if s["autozero"] != "0" else "0")
        t.setting(":SYSTem:LFRequency", s, "line_freq",
                  lambda c: int(c.choice({"50": "50", "60": "60"})), str)
        t.setting(":SYSTem:LFRequency:AUTO", s, "line_freq_auto", onoff, b)
        t.setting(":SYSTem:RSENse", s, "rsense", onoff, b)
        t.add(":SYSTem:BEEPer[:IMMediate]", write=lambda c: None)
        t.setting(":SYSTem:BEEPer:STATe", s, "beeper", onoff, b)
        t.add(":SYSTem:PRESet", write=lambda c: self.reset())
        t.setting(":ROUTe:TERMinals", s, "terminals",
                  lambda c: c.choice({"FRONt": "FRON", "REAR": "REAR"}))
        t.setting(":DISPlay:ENABle", s, "display", onoff, b)
        self._declare_status_and_system(t, s)
        self._declare_sweep_geometry(t, s)

    def _declare_status_and_system(self, t: CommandTree, s: dict) -> None:
        """The settings and status a driver reads at start-up or in a snapshot, kept as the
        2400 keeps them; they change nothing in the physics."""
        b = lambda v: "1" if v else "0"  # noqa: E731
        integer = lambda lo, hi: lambda c: int(c.number(minimum=lo, maximum=hi))  # noqa: E731
        add_status_and_errors(t, s)
        t.add("*OPT", query=lambda c: "0")
        t.add("*SAV", write=lambda c: self.saved.__setitem__(
            int(c.number(minimum=0, maximum=4)), copy.deepcopy(s)))
        t.add("*RCL", write=self._recall)
        t.add(":SYSTem:VERSion", query=lambda c: "1996.0")  # the SCPI year the manual gives
        t.add(":SYSTem:TIME", query=lambda c: f"{time.monotonic() - self._t_on:.2f}")
        t.add(":SYSTem:TIME:RESet", write=lambda c: setattr(self, "_t_on", time.monotonic()))
        t.setting(":SYSTem:GUARd", s, "guard", one_of("OHMS", "CABLe"))
        t.setting(":SYSTem:POSetup", s, "posetup", one_of("RST", "PRESet", "SAV0", "SAV1",
                                                            "SAV2", "SAV3", "SAV4"))
        t.setting(":SYSTem:RCMode", s, "rcmode", one_of("SINGle", "MULTiple"))
        t.setting(":DISPlay:DIGits", s, "digits", integer(4, 7), str)
        t.setting(":DISPlay[:WINDow1]:TEXT:STATe", s, "text_on", lambda c: c.boolean(), b)
        t.setting(":FORMat:SOURce2", s, "format_sour2", one_of("ASCii", "HEXadecimal",
                                                                "OCTal", "BINary"))
        t.setting(":FORMat:SREGister", s, "format_sreg", one_of("ASCii", "HEXadecimal",
                                                                 "OCTal", "BINary"))
        t.setting("[:SENSe]:FUNCtion:CONCurrent", s, "concurrent", lambda c: c.boolean(), b)
        t.setting("[:SENSe]:RESistance:OCOMpensated", s, "ocomp", lambda c: c.boolean(), b)
        t.add("[:SENSe]:DATA[:LATest]", query=lambda c: self._encode(self.last))
        for node, source in (("CURRent", "VOLT"), ("VOLTage", "CURR")):
            t.add(f"[:SENSe]:{node}[:DC]:PROTection:TRIPped",
                  query=lambda c, source=source: b(self._tripped(source)))
        t.setting("[:SOURce]:VOLTage:PROTection[:LEVel]", s, "v_protection",
                  lambda c: c.number(minimum=20, maximum=210), lambda v: f"{v:.6E}")
        t.setting("[:SOURce]:CLEar:AUTO:MODE", s, "auto_clear_mode",
                  one_of("ALWays", "TCOunt"))
        for key, node, lim in (("v", "VOLTage", 210.0), ("i", "CURRent", 1.05)):
            t.setting(f"[:SOURce]:{node}[:LEVel]:TRIGgered[:AMPLitude]", s, f"{key}_triggered",
                      lambda c, lim=lim: c.number(minimum=-lim, maximum=lim),
                      lambda v: f"{v:.6E}")
        t.setting(":TRIGger:INPut", s, "trigger_input", one_of("SOURce", "DELay", "SENSe",
                                                                "NONE"))
        t.setting(":TRACe:TSTamp:FORMat", s, "tstamp_format", one_of("ABSolute", "DELTa"))
        t.add(":TRACe:FREE", query=lambda c: f"{(BUFFER_MAX - len(self.trace)) * 40},"
                                            f"{len(self.trace) * 40}")
        t.add(":STATus:MEASurement:CONDition",
              query=lambda c: str(512 if self._buffer_full() else 0))

    def _declare_sweep_geometry(self, t: CommandTree, s: dict) -> None:
        """A sweep's STEP, CENTer and SPAN: other views of its STARt, STOP and POINts."""
        for key, node in (("v", "VOLTage"), ("i", "CURRent")):
            t.add(f"[:SOURce]:{node}:STEP", write=lambda c, k=key: self._set_step(k, c),
                  query=lambda c, k=key: f"{self._span(k) / max(s['sweep_points'] - 1, 1):.6E}")
            t.add(f"[:SOURce]:{node}:CENTer",
                  write=lambda c, k=key: self._set_sweep(k, c.number(), self._span(k)),
                  query=lambda c, k=key: f"{self._center(k):.6E}")
            t.add(f"[:SOURce]:{node}:SPAN",
                  write=lambda c, k=key: self._set_sweep(k, self._center(k), c.number()),
                  query=lambda c, k=key: f"{self._span(k):.6E}")
        t.setting("[:SOURce]:SWEep:DIRection", s, "sweep_direction", one_of("UP", "DOWn"))
        t.setting("[:SOURce]:SWEep:CABort", s, "sweep_cabort", one_of("NEVer", "EARLy",
                                                                       "LATE"))
        t.setting("[:SOURce]:SWEep:RANGing", s, "sweep_ranging", one_of("BEST", "AUTO",
                                                                         "FIXed"))

    def _span(self, key: str) -> float:
        return self.s[f"{key}_stop"] - self.s[f"{key}_start"]

    def _center(self, key: str) -> float:
        return (self.s[f"{key}_stop"] + self.s[f"{key}_start"]) / 2

    def _set_sweep(self, key: str, center: float, span: float) -> None:
        limit = 210.0 if key == "v" else 1.05
        start, stop = center - span / 2, center + span / 2
        if max(abs(start), abs(stop)) > limit:
            raise ScpiError(DATA_OUT_OF_RANGE, f"a sweep from {start:g} to {stop:g}")
        self.s[f"{key}_start"], self.s[f"{key}_stop"] = start, stop

    def _set_step(self, key: str, c: Call) -> None:
        step, span = c.number(), self._span(key)
        if step == 0 or span / step < 0:
            raise ScpiError(SETTINGS_CONFLICT, "a step of none, or the wrong way")
        self.s["sweep_points"] = min(BUFFER_MAX, round(abs(span / step)) + 1)

    def _tripped(self, source: str) -> bool:
        """In compliance on the last reading, as a source of ``source``."""
        return bool(self.last and self.s["source_func"] == source
                    and int(self.last[-1][ELEMENT_ORDER.index("STAT")]) & STATUS_COMPLIANCE)

    def _recall(self, c: Call) -> None:
        index = int(c.number(minimum=0, maximum=4))
        if index not in self.saved:
            raise ScpiError(EXECUTION_ERROR, f"no setup saved in {index}")
        self.s.clear()
        self.s.update(copy.deepcopy(self.saved[index]))
        self.s["output"] = False  # a recalled setup never switches a pixel on
        self._apply_source()

    def interrupt(self) -> None:
        """An :ABOR on the bus reaches the trigger model at once, even while the meter waits
        for triggers on the link (a real 2400 stays responsive there); the server calls this
        before the message queues for the instrument."""
        if self._link_waiting and hasattr(self.load, "wake_link"):
            self._aborted.set()
            self.load.wake_link()

    def handle(self, message: str) -> bytes | None:
        with contextlib.ExitStack() as self._message:
            try:
                reply = self.tree.execute(message)
            finally:
                self._message, self._resting = None, False
        # Selecting the trigger link arms this meter: triggers sent from now on are for it.
        linked = self.s["trigger_source"] == "TLIN" and hasattr(self.load, "trigger_in")
        if linked and self._link_armed_at is None:
            self._link_armed_at = self.load.link_generation()
        elif not linked:
            self._link_armed_at = None
        return reply

    # ------------------------------------------------------------------ behaviour
    def power_on(self) -> None:
        """After a power cycle: reset, and the reading timestamp counts from 0 again (a 2400's
        TIME element counts from power-on; *RST leaves it running)."""
        self.reset()
        self._t_on = time.monotonic()
        self.tree.esr |= POWER_ON  # IEEE 488.2: set at power-on, cleared by reading *ESR?

    def reset(self) -> None:
        self.s.clear()
        self.s.update(_defaults())
        self.trace.clear()
        self._limits_written.clear()
        self._apply_source()

    def _output_written(self) -> None:
        """Output on: the source function's compliance must have been set since the reset (a
        current source with the default 21 V limit could drive a pixel to breakdown)."""
        limit = "v_compliance" if self.s["source_func"] == "CURR" else "i_compliance"
        if self.s["output"] and limit not in self._limits_written:
            self.violations.append(f"output on as a {self.s['source_func']} source before its "
                                   f"compliance was set")
        self._apply_source()

    def _output(self, on: bool) -> None:
        self.s["output"] = on
        self._apply_source()

    def _apply_source(self) -> None:
        """Tell the load what this SMU forces on it now (nothing when the output is off)."""
        s = self.s
        level = s["i_level"] if s["source_func"] == "CURR" else s["v_level"]
        smu_physics.force(self.load, s["output"], s["source_func"] == "CURR", level,
                          s["v_compliance"], s["i_compliance"])

    def _set_autozero(self, c: Call) -> None:
        """ON/OFF, or ONCE: one reference-and-zero now (two integrations), then off."""
        value = c.arg().strip().upper()
        if value == "ONCE":
            nplc = max(self.s["nplc_i"], self.s["nplc_v"])
            self.timing.wait(2 * self.timing.integration_s(nplc))
            self.s["autozero"] = "0"
        else:
            self.s["autozero"] = "1" if c.boolean() else "0"

    def _set_list(self, key: str, c: Call) -> None:
        values = [c.number(i, minimum=-210, maximum=210) for i in range(len(c.args))]
        if not 1 <= len(values) <= 100:
            raise ScpiError(DATA_OUT_OF_RANGE, "a source list holds 1 to 100 points")
        self.s[key] = values

    def _sense_on(self, c: Call) -> None:
        for arg in c.args:
            name = arg.strip("'\" ").upper().split(":")[0][:4]
            self.s["sense_funcs"].add({"VOLT": "VOLT", "CURR": "CURR", "RES": "RES"}.get(name,
                                                                                         "CURR"))

    def _set_elements(self, c: Call) -> None:
        chosen = [a.strip().upper() for a in c.args]
        unknown = [a for a in chosen if not a.startswith(ELEMENT_ORDER)]
        if unknown or not chosen:
            raise ScpiError(ILLEGAL_PARAMETER, f":FORM:ELEM {','.join(unknown)}")
        self.s["elements"] = [e for e in ELEMENT_ORDER if any(a.startswith(e) for a in chosen)]

    def _source_points(self) -> list[float]:
        """The source values the next trigger sequence steps through."""
        func = self.s["source_func"]
        key = "v" if func == "VOLT" else "i"
        mode = self.s[f"source_mode_{key}"]
        n = self.s["trigger_count"] * self.s["arm_count"]
        if mode == "LIST":
            values = self.s[f"list_{key}"]
            if not values:
                raise ScpiError(SETTINGS_CONFLICT, "empty source list")
            return [values[i % len(values)] for i in range(n)]
        if mode == "SWE":
            pts = self.s["sweep_points"]
            a, b = self.s[f"{key}_start"], self.s[f"{key}_stop"]
            step = [a + (b - a) * k / max(pts - 1, 1) for k in range(pts)]
            if self.s["sweep_spacing"] == "LOG" and a > 0 and b > 0:
                step = [a * (b / a) ** (k / max(pts - 1, 1)) for k in range(pts)]
            return [step[i % pts] for i in range(n)]
        return [self.s[f"{key}_level"]] * n

    def _acquire(self) -> list[list[float]]:
        """One trigger sequence: step the source, wait, read. Needs the output on."""
        if not self.s["output"]:
            raise ScpiError((-803, "Output disabled"), "turn the output on before :READ?")
        func = self.s["source_func"]
        readings = []
        nplc = self.s["nplc_i"] if func == "VOLT" else self.s["nplc_v"]
        delay = self.s["source_delay"] + self.s["trigger_delay"]
        points = self._source_points()
        autozero = self.s["autozero"] != "0"
        nplc *= self._average_count()  # the repeat filter integrates that many times a reading
        due = time.monotonic() + self.timing.smu_sequence_s(0, nplc, delay, autozero)
        per_point = self.timing.smu_sequence_s(1, nplc, delay, autozero) - (
            self.timing.smu_sequence_s(0, nplc, delay, autozero))
        if self._link_armed_at is not None:
            return self._acquire_linked(len(points))
        # A sweep in fast timing takes no modelled time: the pixel rests meanwhile (see
        # Site.instant_sweep); in realistic timing it is at each point for the point's time.
        # The rest lasts to the end of the message: the commands after the INIT (the :OUTP OFF
        # the drivers send with it) take microseconds on an instrument, but a busy host can
        # take tens of milliseconds over them, which at a high speed-up would age the pixel at
        # the sweep's top point.
        instant = len(points) > 1 and self.timing.mode is Timing.FAST
        if instant and not self._resting:
            scope = self._message if self._message is not None else contextlib.ExitStack()
            scope.enter_context(self.load.instant_sweep())
            self._resting = self._message is not None
        try:
            for value in points:
                self.s["v_level" if func == "VOLT" else "i_level"] = value
                self._apply_source()
                due += per_point
                self.timing.wait_until(due)
                readings.append(self._read_point())
        finally:
            if instant and self._message is None:
                scope.close()
        if self.s["trigger_output"] != "NONE" and hasattr(self.load, "trigger_out"):
            self.load.trigger_out([r[1] for r in readings])
        self.last = readings
        return readings

    def _acquire_linked(self, count: int) -> list[list[float]]:
        """Armed on the trigger link: one reading per trigger from the other source-meter, taken
        at that step's drive. Only triggers sent after the link was selected count."""
        self._aborted.clear()
        self._link_waiting = True
        try:
            drives = self.load.trigger_in(self._link_armed_at, LINK_TIMEOUT_S,
                                          self._aborted.is_set)
        finally:
            self._link_waiting = False
        if self._aborted.is_set():
            self._aborted.clear()
            return []  # aborted: the trigger model went back to idle, nothing stored
        if drives is None:
            raise ScpiError((-214, "Trigger deadlock"), "no trigger arrived on the link")
        self._link_armed_at = self.load.link_generation()  # the next INIT waits for new triggers
        # Each reading was integrated while the other meter held its step: the trigger source
        # has already spent the time, so none is spent again here.
        readings = []
        for drive in drives[:count]:
            self.load.linked_j = drive
            try:
                readings.append(self._read_point())
            finally:
                self.load.linked_j = None
        self.last = readings
        return readings

    def _read_point(self) -> list[float]:
        s = self.s
        current = s["source_func"] == "CURR"
        v_meas, i_meas, compliance = smu_physics.read_point(
            self.load, current, s["i_level"] if current else s["v_level"], s["v_compliance"],
            s["i_compliance"], self._average_count())
        res = v_meas / i_meas if i_meas != 0 else OVERFLOW
        status = STATUS_COMPLIANCE if compliance else 0
        return [v_meas, i_meas, res, time.monotonic() - self._t_on, float(status)]

    def _average_count(self) -> int:
        return int(self.s["filter_count"]) if self.s["filter_on"] else 1

    def _measure(self, func: str) -> str:
        name = func[:4].upper()
        self.s["sense_funcs"] = {name}
        return self._encode(self._acquire())

    def _initiate(self) -> None:
        readings = self._acquire()
        if self.s["trace_control"] == "NEXT":
            room = self.s["trace_points"] - len(self.trace)
            self.trace.extend(readings[:room])
            if len(self.trace) >= self.s["trace_points"]:
                self.s["trace_control"] = "NEV"

    def _buffer_full(self) -> bool:
        return len(self.trace) >= self.s["trace_points"]

    def _status_byte(self) -> int:
        return 65 if (self._buffer_full() and self.s["meas_enable"] & 512) else 0

    def _calc3(self, c: Call) -> str:
        values = [r[0] for r in self.trace] or [0.0]
        op = self.s["calc3"]
        result = {"MEAN": statistics.fmean(values), "MAX": max(values), "MIN": min(values),
                  "SDEV": statistics.pstdev(values)}.get(op, statistics.fmean(values))
        return f"{result:.6E}"

    def _encode(self, readings: list[list[float]]) -> str | bytes:
        idx = [ELEMENT_ORDER.index(e) for e in self.s["elements"]]
        flat = [r[i] for r in readings for i in idx]
        if self.s["data_format"] == "SRE":
            order = "<" if self.s["border"] == "SWAP" else ">"
            return b"#0" + struct.pack(f"{order}{len(flat)}f", *flat)
        return ",".join(f"{v:+.6E}" for v in flat)
