"""A virtual fibre spectrometer (a stand-in for an Ocean Insight CCD) on a TCP socket.

Its command set, documented here because no real instrument defines it (python-seabreeze talks USB;
AgeLab's spectrometer role hides the difference):

    *IDN?                          → AGELAB,VSPEC-2048,<serial>,1.0
    :SENSe:INTegration[:TIME] <s>  integration time, 1 ms to 10 s (query with ?)
    :SENSe:AVERage:COUNt <n>       scans averaged per reading, 1 to 100
    :SHUTter[:STATe] ON|OFF        ON closes the shutter: the next reading is a dark spectrum
    :FORMat[:DATA] ASCii|REAL      REAL: IEEE 488.2 definite-length block of little-endian float32
    :WAVelength?                   the 2048 pixel wavelengths, nm
    :READ?                         integrate (takes integration × averages), return counts
    :FETCh?                        the last reading again
    :STATus:SATurated?             1 if any pixel of the last reading hit 65535 counts
    :PIXels?                       2048

Counts = offset + dark current × t + signal, with shot noise, read noise and 16-bit saturation.
The fibre looks at the rig's optics-target pixel: its EL at its present drive, plus its PL while
the laser (50 % duty, square-wave modulated) is on it.
"""

from __future__ import annotations

import numpy as np

from agelab.instruments.sim.devices.scpi import CommandTree, add_common_commands, binary_block
from agelab.instruments.sim.rig import Rig, TimingModel

PIXELS = 2048
WAVELENGTH_NM = np.linspace(350.0, 800.0, PIXELS)
FULL_WELL_COUNTS = 65535.0
OFFSET_COUNTS = 1000.0
DARK_COUNTS_PER_S = 50.0
READ_NOISE_COUNTS = 8.0
COUNTS_PER_PHOTON = 0.6          # detector QE × gain
FIBRE_COLLECTION = 3e-8          # fraction of the pixel's emitted photons reaching the detector


class SpectrometerSim:
    IDN = "AGELAB,VSPEC-2048,{serial},1.0"

    def __init__(self, rig: Rig, timing: TimingModel, serial: str = "VS0001") -> None:
        self.rig = rig
        self.timing = timing
        self.serial = serial
        self.s = {"integration_s": 0.1, "averages": 1, "shutter": False, "format": "ASC"}
        self.last = np.zeros(PIXELS)
        self.saturated = False
        self.tree = CommandTree()
        self._declare()

    def handle(self, message: str) -> bytes | None:
        return self.tree.execute(message)

    def reset(self) -> None:
        self.s.update(integration_s=0.1, averages=1, shutter=False, format="ASC")

    def _declare(self) -> None:
        t, s = self.tree, self.s
        add_common_commands(t, idn=lambda: self.IDN.format(serial=self.serial), reset=self.reset)
        t.setting(":SENSe:INTegration[:TIME]", s, "integration_s",
                  lambda c: c.number(minimum=1e-3, maximum=10.0), lambda v: f"{v:.6E}")
        t.setting(":SENSe:AVERage:COUNt", s, "averages",
                  lambda c: int(c.number(minimum=1, maximum=100)), str)
        t.setting(":SHUTter[:STATe]", s, "shutter", lambda c: c.boolean(),
                  lambda v: "1" if v else "0")
        t.setting(":FORMat[:DATA]", s, "format", lambda c: c.choice({"ASCii": "ASC",
                                                                      "REAL": "REAL"}))
        t.add(":WAVelength", query=lambda c: self._encode(WAVELENGTH_NM))
        t.add(":READ", query=lambda c: self._encode(self.acquire()))
        t.add(":FETCh", query=lambda c: self._encode(self.last))
        t.add(":STATus:SATurated", query=lambda c: "1" if self.saturated else "0")
        t.add(":PIXels", query=lambda c: str(PIXELS))

    def _photon_rate_per_pixel(self) -> np.ndarray:
        """Photons per second falling on each detector pixel."""
        site = self.rig.sites[self.rig.optics_site]
        px = site.sync()
        dlambda = np.gradient(WAVELENGTH_NM)
        rate = px.el_spectrum(site.present_j(), WAVELENGTH_NM)
        laser_w = self.rig.laser.emitting_w
        if laser_w:
            rate = rate + 0.5 * px.pl_spectrum(laser_w, WAVELENGTH_NM)
        return rate * dlambda * FIBRE_COLLECTION

    def acquire(self) -> np.ndarray:
        t_int, n = self.s["integration_s"], self.s["averages"]
        self.timing.wait(t_int * n)
        signal = np.zeros(PIXELS) if self.s["shutter"] else (
            self._photon_rate_per_pixel() * t_int * COUNTS_PER_PHOTON)
        mean = OFFSET_COUNTS + DARK_COUNTS_PER_S * t_int + signal
        rng = self.rig.sites[self.rig.optics_site].pixel.noise.rng
        sigma = np.sqrt(np.maximum(signal + DARK_COUNTS_PER_S * t_int, 0.0) / COUNTS_PER_PHOTON
                        * COUNTS_PER_PHOTON ** 2 + READ_NOISE_COUNTS ** 2) / np.sqrt(n)
        counts = np.clip(mean + rng.standard_normal(PIXELS) * sigma, 0.0, FULL_WELL_COUNTS)
        self.saturated = bool(np.any(mean >= FULL_WELL_COUNTS))
        self.last = np.round(counts, 2)
        return self.last

    def _encode(self, values: np.ndarray) -> str | bytes:
        if self.s["format"] == "REAL":
            return binary_block(np.asarray(values, dtype="<f4").tobytes())
        return ",".join(f"{v:.6g}" for v in values)
