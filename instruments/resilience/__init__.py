"""Resilience in one place: every instrument call passes through ``Resilient``.

It applies a timeout (the driver's), bounded retries with exponential back-off, reconnection (close
and reopen the resource), and re-application of the instrument's configuration after a reconnect:
the calls that configure an instrument are kept in a journal and replayed in order, so a rebooted
source-meter gets its compliance back and ramps back to its stress current (from zero: ramped, not
stepped). The error queue is checked after every configuration call. Each fault, reconnect, detected
reboot and recovery is a ``FaultEvent`` handed to the listener; a fault that cannot be recovered
raises one ``InstrumentFault`` naming the instrument and what was tried.

The error queue is also read every ``ERROR_POLL_S`` and when the instrument is closed, so an error
an instrument logs on a reading (which nothing else would look at) still becomes an event.
"""

from __future__ import annotations

import contextlib
import inspect
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyvisa import constants
from pyvisa.errors import VisaIOError

from agelab.instruments.resilience.power_cuts import PowerCutClues

# Calls that configure an instrument, and the journal slot each occupies (a later call in the same
# slot replaces the earlier: output_off after ramp_current leaves "output off" in the journal).
CONFIG_SLOTS: dict[str, Callable[[tuple], str]] = {
    "configure_current_source": lambda args: "source",
    "configure_voltage_source": lambda args: "source",
    "ramp_current": lambda args: "output",
    "ramp_voltage": lambda args: "output",
    "output_off": lambda args: "output",
    "configure": lambda args: "configure",
    "set_power": lambda args: "power",
    "enable": lambda args: "enable",
    "aim": lambda args: "aim",
    "route": lambda args: f"route {args[0] if args else ''}",
}
# Refusals by a validator or by a safety check: retrying cannot help, so they are raised at once.
# (pymeasure's validators say "Value of X is not in range [..]" / "... is not in the discrete set".)
_USAGE_MESSAGES = ("is not in range", "is not in the discrete set", "must be", "cannot lock")
# An instrument that does not answer at all may be rebooting (a 2400 takes ~10 s) or behind a USB
# hub that reset: those faults are retried for at least this long before the call gives up.
PATIENCE_S = 20.0
_ABSENT = ("timeout", "link-lost")
ERROR_POLL_S = 5.0  # wall seconds between reads of an instrument's error queue
_RAMPS = {"ramp_current": "current", "ramp_voltage": "voltage"}  # ramp calls: their mode
PARTIAL = 0.995  # an output found on below this share of its level was left part-way on a ramp


def _is_no_error(message: object) -> bool:
    """'No error', quoted or not, and nothing else: a reply cut short ('"No error') or with a
    byte flipped at its end ('"No error#') passed as empty queues (the soak's one unmatched
    garble, whose earlier error entry then took the event a later one needed)."""
    text = str(message).strip()
    quoted = len(text) >= 2 and text[0] == text[-1] == '"'
    inner = text[1:-1] if quoted else text
    return '"' not in inner and inner.lower() == "no error"


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
        if any(m in str(exc) for m in _USAGE_MESSAGES):
            return None
        return "garbled"
    return None


class Resilient:
    """A driver behind retries, reconnection and re-configuration. Use it like the driver."""

    def __init__(self, name: str, opener: Callable[[], object],
                 listener: Callable[[FaultEvent], None] | None = None, retries: int = 3,
                 backoff_s: float = 0.05, expect_identity: str | None = None,
                 patience_s: float = PATIENCE_S) -> None:
        self._name = name
        self._opener = opener
        self._listener = listener
        self._retries = retries
        self._backoff = backoff_s
        self._patience = patience_s
        self._expect = expect_identity
        self._lock = threading.RLock()
        self._driver: object | None = None
        self._identity = ""
        self._journal: dict[str, tuple[str, tuple, dict]] = {}
        # Wall time since which the output is known to be as the journal has it: the present
        # call's start, or the end of the last restore in it. A reboot found is off since then.
        self._output_known_since = time.time()
        # What the bus said since then about a power cut: the failed attempts, the power-on bit.
        self._clues = PowerCutClues(self._output_known_since)
        # An outage found by a restore and not yet closed: (off since, the clues that date its
        # power cut, None where none does, the share of the stress missing: 1 when off, less
        # when left part-way down a ramp); and when the last replay of the output slot began.
        self._outage: tuple[float, PowerCutClues | None, float] | None = None
        # Stress the journal did not expect, found by a restore in a ramp up: (on since, the
        # share of the ramp's level found), closed by the replay that ramps it off again.
        self._surplus: tuple[float, float] | None = None
        self._call: tuple[str, tuple] = ("", ())  # the call under way (what, args)
        self._replay_began: float | None = None
        # When the last call's successful attempt began (monotonic): a reading retried for
        # seconds was taken then, not when the call began.
        self.last_attempt_started = time.monotonic()
        self._polled = time.monotonic()    # when the error queue was last read

    # ---------------------------------------------------------------- public
    @property
    def name(self) -> str:
        return self._name

    @property
    def driver(self) -> object:
        with self._lock:
            if self._driver is None:  # connecting gets the same retries as any call
                self._run("connect", lambda driver: driver, (), {})
            return self._driver

    def identity(self) -> str:
        self.driver  # noqa: B018 - connects if needed
        return self._identity

    @property
    def connected(self) -> bool:
        """Whether a connection is open now (no I/O)."""
        return self._driver is not None

    @property
    def cached_identity(self) -> str:
        """The identity read at the last connection, '' before one (no I/O)."""
        return self._identity

    def call(self, method: str, *args, **kwargs):
        """Call ``driver.method(*args, **kwargs)`` with the full resilience treatment."""
        return self._run(method, lambda d: getattr(d, method)(*args, **kwargs), args, kwargs)

    def get(self, attribute: str):
        """Read a driver property (which is I/O) with the same treatment."""
        return self._run(attribute, lambda d: getattr(d, attribute), (), {})

    def __getattr__(self, attribute: str):
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        static = inspect.getattr_static(type(self.driver), attribute, None)
        if inspect.isfunction(static):
            return lambda *a, **k: self.call(attribute, *a, **k)
        return self.get(attribute)

    def poll_errors(self, reconnect: bool = True) -> None:
        """Read the error queue now (each entry an event). A fault doing so is an event too,
        and the instrument is reconnected and put back at once (a reboot the poll met would
        otherwise leave a pixel dark until the next call, and a sample taken meanwhile would
        read no light): a poll never raises."""
        with self._lock:
            if self._driver is None:
                return
            self._polled = time.monotonic()
            began = time.time()
            try:
                self._drain_errors(0)
            except Exception as exc:
                kind = classify(exc) or "garbled"
                self._emit(kind, f"error queue: {exc}")
                self._drop()
                if reconnect:
                    with contextlib.suppress(InstrumentFault):
                        self._run("reconnect", lambda driver: driver, (), {}, known_since=began,
                                  failure=(began, time.time(), kind))

    def close(self) -> None:
        with self._lock:
            if self._driver is None and self._identity:
                self._final_poll()
            self.poll_errors(reconnect=False)  # the last errors it holds go into the record
            # Once more: an error raised while that read was answered lands in the queue after
            # its "No error" (the soak's one unmatched fault in 9,248, on a meter's last read).
            self.poll_errors(reconnect=False)
            self._drop()

    def _final_poll(self) -> None:
        """Closing an instrument whose link was lost: reconnect once, without putting its
        configuration back (that could switch an output on), to read its error queue."""
        try:
            self._driver = self._opener()
        except Exception as exc:
            self._emit(classify(exc) or "link-lost", f"final error-queue read: {exc}")
    # ---------------------------------------------------------------- machinery
    def _emit(self, kind: str, detail: str, attempt: int = 0) -> None:
        if self._listener is not None:
            self._listener(FaultEvent(self._name, kind, detail, attempt))

    def _run(self, what: str, action: Callable[[object], object], args: tuple, kwargs: dict,
             known_since: float | None = None, failure: tuple[float, float, str] | None = None):
        with self._lock:
            tried: list[str] = []
            started = time.time()
            self._call = (what, args)
            self._seen_as_expected(started if known_since is None else known_since)
            if failure is not None:  # the error poll's read that failed, before this call
                self._clues.failed(*failure)
            attempt = 0
            while True:
                attempt_began = time.time()
                try:
                    if self._driver is None:
                        self._connect(attempt)
                    began = time.monotonic()
                    result = action(self._driver)
                    self.last_attempt_started = began
                    if what in CONFIG_SLOTS:
                        slot = CONFIG_SLOTS[what](args)
                        self._journal.pop(slot, None)
                        self._journal[slot] = (what, args, kwargs)
                        # A refused setting is reported at once; a ramp's level writes wait for
                        # the next poll (ERROR_POLL_S): a query per ramp is an interruption's
                        # longest overhead after its dwell.
                        if slot != "output":
                            self._drain_errors(attempt)
                            self._polled = time.monotonic()
                    # A fault the driver got past by itself (a garbled transfer fetched again)
                    # is still a fault: on record, like every other.
                    corrected = getattr(self._driver, "corrected", None)
                    while corrected:
                        self._emit("garbled", f"{what}: {corrected.pop(0)}", attempt)
                    if tried:
                        self._emit("recovered", f"{what} after {', '.join(tried)}", attempt)
                    # Not while a meter waits for triggers: a 2400 runs no command then, so the
                    # poll timed out, and its reconnect ended the acquisition (a J–V's light lost).
                    if (time.monotonic() - self._polled >= ERROR_POLL_S
                            and not getattr(self._driver, "armed", False)):
                        self.poll_errors()
                    return result
                except InstrumentFault:
                    raise
                except Exception as exc:
                    kind = classify(exc)
                    if kind is None:
                        raise
                    tried.append(kind)
                    self._clues.failed(attempt_began, time.time(), kind)
                    self._emit(kind, f"{what}: {exc}", attempt)
                    self._drop()
                    last = exc
                    waited = time.time() - started
                    # Patience once the instrument went silent in this call, even if a garbled
                    # reply came after (a flaky link mixes both).
                    silent = any(k in _ABSENT for k in tried)
                    if attempt >= self._retries and (not silent or waited >= self._patience):
                        break
                    time.sleep(min(self._backoff * 2 ** attempt, 2.0))
                    attempt += 1
            self._emit("gave-up", f"{what} after {len(tried)} attempts", attempt)
            raise InstrumentFault(
                f"{self._name}: {what} failed after {len(tried)} attempts "
                f"({', '.join(tried)}; reconnected each time); last error: {last}") from last

    def _connect(self, attempt: int) -> None:
        driver = self._opener()
        identity = str(driver.identity()).strip()
        if self._expect and self._expect not in identity:
            with contextlib.suppress(Exception):
                driver.adapter.close()
            raise WrongIdentity(f"expected a {self._expect}, found {identity!r}")
        if self._identity and identity != self._identity:
            self._emit("wrong-identity", f"was {self._identity!r}, now {identity!r}", attempt)
        reconnecting = bool(self._identity)
        self._read_power_on(driver, reconnecting)
        self._driver, self._identity = driver, identity
        if reconnecting:
            self._emit("reconnected", identity, attempt)
            self._restore(attempt)

    def _read_power_on(self, driver: object, reconnecting: bool) -> None:
        """Read (and so clear) the power-on bit, where the driver reads it: on a reconnect, a
        clue to when a power cut struck (see power_cuts); on the first connect, only cleared."""
        read = getattr(type(driver), "powered_on_since_asked", None)
        if read is None:
            return
        try:
            powered_on = bool(read(driver))
        except Exception:
            self._clues.power_on_read(time.time(), None)
            with contextlib.suppress(Exception):
                driver.adapter.close()
            raise
        if reconnecting:
            self._clues.power_on_read(time.time(), powered_on)
        else:
            self._clues.cleared(time.time())

    def _seen_as_expected(self, at: float) -> None:
        """The output was as the journal has it at ``at``: an outage met later starts after."""
        self._output_known_since = at
        self._clues.seen(at)

    def _restore(self, attempt: int) -> None:
        """After a reconnect: detect a reboot, then put the journal back, in order."""
        if not self._journal:
            return
        checked = time.time()
        symptoms, output_lost, level, surplus = self._reboot_symptoms()
        short = level is not None and level < PARTIAL  # on, but below its level
        if surplus > 0.0:
            # A ramp up that went through, its closing *OPC? lost: the pixel sat at the
            # ramp's level through the timeout and the reconnect while the journal had the
            # output off, and the replay ramps it off before the retry ramps it up from 0.
            # Uncounted, one such checkpoint restore left 0.46 device-h of stress off a
            # soak channel's clock, and its T95 came out 4 % early.
            self._surplus = (self._output_known_since, surplus)
        if output_lost:
            # The reboot was met in the call under way, after the output was last known as it
            # should be: the call's start, or its last restore (on hardware it may have gone
            # off up to one call earlier). Found off before, by a restore that failed, more
            # than one power cycle may lie in the outage, and the instrument's clock dates
            # only the last.
            pending = self._outage
            if pending is None:
                self._outage = (self._output_known_since, self._clues.snapshot(), 1.0)
            else:  # the instrument's clock now dates a later power cycle than the first
                clues = pending[1]
                if clues is not None:
                    clues.clock_dates_it = False
                self._outage = (pending[0], clues, 1.0)
            self._replay_began = None  # no replay of this outage has begun
        elif self._outage is not None:
            # Found off by a restore whose replay then failed, and on now: that replay put it
            # back (its ramp ran, its *OPC? did not answer). Left open, the outage went
            # uncounted: 0.6 device-h of stress on the clock that the pixel never had.
            self._close_outage(self._replay_began or time.time(), attempt)
            if short:  # that replay's ramp was cut short: below its level since it began
                self._outage = (self._output_known_since, None, 1.0 - level)
                self._replay_began = None
        elif short:
            # Left part-way along a ramp by a failed attempt (a ramp down for a checkpoint cut
            # by a dropped link sat there through the timeout and the reconnect, and the clock
            # counted it as full stress: 0.8 device-h in one soak checkpoint): that share of
            # the stress is missing from when it was last as it should be.
            self._outage = (self._output_known_since, None, 1.0 - level)
            self._replay_began = None
        else:  # seen as it should be: an outage met later in this call starts after this
            self._seen_as_expected(checked)
        if symptoms:
            self._emit("reboot-detected", "; ".join(symptoms), attempt)
        for slot, (method, args, kwargs) in list(self._journal.items()):
            began, began_mono = time.time(), time.monotonic()
            if slot == "output":
                self._replay_began = began
            getattr(self._driver, method)(*args, **kwargs)
            if slot == "output":
                back_at = self._ramp_time(began, began_mono)
                self._close_surplus(back_at, attempt)
                self._close_outage(back_at, attempt)
        self._emit("reconfigured", ", ".join(m for m, _, _ in self._journal.values()), attempt)
        self._drain_errors(attempt)

    def _ramp_time(self, began: float, began_mono: float) -> float:
        """The wall time a replayed ramp begun at ``began`` counts from: when one step would
        have passed its charge, as the driver timed its levels; else the replay's middle."""
        now, now_mono = time.time(), time.monotonic()
        at = getattr(self._driver, "ramp_at", None)
        if isinstance(at, float) and began_mono <= at <= now_mono:
            return now - (now_mono - at)
        return (began + now) / 2

    def _close_outage(self, back_at: float, attempt: int) -> None:
        """The output is as the journal has it again, from ``back_at`` (the middle of the ramp
        that put it back: a linear ramp passes half its time's charge). An outage ends here,
        at once on record."""
        self._seen_as_expected(back_at)
        outage, self._outage = self._outage, None
        if outage is None:
            return
        since, clues, missing = outage
        if clues is not None:
            since = self._off_since_estimate(since, back_at, clues)
        lost_s = missing * max(back_at - since, 0.0)
        text = (f"off for about {back_at - since:.3f} s" if missing >= 1.0 else
                f"at {1 - missing:.0%} of its level for about {back_at - since:.3f} s")
        if self._listener is not None:
            self._listener(FaultEvent(self._name, "output-restored", text, attempt,
                                      output_lost_since=since, output_off_s=lost_s))

    def _close_surplus(self, off_at: float, attempt: int) -> None:
        """The output found on against the journal is off again from ``off_at`` (the middle
        of the replay's ramp down): the stress it gave meanwhile, at once on record."""
        surplus, self._surplus = self._surplus, None
        if surplus is None or self._listener is None:
            return
        since, share = surplus
        on_s = max(off_at - since, 0.0)
        self._listener(FaultEvent(
            self._name, "output-restored",
            f"off again after about {on_s:.3f} s on at {share:.0%} of the ramp's level, "
            f"expected off", attempt, output_on_s=share * on_s))

    def _off_since_estimate(self, lost_since: float, back_at: float,
                            clues: PowerCutClues) -> float:
        """When the output went off: no earlier than ``lost_since`` (the call's start, or when
        the output was last seen as it should be), placed by the clues the bus gave (see
        power_cuts) and by the last power-on the instrument's own clock dates, if it keeps one.
        From the call's start always, a reboot met after a first attempt that only timed out
        took that attempt's 0.3-0.5 s (0.5-0.9 device-h at 6000x) off the stress clock too;
        from the last power-on always, two power cycles in one outage put the first one's off
        time on the clock (0.84 device-h on one soak channel)."""
        powered_at = None
        uptime = getattr(type(self._driver), "uptime_s", None)
        if uptime is not None and clues.clock_dates_it:
            try:
                asked = time.time()
                seconds = uptime(self._driver)
                powered_at = (asked + time.time()) / 2 - seconds
            except Exception:  # the reading failed: the call's next attempt will meet it
                powered_at = None
        return min(max(lost_since, clues.off_since(powered_at, back_at)), back_at)

    def _reboot_symptoms(self) -> tuple[list[str], bool, float | None, float]:
        """What betrays a reboot; whether an output that should be on was found off; for one
        found on, its level as a share of the journal's (None where it is not read); and, for
        one found on that should be off while a ramp up is under way, its level as a share of
        that ramp's (0 otherwise)."""
        driver, found, output_lost, level, surplus = self._driver, [], False, None, 0.0
        checked = time.time()
        output = self._journal.get("output")
        if output and hasattr(type(driver), "output_enabled"):
            expected_on = output[0] in _RAMPS and output[1][0] != 0
            state = getattr(type(driver), "source_state", None)
            if state is not None:
                on, mode, present = state(driver)  # one query: on, and at what level
                if on and expected_on:
                    level = min(max(present / output[1][0], 0.0), 1.0)
                what, args = self._call
                if on and not expected_on and _RAMPS.get(what) == mode and args and args[0]:
                    surplus = min(max(present / args[0], 0.0), 1.0)
            else:
                on = bool(driver.output_enabled)
            if on != expected_on:
                output_lost = expected_on
                found.append(f"output {'off' if expected_on else 'on'}, expected "
                             f"{'on' if expected_on else 'off'}")
            elif expected_on and self._outage is None and (level is None or level >= PARTIAL):
                # Seen as it should be, before the checks that follow: if one of them meets a
                # power cycle, the outage starts here, not at the call's start (a compliance
                # query that rebooted a 2400 after its output read on put the first attempt's
                # lost reply, 0.4 device-h at 6000x, off the clock twice in one soak channel).
                self._seen_as_expected(checked)
        source = self._journal.get("source")
        if (source and source[0] == "configure_current_source"
                and hasattr(type(driver), "compliance_voltage")):
            compliance = source[2].get("compliance_v", source[1][0] if source[1] else None)
            if compliance is not None:
                # One query, its reply checked: asked again for the message, a garbled second
                # reply (the soak's "2.100000&+") went on record as a symptom, not as a fault.
                reply = driver.compliance_voltage
                try:
                    value = float(reply)
                except (TypeError, ValueError):
                    raise ValueError(f"compliance reply {reply!r} is no number") from None
                if abs(value - compliance) > 1e-6:
                    found.append(f"compliance {value} V, expected {compliance} V")
        return found, output_lost, level, surplus

    def _drain_errors(self, attempt: int) -> None:
        """Read the error queue (SCPI instruments) and report every entry."""
        driver = self._driver
        if not hasattr(type(driver), "next_error"):
            return
        for _ in range(10):
            try:
                code, message = driver.next_error
            except (NotImplementedError, TypeError):
                return  # the driver has no error queue to read
            except ValueError as exc:  # the reply itself was garbled
                self._emit("garbled", f"error queue: {exc}", attempt)
                return
            if int(code) == 0:
                if not _is_no_error(message):  # "0,..." with anything but that
                    self._emit("garbled", f"error queue: {code},{message!r}", attempt)
                return
            if str(message).count('"') % 2:  # a quote cut off: the reply itself was garbled
                self._emit("garbled", f"error queue: {code},{message!r}", attempt)
            self._emit("device-error", f"{code},{message}", attempt)

    def _drop(self) -> None:
        if self._driver is not None:
            adapter = getattr(self._driver, "adapter", None)
            with contextlib.suppress(Exception):
                adapter.close()
        self._driver = None
