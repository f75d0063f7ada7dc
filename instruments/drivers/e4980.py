"""Keysight/Agilent E4980A LCR meter: pymeasure's driver plus DC bias and list-bias C–V sweeps."""

from __future__ import annotations

import numpy as np
from pymeasure.instruments import Instrument
from pymeasure.instruments.agilent import AgilentE4980
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from agelab.instruments.drivers.formats import completed, scpi_list
from agelab.instruments.roles import ImpedanceSweep

LIST_MAX = 201


class AgilentE4980A(AgilentE4980):
    bias_enabled = Instrument.control(
        ":BIAS:STAT?", ":BIAS:STAT %d", "Whether the DC bias is applied.",
        validator=strict_discrete_set, values={True: 1, False: 0}, map_values=True)
    bias_voltage = Instrument.control(
        ":BIAS:VOLT?", ":BIAS:VOLT %g", "DC bias voltage (V).",
        validator=strict_range, values=[-40, 40])
    display_page = Instrument.control(
        ":DISP:PAGE?", ":DISP:PAGE %s", "Display page: MEAS (single) or LIST (list sweep).",
        validator=strict_discrete_set, values={"measurement": "MEAS", "list": "LIST"},
        map_values=True)
    list_bias_voltage = Instrument.control(
        ":LIST:BIAS:VOLT?", ":LIST:BIAS:VOLT %s", "DC-bias list (1 to 201 points, V).",
        set_process=scpi_list)

    def __init__(self, adapter, name: str = "Keysight E4980A LCR meter", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)

    def identity(self) -> str:
        return self.ask("*IDN?").strip()

    def cv_sweep(self, bias_v: np.ndarray, frequency_hz: float, level_v: float) -> ImpedanceSweep:
        """C_p and G_p at each DC bias, stepped by the instrument's own list sweep."""
        bias_v = np.asarray(bias_v, dtype=float)
        self.mode = "CPG"
        self.frequency = frequency_hz
        self.ac_voltage = level_v
        self.write(":TRIG:SOUR BUS;:DISP:PAGE LIST;:LIST:MODE SEQ;:BIAS:STAT ON")
        c, g = [], []
        try:
            for start in range(0, bias_v.size, LIST_MAX):
                chunk = bias_v[start:start + LIST_MAX]
                self.list_bias_voltage = chunk
                self.write(":TRIG:IMM")
                completed(self)
                data = np.array(self.values(":FETC?"), dtype=float).reshape(-1, 4)
                c.extend(data[:, 0])
                g.extend(data[:, 1])
        finally:
            self.shutdown()
        return ImpedanceSweep(bias_v, np.array(c), np.array(g), float(frequency_hz))

    def shutdown(self) -> None:
        """No DC bias left on the pixel; back to single measurements."""
        self.write(":BIAS:STAT OFF;:BIAS:VOLT 0;:DISP:PAGE MEAS;:TRIG:SOUR INT")
