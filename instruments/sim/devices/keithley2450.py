"""A virtual Keithley 2450 (SCPI command set): the 2400's source-measure engine with the 2450's
dialect. Differences that matter to a driver: source limits are ``:SOUR:VOLT:ILIM`` and
``:SOUR:CURR:VLIM``; sweeps are built from a source list with ``:SOUR:SWE:<f>:LIST start, delay``
(or ``:SOUR:SWE:<f>:LIN start, stop, points, delay``); readings always go to ``defbuffer1`` and are
read with ``:TRAC:DATA? first, last, "defbuffer1", SOUR, READ``; binary data (``:FORM REAL``) is an
IEEE 488.2 definite-length block of doubles.
"""

from __future__ import annotations

import numpy as np

from agelab.instruments.sim.devices.keithley2400 import Keithley2400Sim
from agelab.instruments.sim.devices.scpi import DATA_OUT_OF_RANGE, Call, ScpiError, binary_block
from agelab.instruments.sim.loads import Load
from agelab.instruments.sim.rig import TimingModel

IDN = "KEITHLEY INSTRUMENTS,MODEL 2450,{serial},1.7.3c"
BUFFER_2450 = 100_000


class Keithley2450Sim(Keithley2400Sim):
    def __init__(self, load: Load, timing: TimingModel, serial: str = "04512345") -> None:
        super().__init__(load, timing, serial)
        self.s["trace_points"] = BUFFER_2450

    def _declare(self) -> None:
        super()._declare()
        t, s = self.tree, self.s
        g = lambda v: f"{v:.6E}"  # noqa: E731
        t.add("*IDN", query=lambda c: IDN.format(serial=self.serial))
        t.setting(":SOURce:VOLTage:ILIMit[:LEVel]", s, "i_compliance",
                  lambda c: c.number(minimum=1e-9, maximum=1.05), g,
                  on_change=lambda: self._limits_written.add("i_compliance"))
        t.setting(":SOURce:CURRent:VLIMit[:LEVel]", s, "v_compliance",
                  lambda c: c.number(minimum=0.02, maximum=210), g,
                  on_change=lambda: self._limits_written.add("v_compliance"))
        for node, key in (("VOLTage", "v"), ("CURRent", "i")):
            t.add(f":SOURce:SWEep:{node}:LIST", write=lambda c, k=key: self._sweep_list(k, c))
            t.add(f":SOURce:SWEep:{node}:LINear", write=lambda c, k=key: self._sweep_lin(k, c))
        t.add(":TRACe:DATA", query=self._trace_data)
        t.add(":READ", query=self._read)
        t.add(":TRACe:ACTual", query=lambda c: str(len(self.trace)))
        t.add(":TRACe:CLEar", write=lambda c: self.trace.clear())
        t.add(":FORMat[:DATA]", write=lambda c: s.update(data_format=c.choice(
            {"ASCii": "ASC", "REAL": "REAL", "SREal": "SRE"})),
              query=lambda c: s["data_format"])

    def _sweep_list(self, key: str, c: Call) -> None:
        start = int(c.number(0, minimum=1, maximum=BUFFER_2450))
        values = self.s[f"list_{key}"]
        if start > len(values):
            raise ScpiError(DATA_OUT_OF_RANGE, "sweep starts past the end of the source list")
        self.s[f"list_{key}"] = values[start - 1:]
        self.s[f"source_mode_{key}"] = "LIST"
        self.s["trigger_count"] = len(values) - start + 1
        if len(c.args) > 1:
            self.s["source_delay"] = c.number(1, minimum=0, maximum=1e4)

    def _sweep_lin(self, key: str, c: Call) -> None:
        a, b = c.number(0), c.number(1)
        points = int(c.number(2, minimum=2, maximum=BUFFER_2450))
        self.s[f"list_{key}"] = list(np.linspace(a, b, points))
        self.s[f"source_mode_{key}"] = "LIST"
        self.s["trigger_count"] = points
        if len(c.args) > 3:
            self.s["source_delay"] = c.number(3, minimum=0, maximum=1e4)

    def _set_list(self, key: str, c: Call) -> None:
        values = [c.number(i, minimum=-210, maximum=210) for i in range(len(c.args))]
        if not 1 <= len(values) <= 2500:
            raise ScpiError(DATA_OUT_OF_RANGE, "a source list command holds 1 to 2500 points")
        self.s[key] = values

    def _initiate(self) -> None:
        """The 2450 always stores its readings, in defbuffer1."""
        self.trace.extend(self._acquire())
        del self.trace[:-BUFFER_2450]

    def _read(self, c: Call) -> str | bytes:
        """:READ? ["buffer"[, elements...]]: one reading, stored, the last one returned."""
        readings = self._acquire()
        self.trace.extend(readings)
        return self._encode_rows(readings[-1:], [a.strip().upper() for a in c.args[1:]])

    def _trace_data(self, c: Call) -> str | bytes:
        first = int(c.number(0, minimum=1, maximum=BUFFER_2450)) if c.args else 1
        last = int(c.number(1, minimum=first, maximum=BUFFER_2450)) if len(c.args) > 1 else (
            len(self.trace))
        if last > len(self.trace):
            raise ScpiError(DATA_OUT_OF_RANGE, f"buffer holds {len(self.trace)} readings")
        return self._encode_rows(self.trace[first - 1:last],
                                 [a.strip().upper() for a in c.args[3:]])

    def _encode_rows(self, rows: list[list[float]], elements: list[str]) -> str | bytes:
        elements = elements or ["READ"]
        sourcing_v = self.s["source_func"] == "VOLT"
        columns = {"SOUR": 0 if sourcing_v else 1, "READ": 1 if sourcing_v else 0,
                   "REL": 3, "RELATIVE": 3}
        flat = [row[columns.get(e, 1)] for row in rows for e in elements]
        if self.s["data_format"] in ("REAL", "SRE"):
            dtype = "<f8" if self.s["data_format"] == "REAL" else "<f4"
            return binary_block(np.asarray(flat, dtype=dtype).tobytes())
        return ",".join(f"{v:+.9E}" for v in flat)
