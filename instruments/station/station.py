"""The station: every instrument of a rig, opened by its driver behind the resilience layer."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from agelab.instruments.registry import driver_class
from agelab.instruments.resilience import FaultEvent, Resilient
from agelab.instruments.resilience.shared_link import SharedLink
from agelab.instruments.roles import channel_letters, channel_role
from agelab.instruments.station.spec import (
    EXPECTED_IDENTITY,
    SOCKET_DEFAULTS,
    InstrumentSpec,
    Strict,
)
from agelab.instruments.station.virtual import (
    VirtualBench,
    VirtualSpec,
    bench_instruments,
    start_in_process,
    virtual_instruments,
)


class StationSpec(Strict):
    virtual: VirtualSpec | None = None
    instruments: dict[str, InstrumentSpec] = Field(default_factory=dict)

    def role_names(self) -> set[str]:
        """Every name a channel may give as its source-meter or photodetector: each
        instrument's, or each of its channels' (``smu1a``, ``smu1b``), and the virtual
        bench's. An instrument whose driver is unknown counts under its own name."""
        names = self.virtual.instrument_names() if self.virtual else set()
        for name, spec in self.instruments.items():
            try:
                letters = channel_letters(driver_class(spec.driver))
            except Exception:  # an unknown driver: the config check says so
                letters = ()
            names |= {channel_role(name, letter) for letter in letters} or {name}
        return names


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
            self.bench = start_in_process(self.spec.virtual)

    def open(self) -> Station:
        """Every instrument behind its resilience layer (nothing is connected yet). Each
        channel of a multi-channel instrument is one, named after the instrument and its
        channel (``smu1a``, ``daq1:101``), all on the instrument's one link."""
        self.start_bench()
        for name, spec in self.resolved_specs().items():
            expect = spec.expect_identity or EXPECTED_IDENTITY.get(spec.driver)
            letters = channel_letters(driver_class(spec.driver))
            if not letters:
                self.instruments[name] = Resilient(
                    name, lambda n=name, s=spec: open_driver(n, s), listener=self.listener,
                    expect_identity=expect, patience_s=spec.patience_s)
                continue
            link = SharedLink(lambda n=name, s=spec: open_driver(n, s))
            for letter in letters:
                role = channel_role(name, letter)
                self.instruments[role] = Resilient(
                    role, lambda lk=link, c=letter: lk.channel(c),
                    listener=self.listener, expect_identity=expect,
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
            inst.final_errors()
        for inst in self.instruments.values():
            inst.close(poll=False)
        self.instruments.clear()
        if self.bench is not None:
            self.bench.stop()
            self.bench = None

    def __enter__(self) -> Station:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
