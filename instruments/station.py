"""The station: which instrument plays which part, how to reach it, and opening them all.

A config's ``station`` section names each instrument's driver, resource string and options, or
asks for the virtual bench (``virtual:``), which is started here and wires its own resources.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .registry import driver_class
from .resilience import PATIENCE_S, FaultEvent, Resilient
from .sim.bench import LOCKINS, VirtualBench
from .sim.presets import PRESETS

SOCKET_DEFAULTS = {"read_termination": "\n", "write_termination": "\n", "timeout": 5000}
# Whose identity each driver must report (a substring of *IDN?), so a wrong instrument at a
# resource is caught before anything is sourced.
EXPECTED_IDENTITY = {
    "keithley2400": "MODEL 2400", "keithley2400-photodiode": "MODEL 2400",
    "keithley2450": "MODEL 2450",
    "e4980a": "E4980A", "sr830": "SR830", "sr860": "SR860",
    "virtual-spectrometer": "VSPEC", "relay-box": "RELAYBOX", "laser-445": "LASER",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstrumentSpec(_Strict):
    driver: str
    resource: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    expect_identity: str | None = None
    # How long an instrument that went silent is retried before its channel stops safely: a
    # 2400 takes about 10 s to reboot. A lab with slower instruments raises it.
    patience_s: float = Field(PATIENCE_S, gt=0)


class VirtualSpec(_Strict):
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
        return self


class StationSpec(_Strict):
    virtual: VirtualSpec | None = None
    instruments: dict[str, InstrumentSpec] = Field(default_factory=dict)


def virtual_instruments(bench: VirtualBench, timeout_ms: int = 5000
                        ) -> dict[str, InstrumentSpec]:
    """The specs of every instrument a running bench offers."""
    return bench_instruments(bench.resources, bench.config.smu, bench.config.lockin, timeout_ms)


def bench_instruments(resources: dict[str, str], smu: str = "keithley2400",
                      lockin: str = "sr860", timeout_ms: int = 5000
                      ) -> dict[str, InstrumentSpec]:
    """The specs of a bench's instruments from its resource strings (a bench in-process, or one
    running as its own process)."""
    drivers = {"smu": smu, "pd": "keithley2400-photodiode", "lcr": "e4980a",
               "lockin": lockin, "spectrometer": "virtual-spectrometer",
               "relay": "relay-box", "laser": "laser-445"}
    specs = {}
    for name, resource in resources.items():
        kind = name.rstrip("0123456789")
        # pyvisa-py serves the bench's sockets: named, each (re)connect skips the search for
        # a system VISA library (83 ms here, 0.14 device-h at 6000x, every reconnect).
        options = ({"timeout": timeout_ms, "visa_library": "@py"} if "::SOCKET" in resource
                   else {})
        specs[name] = InstrumentSpec(driver=drivers[kind], resource=resource, options=options)
    return specs


def open_driver(name: str, spec: InstrumentSpec) -> object:
    """Open one instrument with its driver; TCP socket resources get newline termination."""
    cls = driver_class(spec.driver)
    options = dict(spec.options)
    if "::SOCKET" in spec.resource.upper():
        options = {**SOCKET_DEFAULTS, **options}
    return cls(spec.resource, **options)


class Station:
    """Every instrument of a station, each behind the resilience layer."""

    def __init__(self, spec: StationSpec, listener: Callable[[FaultEvent], None] | None = None
                 ) -> None:
        self.spec = spec
        self.listener = listener
        self.bench: VirtualBench | None = None
        # The resources of a virtual bench running as its own process (``attach_bench``).
        self.bench_resources: dict[str, str] | None = None
        self.instruments: dict[str, Resilient] = {}

    def attach_bench(self, resources: dict[str, str]) -> Station:
        """Use a virtual bench that runs in another process instead of starting one here."""
        self.bench_resources = dict(resources)
        return self

    def resolved_specs(self) -> dict[str, InstrumentSpec]:
        specs = dict(self.spec.instruments)
        v = self.spec.virtual
        if self.bench is not None:
            specs = {**virtual_instruments(self.bench, v.timeout_ms), **specs}
        elif self.bench_resources is not None and v is not None:
            specs = {**bench_instruments(self.bench_resources, v.smu, v.lockin, v.timeout_ms),
                     **specs}
        return specs

    def start_bench(self) -> None:
        """Start the virtual bench if the station asks for one (idempotent)."""
        if self.spec.virtual is not None and self.bench is None and self.bench_resources is None:
            v = self.spec.virtual
            self.bench = VirtualBench(v.presets, speedup=v.speedup,
                                      timing=v.timing, seed=v.seed, lockin=v.lockin,
                                      faults=v.faults, smu=v.smu).start()

    def open(self) -> Station:
        self.start_bench()
        for name, spec in self.resolved_specs().items():
            self.instruments[name] = Resilient(
                name, lambda n=name, s=spec: open_driver(n, s), listener=self.listener,
                expect_identity=spec.expect_identity or EXPECTED_IDENTITY.get(spec.driver),
                patience_s=spec.patience_s)
        return self

    def __getitem__(self, name: str) -> Resilient:
        return self.instruments[name]

    def identities(self) -> dict[str, str]:
        """Who answered at each resource: recorded in every run file."""
        return {name: inst.identity() for name, inst in self.instruments.items()}

    def close(self) -> None:
        """Make every instrument safe (source-meters ramp down and switch off, no DC bias, laser
        off), then release it. One failing instrument never keeps the others from being made
        safe; its failure is an event."""
        for name, inst in self.instruments.items():
            if inst._driver is None:
                continue  # never connected: nothing can be on
            try:
                inst.shutdown()
            except Exception as exc:  # report and carry on: the rest must still be made safe
                if self.listener is not None:
                    self.listener(FaultEvent(name, "shutdown-failed", str(exc)))
        for inst in self.instruments.values():
            inst.close()
        self.instruments.clear()
        if self.bench is not None:
            self.bench.stop()
            self.bench = None

    def __enter__(self) -> Station:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
