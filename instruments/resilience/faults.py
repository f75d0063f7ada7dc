"""What can go wrong with an instrument, named: the fault kinds, the event each fault becomes,
and the exceptions the resilience layer raises."""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

from pyvisa import constants
from pyvisa.errors import InvalidSession, VisaIOError

# Refusals by a validator or by a safety check: retrying cannot help, so they are raised at once.
# (pymeasure's validators say "Value of X is not in range [..]" / "... is not in the discrete set".)
_USAGE_MESSAGES = ("is not in range", "is not in the discrete set", "must be", "cannot lock")
_PARSE_FAILURES = ("invalid literal for", "could not convert string to float")

EMPTY_QUEUE = ("no error", "queue is empty")  # SCPI's words, and TSP's


def is_no_error(message: object) -> bool:
    """'No error' (or TSP's 'Queue Is Empty'), quoted or not, and nothing else: a reply cut
    short ('"No error') or with a byte flipped at its end ('"No error#') is a garbled reply,
    not an empty queue."""
    text = str(message).strip()
    quoted = len(text) >= 2 and text[0] == text[-1] == '"'
    inner = text[1:-1] if quoted else text
    return '"' not in inner and inner.lower() in EMPTY_QUEUE


class InstrumentFault(RuntimeError):
    """An instrument that could not be recovered. The message says which and what was tried."""


class WrongIdentity(ValueError):
    """The instrument at the resource did not answer as expected. Retried like a garbled reply
    (a garbled *IDN? looks the same), and fatal once every attempt agrees."""


@dataclass(frozen=True)
class FaultEvent:
    instrument: str
    kind: str       # timeout | link-lost | garbled | refused | device-error | reconnected |
    #                 reboot-detected | output-restored | reconfigured | recovered | gave-up |
    #                 wrong-identity
    detail: str
    attempt: int = 0
    time: float = field(default_factory=time.time)
    # On "output-restored" after a reboot found an output off that should be on: since when
    # it may have been off (wall time), and for how long in all: up to the middle of the ramp
    # that put it back (a linear ramp passes half its time's charge).
    output_lost_since: float | None = None
    output_off_s: float | None = None
    # On "output-restored" after a ramp up whose end failed found the output on where the
    # journal had it off: the seconds' worth of that ramp's level it had until put off again.
    output_on_s: float | None = None


def classify(exc: BaseException) -> str | None:
    """The fault kind of an exception, or None if it is a usage error not to be retried."""
    if isinstance(exc, VisaIOError):
        return "timeout" if exc.error_code == constants.StatusCode.error_timeout else "link-lost"
    if isinstance(exc, InvalidSession):  # a session closed under it, or lost while opening
        return "link-lost"
    if isinstance(exc, (ConnectionError, EOFError, BrokenPipeError)):
        return "link-lost"
    if isinstance(exc, OSError):
        return "link-lost"
    if exc.__class__.__name__ in ("SerialException", "SerialTimeoutException"):
        return "link-lost"
    if exc.__class__.__name__ == "SerialCommandError":
        return "refused"
    if isinstance(exc, WrongIdentity):
        return "wrong-identity"
    if isinstance(exc, UnicodeDecodeError):  # its message says "not in range": never usage
        return "garbled"
    if isinstance(exc, KeyError) and "mapped values" in str(exc):
        return "garbled"  # a getter's reply that is none of the values the driver knows
    if isinstance(exc, (ValueError, IndexError, struct.error, UnicodeDecodeError)):
        text = str(exc)
        # A reply that would not parse is garbled whatever it says (it may even spell out a
        # usage message); only the driver's own refusals of a value are usage errors.
        if text.startswith(_PARSE_FAILURES):
            return "garbled"
        if any(m in text for m in _USAGE_MESSAGES):
            return None
        return "garbled"
    return None


