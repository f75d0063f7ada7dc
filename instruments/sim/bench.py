"""The virtual bench: N pixels, their source-meters, and the shared instruments, on real transports.

Use it in-process as a context manager (tests), or as its own process with ``agelab sim``:

    with VirtualBench(preset="red-cdse", pixels=2, speedup=3600) as bench:
        smu = Keithley2400(bench.resources["smu1"])
"""

from __future__ import annotations

from dataclasses import dataclass

from .keithley2400 import Keithley2400Sim
from .qled import QledPixel
from .rig import DeviceClock, Laser, Rig, Site, Timing, TimingModel
from .serial_devices import LaserDriverSim, RelayBoxSim, SerialPty
from .server import InstrumentServer


@dataclass
class BenchConfig:
    preset: str = "red-cdse"
    pixels: int = 1
    speedup: float = 1.0
    timing: Timing = Timing.FAST
    seed: int = 0
    port_base: int = 0  # 0: let the OS choose free ports


class VirtualBench:
    def __init__(self, preset: str = "red-cdse", pixels: int = 1, speedup: float = 1.0,
                 timing: Timing | str = Timing.FAST, seed: int = 0, port_base: int = 0) -> None:
        if pixels < 1:
            raise ValueError(f"a bench needs at least one pixel, got {pixels}")
        self.config = BenchConfig(preset, pixels, speedup, Timing(timing), seed, port_base)
        clock = DeviceClock(speedup)
        sites = [Site(i, QledPixel(preset, seed=seed + i), clock) for i in range(pixels)]
        self.rig = Rig(sites=sites, clock=clock, timing=TimingModel(Timing(timing)),
                       laser=Laser())
        self.smus = [Keithley2400Sim(site, self.rig.timing, serial=f"{4000000 + i}")
                     for i, site in enumerate(sites)]
        self.relay = RelayBoxSim(self.rig)
        self.laser = LaserDriverSim(self.rig.laser)
        self._servers: list[InstrumentServer] = []
        self._ptys: list[SerialPty] = []
        self.resources: dict[str, str] = {}

    def _port(self, offset: int) -> int:
        return self.config.port_base + offset if self.config.port_base else 0

    def start(self) -> VirtualBench:
        for i, smu in enumerate(self.smus):
            server = InstrumentServer(smu, self._port(i)).start()
            self._servers.append(server)
            self.resources[f"smu{i + 1}"] = server.resource
        for name, device in (("relay", self.relay), ("laser", self.laser)):
            pty = SerialPty(device).start()
            self._ptys.append(pty)
            self.resources[name] = pty.port_name
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        for pty in self._ptys:
            pty.stop()
        self._servers.clear()
        self._ptys.clear()

    def __enter__(self) -> VirtualBench:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def pixel(self, index: int) -> QledPixel:
        """The model behind pixel ``index``, synced to now (ground truth for tests)."""
        return self.rig.sites[index].sync()
