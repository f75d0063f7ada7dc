"""Faults the virtual bench can inject, by rate or at set device times, and the log of each one.

Kinds and what a client sees, as with real hardware:
- ``timeout``: a query is lost and never answered (the client times out);
- ``garble``: a reply arrives corrupted (bytes flipped, truncated);
- ``drop``: the connection is closed before the message is handled (a LAN link lost);
- ``reboot``: the instrument resets (settings lost, output off) and drops its connections;
- ``error``: the message runs, and an entry appears in the instrument's error queue;
- ``open`` / ``short``: the pixel behind a source-meter goes open or short circuit.

Every injected fault is appended to ``FaultLog`` so a test can compare it with what the client saw.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from enum import Enum

from agelab.instruments.sim.rig import DeviceClock


class FaultKind(str, Enum):
    TIMEOUT = "timeout"
    GARBLE = "garble"
    DROP = "drop"
    REBOOT = "reboot"
    ERROR = "error"
    OPEN = "open"
    SHORT = "short"


TRANSPORT_KINDS = (FaultKind.TIMEOUT, FaultKind.GARBLE, FaultKind.DROP, FaultKind.REBOOT,
                   FaultKind.ERROR)
PIXEL_KINDS = (FaultKind.OPEN, FaultKind.SHORT)
DEVICE_ERROR = (-300, "Device-specific error")


@dataclass(frozen=True)
class FaultSpec:
    """One rule: a kind, on which instruments (name prefix, '' for all), at a rate or a time."""

    kind: FaultKind
    instrument: str = ""
    rate: float = 0.0                 # probability per transaction
    at_device_h: float | None = None  # or once, at the first transaction after this device time
    message: str = ""                 # only on this message (exactly, case aside; '' for any)

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """``KIND:RATE[:INSTRUMENT]`` or ``KIND@HOURS[:INSTRUMENT[:MESSAGE]]``, e.g.
        ``drop:0.01``, ``reboot@12.5:smu1``, ``timeout@0:smu1:*OPC?`` (that message only)."""
        try:
            if "@" in text:
                kind, rest = text.split("@", 1)
                hours, _, rest = rest.partition(":")
                instrument, _, message = rest.partition(":")
                return cls(FaultKind(kind), instrument, at_device_h=float(hours),
                           message=message)
            kind, rate, *instrument = text.split(":")
            value = float(rate)
            if not 0 <= value <= 1:
                raise ValueError
            return cls(FaultKind(kind), instrument[0] if instrument else "", rate=value)
        except ValueError:
            kinds = ", ".join(k.value for k in FaultKind)
            raise ValueError(f"bad fault {text!r}: use KIND:RATE[:INSTRUMENT] or "
                             f"KIND@HOURS[:INSTRUMENT], KIND one of {kinds}") from None


@dataclass(frozen=True)
class FaultRecord:
    wall_time: float
    device_h: float
    instrument: str
    kind: FaultKind
    message: str


@dataclass
class FaultLog:
    records: list[FaultRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: FaultRecord) -> None:
        with self._lock:
            self.records.append(record)

    def of(self, instrument: str) -> list[FaultRecord]:
        with self._lock:
            return [r for r in self.records if r.instrument == instrument]


class FaultInjector:
    """Decides, per transaction, whether a fault strikes; deterministic for a given seed."""

    def __init__(self, specs: list[FaultSpec], clock: DeviceClock, seed: int = 0) -> None:
        self.specs = list(specs)
        self.clock = clock
        self.log = FaultLog()
        self._rng = random.Random(seed)
        self._fired: set[int] = set()
        self._lock = threading.Lock()
        self.transactions = 0  # messages decided on: the denominator of the fault rate

    def add(self, specs: list[FaultSpec]) -> None:
        with self._lock:
            self.specs.extend(specs)

    def decide(self, instrument: str, message: str, is_query: bool) -> FaultKind | None:
        with self._lock:
            self.transactions += 1
            now = self.clock.hours()
            for i, spec in enumerate(self.specs):
                if not instrument.startswith(spec.instrument):
                    continue
                if spec.message and message.strip().upper() != spec.message.upper():
                    continue
                if spec.kind in (FaultKind.GARBLE, FaultKind.TIMEOUT) and not is_query:
                    continue  # only a query can go unanswered or come back garbled
                if spec.at_device_h is not None:
                    if i in self._fired or now < spec.at_device_h:
                        continue
                    self._fired.add(i)
                elif not (spec.rate and self._rng.random() < spec.rate):
                    continue
                self.log.add(FaultRecord(time.time(), now, instrument, spec.kind, message))
                return spec.kind
        return None

    def garble(self, reply: bytes) -> bytes:
        data = bytearray(reply)
        for _ in range(max(1, len(data) // 8)):
            data[self._rng.randrange(len(data))] = self._rng.choice(b"#$%&?@~\x7f")
        return bytes(data[: max(1, len(data) - self._rng.randrange(0, 4))])
