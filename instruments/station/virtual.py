"""The station's virtual backend: the one door from the rest of AgeLab to the simulator.

A config's ``station: {virtual: ...}`` is validated here, the virtual bench is started here (in
this process, or as its own process as a rack is), and its resources are wired to drivers here.
The reliability harness, the model card and ``agelab sim`` reach the simulator through the names
this module exports, and nothing else outside ``instruments/sim`` imports it (an import-linter
contract, run by ``make test``).

A virtual bench in its own process, as a rack is: it outlives the engine that drives it.

``agelab run`` starts the bench this way, so that when the engine is killed the virtual
source-meters keep sourcing (a real 2400 does the same when its computer dies), and ``agelab
resume`` can reconnect to the very same pixels. The process is in its own session, so a Ctrl-C in
the terminal reaches only the engine, which then ramps every output down before it stops the
bench. A bench left without any client for ``idle_exit_s`` stops by itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Annotated

import yaml
from pydantic import Field, field_validator, model_validator

from agelab.instruments.sim.bench import (
    LOCKINS,
    PHOTODIODE_READERS,
    SOURCE_METERS,
    TIA_GAIN_V_PER_A,
    VirtualBench,
    temperature_controller,
    wiring,
)
from agelab.instruments.sim.faults import FaultKind, FaultRecord
from agelab.instruments.sim.model.aging import ElevationLaw
from agelab.instruments.sim.model.presets import PRESETS, get_preset
from agelab.instruments.sim.model.qled import QledPixel
from agelab.instruments.sim.serve import add_bench_arguments, serve_bench
from agelab.instruments.station.spec import InstrumentSpec, Strict

__all__ = ["PRESETS", "BenchProcess", "BenchStartError", "ElevationLaw", "FaultKind",
           "FaultRecord", "QledPixel", "VirtualBench", "VirtualSpec", "add_bench_arguments",
           "bench_instruments",
           "get_preset", "pid_alive", "serve_bench", "start_in_process", "wiring"]


class VirtualSpec(Strict):
    preset: str = "red-cdse"
    # A count of ``preset`` pixels, or one preset name per pixel.
    pixels: int | list[str] = Field(1)
    speedup: float = Field(1.0, gt=0)
    timing: str = "fast"
    seed: int = 0
    lockin: str = "sr860"
    faults: list[str] = Field(default_factory=list)
    timeout_ms: int = Field(5000, ge=10)
    smu: str = "keithley2400"
    # What reads each photodiode: its own 2400, channel b of the pixel's 2602B, or a channel
    # of a DAQ6510 scanner through a transimpedance amplifier.
    photodiodes: str = "keithley2400"
    # Each pixel on its own temperature-controlled stage (a Keithley 2510, tec<i>).
    tec: bool = False
    # Device-to-device lifetime scatter: σ of ln T across the pixels (0: every pixel alike).
    lifetime_spread: float = Field(0.0, ge=0.0, le=2.0)
    # Or each pixel's lifetime over its preset's, given: one factor per pixel.
    lifetime_factors: list[Annotated[float, Field(gt=0, le=100)]] = Field(default_factory=list)

    @property
    def presets(self) -> list[str]:
        return [self.preset] * self.pixels if isinstance(self.pixels, int) else list(self.pixels)

    @field_validator("pixels")
    @classmethod
    def _count(cls, pixels: int | list[str]) -> int | list[str]:
        count = pixels if isinstance(pixels, int) else len(pixels)
        if not 1 <= count <= 256:
            raise ValueError(f"a virtual bench has 1 to 256 pixels, got {count}")
        return pixels

    @model_validator(mode="after")
    def _known(self) -> VirtualSpec:
        for name in dict.fromkeys(self.presets):
            if name not in PRESETS:
                raise ValueError(f"unknown preset {name!r}; choose one of "
                                 f"{', '.join(sorted(PRESETS))}")
        if self.lockin not in LOCKINS:
            raise ValueError(f"unknown lock-in {self.lockin!r}; choose sr830 or sr860")
        if self.timing not in ("fast", "realistic"):
            raise ValueError("timing must be 'fast' or 'realistic'")
        if self.smu not in SOURCE_METERS:
            raise ValueError(f"unknown source-meter {self.smu!r}; choose one of "
                             f"{', '.join(SOURCE_METERS)}")
        if self.lifetime_factors and len(self.lifetime_factors) != len(self.presets):
            raise ValueError(f"lifetime_factors: one per pixel ({len(self.presets)}), got "
                             f"{len(self.lifetime_factors)}")
        if self.photodiodes not in PHOTODIODE_READERS or (
                self.photodiodes == "smu-channel" and self.smu != "keithley2602b"):
            raise ValueError(f"photodiodes {self.photodiodes!r}: 'keithley2400', 'daq6510', "
                             "or 'smu-channel' with smu: keithley2602b")
        return self

    def wiring(self, pixel: int) -> tuple[str, str]:
        """The names of pixel ``pixel``'s source-meter and photodiode meter on this bench."""
        return wiring(self.smu, self.photodiodes, pixel)

    def temperature_controller(self, pixel: int) -> str | None:
        """The TEC under pixel ``pixel``, if the bench has temperature control."""
        return temperature_controller(pixel) if self.tec else None

    def instrument_names(self) -> set[str]:
        """Every role name the bench offers, each channel of a two-channel box its own."""
        names = {"lcr", "lockin", "spectrometer", "relay", "laser"}
        for pixel in range(1, len(self.presets) + 1):
            names.update(self.wiring(pixel))
            names.update(filter(None, [self.temperature_controller(pixel)]))
        return names



def start_in_process(v: VirtualSpec) -> VirtualBench:
    """A virtual bench in this process (tests, the GUI's own studies)."""
    return VirtualBench(v.presets, speedup=v.speedup, timing=v.timing, seed=v.seed,
                        lockin=v.lockin, faults=v.faults, smu=v.smu,
                        photodiodes=v.photodiodes, tec=v.tec,
                        lifetime_spread=v.lifetime_spread,
                        lifetime_factors_given=v.lifetime_factors).start()


def virtual_instruments(bench: VirtualBench, timeout_ms: int = 5000
                        ) -> dict[str, InstrumentSpec]:
    """The specs of every instrument a running bench offers."""
    return bench_instruments(bench.resources, bench.config.smu, bench.config.lockin, timeout_ms)


def bench_instruments(resources: dict[str, str], smu: str = "keithley2400",
                      lockin: str = "sr860", timeout_ms: int = 5000
                      ) -> dict[str, InstrumentSpec]:
    """The specs of a bench's instruments from its resource strings (a bench in-process, or one
    running as its own process)."""
    drivers = {"smu": smu, "pd": "keithley2400-photodiode", "daq": "daq6510",
               "tec": "keithley2510", "lcr": "e4980a", "lockin": lockin,
               "spectrometer": "virtual-spectrometer", "relay": "relay-box",
               "laser": "laser-445"}
    specs = {}
    for name, resource in resources.items():
        kind = name.rstrip("0123456789")
        # pyvisa-py serves the bench's sockets: named, each (re)connect skips the search for a
        # system VISA library (tens of ms, device-minutes at a high speed-up).
        options = ({"timeout": timeout_ms, "visa_library": "@py"} if "::SOCKET" in resource
                   else {})
        if kind == "daq":
            options["tia_gain_v_per_a"] = TIA_GAIN_V_PER_A
        specs[name] = InstrumentSpec(driver=drivers[kind], resource=resource, options=options)
    return specs


class BenchStartError(RuntimeError):
    pass


@dataclass
class BenchProcess:
    pid: int
    resources: dict[str, str]
    _popen: subprocess.Popen | None = None

    @classmethod
    def start(cls, spec: VirtualSpec, idle_exit_s: float = 900.0,
              timeout_s: float = 60.0) -> BenchProcess:
        cmd = [sys.executable, "-m", "agelab.instruments.sim", "--presets",
               ",".join(spec.presets), "--speedup", repr(spec.speedup), "--timing",
               spec.timing, "--seed", str(spec.seed), "--lockin", spec.lockin,
               "--smu", spec.smu, "--photodiodes", spec.photodiodes,
               *(["--tec"] if spec.tec else []),
               "--lifetime-spread", repr(spec.lifetime_spread),
               "--lifetime-factors", ",".join(repr(f) for f in spec.lifetime_factors),
               "--idle-exit", repr(idle_exit_s)]
        for fault in spec.faults:
            cmd += ["--fault", fault]
        popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 stdin=subprocess.DEVNULL, start_new_session=True, text=True)
        lines = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = popen.stdout.readline()
            if not line:
                break
            if line.startswith("# ready"):
                station = yaml.safe_load("".join(lines))["station"]["instruments"]
                resources = {name: item["resource"] for name, item in station.items()}
                popen.stdout.close()  # the bench prints nothing more that matters
                return cls(popen.pid, resources, popen)
            if not line.startswith("#"):
                lines.append(line)
        with contextlib.suppress(OSError):
            popen.kill()
        raise BenchStartError("the virtual bench process did not start")

    @classmethod
    def attach(cls, pid: int, resources: dict[str, str]) -> BenchProcess | None:
        """The bench a previous engine started, if it still runs."""
        return cls(pid, resources) if pid_alive(pid) else None

    def stop(self, timeout_s: float = 10.0) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and pid_alive(self.pid):
            if self._popen is not None and self._popen.poll() is not None:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=5)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not alive.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(") ")[-1][:1] != "Z"
    return True
