"""Spectrometers: the virtual bench's (SCPI over TCP) and Ocean Insight's via python-seabreeze.

Both satisfy the ``SpectrometerRole``: ``spectrum(integration_s, averages, dark)`` returns counts
with the dark subtracted when ``dark`` is true.
"""

from __future__ import annotations

import numpy as np
from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set, strict_range
from pyvisa.util import from_ieee_block

from agelab.instruments.drivers.formats import read_block_verified
from agelab.instruments.roles import Spectrum

FULL_SCALE = 65535.0


class VirtualSpectrometer(Instrument):
    """The bench's fibre spectrometer (command set: ``instruments/sim/spectrometer.py``)."""

    integration_time = Instrument.control(
        ":SENS:INT?", ":SENS:INT %g", "Integration time (s).",
        validator=strict_range, values=[1e-3, 10.0])
    averages = Instrument.control(
        ":SENS:AVER:COUN?", ":SENS:AVER:COUN %d", "Scans averaged per reading.",
        validator=strict_range, values=[1, 100], cast=int)
    shutter_closed = Instrument.control(
        ":SHUT?", ":SHUT %d", "Whether the shutter is closed (dark).",
        validator=strict_discrete_set, values={True: 1, False: 0}, map_values=True)
    saturated = Instrument.measurement(
        ":STAT:SAT?", "Whether the last reading saturated.", values={True: 1, False: 0},
        map_values=True)

    def __init__(self, adapter, name: str = "AgeLab virtual spectrometer", **kwargs) -> None:
        super().__init__(adapter, name, includeSCPI=False, **kwargs)
        self._wavelengths: np.ndarray | None = None

    def identity(self) -> str:
        return self.ask("*IDN?").strip()

    @property
    def next_error(self) -> tuple[int, str]:
        code, _, message = self.ask(":SYST:ERR?").strip().partition(",")
        return int(code), message.strip('"')

    def wavelengths(self) -> np.ndarray:
        if self._wavelengths is None:
            self._wavelengths = np.array(self.values(":WAV?"), dtype=float)
        return self._wavelengths

    def pixel_count(self) -> int:
        return int(self.ask(":PIX?"))

    def read_counts(self) -> np.ndarray:
        """One reading as a definite-length block of little-endian singles. The byte count is
        known (pixels × 4), so the read never relies on a terminator that the data may contain."""
        n = self.pixel_count()
        payload = 4 * n
        size = 2 + len(str(payload)) + payload + 1
        # A flipped byte in the block would be a plausible wrong count: the block is verified.
        raw = read_block_verified(self, ":FORM REAL;:READ?", size, again=":FETC?", reads=4)
        self.write(":FORM ASC")
        return np.array(from_ieee_block(raw[:-1], datatype="f", is_big_endian=False))

    def spectrum(self, integration_s: float, averages: int = 1, dark: bool = True) -> Spectrum:
        self.integration_time = integration_s
        self.averages = averages
        background = None
        if dark:
            self.shutter_closed = True
            background = self.read_counts()
            self.shutter_closed = False
        light = self.read_counts()
        saturated = bool(self.saturated)
        counts = light - background if background is not None else light
        return Spectrum(self.wavelengths(), counts, integration_s, dark, saturated)

    def shutdown(self) -> None:
        self.shutter_closed = True


class SeabreezeSpectrometer:
    """An Ocean Insight spectrometer through python-seabreeze (``pip install agelab[seabreeze]``).

    seabreeze is imported only when one is opened, so AgeLab runs without it.
    """

    def __init__(self, resource: str = "", **_: object) -> None:
        try:
            from seabreeze.spectrometers import Spectrometer
        except ImportError as exc:  # the optional extra is missing
            raise RuntimeError("the seabreeze driver needs python-seabreeze: "
                               "pip install 'agelab[seabreeze]'") from exc
        self.device = (Spectrometer.from_serial_number(resource) if resource
                       else Spectrometer.from_first_available())

    def identity(self) -> str:
        return f"Ocean Insight,{self.device.model},{self.device.serial_number}"

    def spectrum(self, integration_s: float, averages: int = 1, dark: bool = True) -> Spectrum:
        self.device.integration_time_micros(round(integration_s * 1e6))
        scans = [self.device.intensities(correct_dark_counts=dark) for _ in range(averages)]
        counts = np.mean(scans, axis=0)
        limit = float(getattr(self.device, "max_intensity", FULL_SCALE))
        saturated = bool(np.max(scans) >= limit)
        return Spectrum(np.asarray(self.device.wavelengths()), counts, integration_s, dark,
                        saturated)

    def shutdown(self) -> None:
        self.device.close()
