"""The virtual bench: N pixels, their source-meters and photodetectors, and the shared instruments,
each on a real transport.

Use it in-process as a context manager (tests), or as its own process with ``agelab sim``:

    with VirtualBench(preset="red-cdse", pixels=2, speedup=3600) as bench:
        smu = Keithley2400(bench.resources["smu1"])

Resources: ``smu<i>`` (Keithley 2400 driving pixel i), ``pd<i>`` (Keithley 2400 reading pixel i's
photodiode at 0 V), ``lcr`` (E4980A), ``lockin`` (SR830 or SR860), ``spectrometer`` on TCP sockets;
``relay`` and ``laser`` on serial ptys.

With ``smu="keithley2602b"`` the source-meters are two-channel 2602Bs (``wiring`` says which
channel drives which pixel): with ``photodiodes="keithley2400"`` box k drives pixels 2k-1
(``smu<k>a``) and 2k (``smu<k>b``), each photodiode read by its own 2400; with
``photodiodes="smu-channel"`` box i drives pixel i on channel a and reads its photodiode on
channel b (a common wiring: one box per pixel, the J–V–L trigger-linked inside the box). With
``photodiodes="daq6510"`` every photodiode goes through a transimpedance amplifier
(``TIA_GAIN_V_PER_A``) to a channel of a DAQ6510's 20-channel card: pixel i on ``daq1:101+i-1``
for the first twenty, ``daq2`` for the next. With ``tec=True`` each pixel sits on its own
temperature-controlled stage, a Keithley 2510 (``tec<i>``) holding the pixel's sensor at its set
point (``rig.Thermal``); without, every pixel stays at its reference temperature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agelab.instruments.sim.devices.daq6510 import DAQ6510Sim
from agelab.instruments.sim.devices.e4980a import E4980ASim
from agelab.instruments.sim.devices.keithley2400 import Keithley2400Sim
from agelab.instruments.sim.devices.keithley2450 import Keithley2450Sim
from agelab.instruments.sim.devices.keithley2510 import Keithley2510Sim
from agelab.instruments.sim.devices.keithley2602b import Keithley2602BSim
from agelab.instruments.sim.devices.lockin import SR830Sim, SR860Sim
from agelab.instruments.sim.devices.serial_devices import LaserDriverSim, RelayBoxSim
from agelab.instruments.sim.devices.spectrometer import SpectrometerSim
from agelab.instruments.sim.faults import FaultInjector, FaultKind, FaultRecord, FaultSpec
from agelab.instruments.sim.loads import OpenTerminals, PhotodiodeLoad, PixelLoad
from agelab.instruments.sim.model.qled import Condition, QledPixel
from agelab.instruments.sim.rig import DeviceClock, Rig, Site, Thermal, Timing, TimingModel
from agelab.instruments.sim.servers.pty import SerialPty
from agelab.instruments.sim.servers.tcp import InstrumentServer

LOCKINS = {"sr830": SR830Sim, "sr860": SR860Sim}
SOURCE_METERS = {"keithley2400": Keithley2400Sim, "keithley2450": Keithley2450Sim,
                 "keithley2602b": Keithley2602BSim}
PHOTODIODE_READERS = ("keithley2400", "smu-channel", "daq6510")
SCANNER_CHANNELS = 20  # a 7700 card's
TIA_GAIN_V_PER_A = 1e4  # each photodiode's transimpedance amplifier on the virtual rig


def temperature_controller(pixel: int) -> str:
    """The TEC under pixel ``pixel`` on a bench with temperature control."""
    return f"tec{pixel}"


def wiring(smu: str, photodiodes: str, pixel: int) -> tuple[str, str]:
    """The names of the source-meter (channel) driving ``pixel`` (from 1) and of the meter
    (channel) reading its photodiode, as the bench wires them."""
    if photodiodes == "smu-channel":
        return f"smu{pixel}a", f"smu{pixel}b"
    if photodiodes == "daq6510":
        scanner, slot = divmod(pixel - 1, SCANNER_CHANNELS)
        pd = f"daq{scanner + 1}:{101 + slot}"
    else:
        pd = f"pd{pixel}"
    if smu != "keithley2602b":
        return f"smu{pixel}", pd
    return f"smu{(pixel + 1) // 2}{'ab'[(pixel - 1) % 2]}", pd


@dataclass(frozen=True)
class BenchConfig:
    preset: str = "red-cdse"  # comma-separated when the pixels differ
    pixels: int = 1
    speedup: float = 1.0
    timing: Timing = Timing.FAST
    seed: int = 0
    port_base: int = 0  # 0: let the OS choose free ports
    lockin: str = "sr860"
    smu: str = "keithley2400"
    photodiodes: str = "keithley2400"
    tec: bool = False
    lifetime_spread: float = 0.0
    lifetime_factors: tuple[float, ...] = ()


def lifetime_factors(pixels: int, spread: float, seed: int,
                     given: Sequence[float] = ()) -> list[float]:
    """Each pixel's lifetime over its preset's: ``given`` one per pixel, or log-normal with
    σ = ``spread`` (ln units), as a batch's devices scatter, drawn from the bench's seed
    (neither: every pixel the preset's)."""
    if given:
        if len(given) != pixels or not all(f > 0 for f in given):
            raise ValueError(f"lifetime_factors: one factor > 0 per pixel ({pixels}), got "
                             f"{list(given)}")
        return [float(f) for f in given]
    if spread == 0.0:
        return [1.0] * pixels
    rng = np.random.default_rng([seed, 0x11FE])
    return [float(f) for f in np.exp(spread * rng.standard_normal(pixels))]


class VirtualBench:
    """``preset`` names one preset for every pixel, or gives one per pixel (then ``pixels`` is
    their count)."""

    def __init__(self, preset: str | Sequence[str] = "red-cdse", pixels: int = 1,
                 speedup: float = 1.0,
                 timing: Timing | str = Timing.FAST, seed: int = 0, port_base: int = 0,
                 lockin: str = "sr860", faults: list[FaultSpec | str] = (),
                 smu: str = "keithley2400", photodiodes: str = "keithley2400",
                 tec: bool = False, lifetime_spread: float = 0.0,
                 lifetime_factors_given: Sequence[float] = ()) -> None:
        presets = [preset] * pixels if isinstance(preset, str) else list(preset)
        pixels = len(presets)
        if pixels < 1:
            raise ValueError(f"a bench needs at least one pixel, got {pixels}")
        if lockin not in LOCKINS:
            raise ValueError(f"unknown lock-in {lockin!r}; choose one of: {', '.join(LOCKINS)}")
        if smu not in SOURCE_METERS:
            raise ValueError(f"unknown source-meter {smu!r}; choose one of: "
                             f"{', '.join(SOURCE_METERS)}")
        if photodiodes not in PHOTODIODE_READERS or (
                photodiodes == "smu-channel" and smu != "keithley2602b"):
            raise ValueError(f"photodiodes {photodiodes!r}: 'keithley2400', 'daq6510', or "
                             "'smu-channel' with the two-channel keithley2602b")
        if not 0.0 <= lifetime_spread <= 2.0:
            raise ValueError(f"lifetime_spread is σ of ln T, 0 to 2, got {lifetime_spread!r}")
        self.config = BenchConfig(",".join(presets), pixels, speedup, Timing(timing), seed,
                                  port_base, lockin, smu, photodiodes, tec, lifetime_spread,
                                  tuple(lifetime_factors_given))
        clock = DeviceClock(speedup)
        factors = lifetime_factors(pixels, lifetime_spread, seed, lifetime_factors_given)
        sites = [Site(i, QledPixel(name, seed=seed + i, lifetime_factor=f), clock)
                 for i, (name, f) in enumerate(zip(presets, factors, strict=True))]
        self.rig = Rig(sites=sites, clock=clock, timing=TimingModel(Timing(timing)))
        specs = [f if isinstance(f, FaultSpec) else FaultSpec.parse(f) for f in faults]
        self.injector = FaultInjector(specs, clock, seed) if specs else None
        timing_model = self.rig.timing
        self.devices: dict[str, object] = {}
        # Which pixel a pixel fault on each instrument strikes, by channel ('' for one).
        self.fault_sites: dict[str, dict[str, Site]] = {}
        self._wire_source_meters(sites)
        if tec:  # each pixel on its own TEC stage, the controller's sensor at the pixel
            for i, site in enumerate(sites):
                site.thermal = Thermal(site.pixel.preset.thermal_resistance_k_per_w)
                site.pixel.set_temperature(site.thermal.temperature_k)
                self.devices[temperature_controller(i + 1)] = Keithley2510Sim(
                    site, serial=f"{1250000 + i}")
        self.devices["lcr"] = E4980ASim(self.rig, timing_model)
        self.devices["lockin"] = LOCKINS[lockin](self.rig)
        self.devices["spectrometer"] = SpectrometerSim(self.rig, timing_model)
        self.serial_devices = {"relay": RelayBoxSim(self.rig), "laser": LaserDriverSim(self.rig)}
        self._servers: dict[str, InstrumentServer] = {}
        self._ptys: list[SerialPty] = []
        self.resources: dict[str, str] = {}

    def _wire_source_meters(self, sites: list[Site]) -> None:
        config, timing = self.config, self.rig.timing
        if config.smu == "keithley2602b":
            boxes: dict[str, dict[str, object]] = {}
            for i, site in enumerate(sites):
                smu, pd = wiring(config.smu, config.photodiodes, i + 1)
                boxes.setdefault(smu[:-1], {})[smu[-1]] = PixelLoad(site)
                self.fault_sites.setdefault(smu[:-1], {})[smu[-1]] = site
                if pd.startswith("smu"):
                    boxes[pd[:-1]][pd[-1]] = PhotodiodeLoad(site, self.rig)
            for k, (box, loads) in enumerate(boxes.items()):
                loads = {"a": loads.get("a", OpenTerminals()), "b": loads.get("b",
                                                                              OpenTerminals())}
                self.devices[box] = Keithley2602BSim(loads, timing, serial=f"{4200000 + k}")
        else:
            for i, site in enumerate(sites):
                self.devices[f"smu{i + 1}"] = SOURCE_METERS[config.smu](
                    PixelLoad(site), timing, serial=f"{4000000 + i}")
                self.fault_sites[f"smu{i + 1}"] = {"": site}
        if config.photodiodes == "keithley2400":
            for i, site in enumerate(sites):
                self.devices[f"pd{i + 1}"] = Keithley2400Sim(PhotodiodeLoad(site, self.rig),
                                                             timing, serial=f"{4100000 + i}")
                self.fault_sites[f"pd{i + 1}"] = {"": site}
        elif config.photodiodes == "daq6510":
            scanners: dict[str, dict[int, tuple[PhotodiodeLoad, float]]] = {}
            for i, site in enumerate(sites):
                name, channel = wiring(config.smu, config.photodiodes, i + 1)[1].split(":")
                scanners.setdefault(name, {})[int(channel)] = (PhotodiodeLoad(site, self.rig),
                                                               TIA_GAIN_V_PER_A)
            for k, (name, channels) in enumerate(scanners.items()):
                self.devices[name] = DAQ6510Sim(channels, timing, serial=f"{4500000 + k}")

    def start(self) -> VirtualBench:
        base = self.config.port_base
        for offset, (name, device) in enumerate(self.devices.items()):
            server = InstrumentServer(device, base + offset if base else 0, name=name,
                                      injector=self.injector,
                                      on_pixel_fault=self._pixel_fault_handler(name),
                                      timing=self.rig.timing).start()
            self._servers[name] = server
            self.resources[name] = server.resource
        for name, device in self.serial_devices.items():
            pty = SerialPty(device, self.rig.timing).start()
            self._ptys.append(pty)
            self.resources[name] = pty.port_name
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            server.stop()
        for pty in self._ptys:
            pty.stop()
        self._servers.clear()
        self._ptys.clear()

    def __enter__(self) -> VirtualBench:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, *faults: FaultSpec | str) -> None:
        """Add fault rules while the bench runs (a test's way to strike at a chosen moment)."""
        specs = [f if isinstance(f, FaultSpec) else FaultSpec.parse(f) for f in faults]
        if self.injector is None:
            self.injector = FaultInjector([], self.rig.clock, self.config.seed)
            for server in self._servers.values():
                server.injector = self.injector
        self.injector.add(specs)

    def _pixel_fault_handler(self, name: str):
        """An open/short fault on a source-meter or photodiode meter strikes its pixel (on a
        two-channel box, the pixel of the channel the message addressed, else channel a's);
        elsewhere, nothing."""
        channels = self.fault_sites.get(name)
        if not channels:
            return None

        def strike(kind: FaultKind, message: str = "") -> None:
            site = next((s for letter, s in channels.items() if letter
                         and f"smu{letter}" in message), next(iter(channels.values())))
            with site.lock:
                site.sync()
                site.pixel.set_condition(Condition(kind.value))

        return strike

    def client_count(self) -> int:
        """Open client connections to the bench's TCP instruments."""
        return sum(len(server.connections) for server in self._servers.values())

    def safety_violations(self) -> dict[str, list[str]]:
        """Each source-meter's audit of unsafe commands it received (empty when none)."""
        return {name: list(device.violations) for name, device in self.devices.items()
                if getattr(device, "violations", None)}

    @property
    def fault_log(self) -> list[FaultRecord]:
        return list(self.injector.log.records) if self.injector else []

    def pixel(self, index: int) -> QledPixel:
        """The model behind pixel ``index``, synced to now (ground truth for tests)."""
        return self.rig.sites[index].sync()
