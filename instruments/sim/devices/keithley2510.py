"""A virtual Keithley 2510 TEC SourceMeter holding one pixel's stage at a set point.

It answers what pymeasure's ``Keithley2510`` sends, as the 2510 manual has it: the output
(``:OUTP``), the temperature set point (``:SOUR:TEMP``), the measured temperature, TEC current
and voltage (``:MEAS:TEMP?``, ``:MEAS:CURR?``, ``:MEAS:VOLT?``), the temperature protection
limits and the PID loop constants, and the error queue. The temperature is the pixel's
``Thermal`` model read at its sensor (see ``rig.Thermal``), in °C.
"""

from __future__ import annotations

from agelab.instruments.sim.devices.scpi import CommandTree, add_common_commands
from agelab.instruments.sim.rig import Site

IDN = "KEITHLEY INSTRUMENTS INC.,MODEL 2510,{serial},C04 Jul 1 2005 11:17:46/A02 /H"
KELVIN = 273.15
SENSOR_NOISE_K = 0.002


class Keithley2510Sim:
    def __init__(self, site: Site, serial: str = "1250001") -> None:
        if site.thermal is None:
            raise ValueError("a TEC needs a pixel on a temperature-controlled stage")
        self.site = site
        self.thermal = site.thermal
        self.serial = serial
        self.tree = CommandTree()
        self.reset()
        self._declare()

    def reset(self) -> None:
        with self.site.lock:
            self.site.sync()
            self.thermal.regulating = False
        self.s = {"prot": True, "low": 0.0, "high": 100.0, "gain": 20.0, "int": 0.1,
                  "der": 0.0}

    def power_on(self) -> None:
        self.reset()

    def handle(self, message: str) -> bytes | None:
        return self.tree.execute(message)

    def _declare(self) -> None:
        t, s = self.tree, self.s
        add_common_commands(t, idn=lambda: IDN.format(serial=self.serial), reset=self.reset)
        t.add(":OUTPut[:STATe]", write=lambda c: self._regulate(c.boolean()),
              query=lambda c: "1" if self.thermal.regulating else "0")
        t.add("[:SOURce]:TEMPerature[:SPOint]", write=lambda c: self._setpoint(
            c.number(minimum=-50.0, maximum=225.0)),
              query=lambda c: f"{self.thermal.setpoint_k - KELVIN:.6E}")
        t.add(":MEASure:TEMPerature", query=lambda c: f"{self._temperature_c():.6E}")
        t.add(":MEASure:CURRent", query=lambda c: f"{self._tec_current_a():.6E}")
        t.add(":MEASure:VOLTage", query=lambda c: f"{self._tec_current_a() * 2.0:.6E}")
        for node, key in (("STATe", "prot"),):
            t.setting(f"[:SOURce]:TEMPerature:PROTection:{node}", s, key, lambda c: c.boolean(),
                      lambda v: "1" if v else "0")
        t.setting("[:SOURce]:TEMPerature:PROTection:LOW[:LEVel]", s, "low",
                  lambda c: c.number(minimum=-50.0, maximum=250.0), lambda v: f"{v:.6E}")
        t.setting("[:SOURce]:TEMPerature:PROTection:HIGH[:LEVel]", s, "high",
                  lambda c: c.number(minimum=-50.0, maximum=250.0), lambda v: f"{v:.6E}")
        for node, key in (("GAIN", "gain"), ("INTegral", "int"), ("DERivative", "der")):
            t.setting(f"[:SOURce]:TEMPerature:LCONstants:{node}", s, key,
                      lambda c: c.number(minimum=0.0, maximum=1e4), lambda v: f"{v:.6E}")

    def _regulate(self, on: bool) -> None:
        with self.site.lock:
            self.site.sync()  # the stage drifted as it was until now
            self.thermal.regulating = on

    def _setpoint(self, celsius: float) -> None:
        with self.site.lock:
            self.site.sync()
            self.thermal.setpoint_k = celsius + KELVIN

    def _temperature_c(self) -> float:
        with self.site.lock:
            self.site.sync()
            noise = float(self.site.pixel.noise.rng.normal(0.0, SENSOR_NOISE_K))
            return self.thermal.temperature_k - KELVIN + noise

    def _tec_current_a(self) -> float:
        """A plausible TEC current: proportional to the lift from ambient (model choice)."""
        if not self.thermal.regulating:
            return 0.0
        return max(min((self.thermal.setpoint_k - self.thermal.ambient_k) / 60.0, 3.0), -3.0)
