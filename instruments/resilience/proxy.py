"""``Resilient``: every instrument call through bounded retries, reconnection and replay.

It applies a timeout (the driver's), bounded retries with exponential back-off, reconnection (close
and reopen the resource), and re-application of the instrument's configuration after a reconnect:
the calls that configure an instrument are kept in a journal and replayed in order, so a rebooted
source-meter gets its compliance back and ramps back to its stress current (from zero: ramped, not
stepped). The error queue is checked after every configuration call, every ``ERROR_POLL_S`` and
when the instrument is closed. Each fault, reconnect, detected reboot and recovery is a
``FaultEvent`` handed to the listener; a fault that cannot be recovered raises one
``InstrumentFault`` naming the instrument and what was tried. A driver that declares an output
also gets its output's account kept (``outages``).
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
from collections.abc import Callable

from agelab.instruments.resilience.faults import (
    FaultEvent,
    InstrumentFault,
    WrongIdentity,
    classify,
    is_no_error,
)
from agelab.instruments.resilience.outages import OutputAccount
from agelab.instruments.roles import Capability, capabilities

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
    "hold": lambda args: "hold",
    "route": lambda args: f"route {args[0] if args else ''}",
}
# An instrument that does not answer at all may be rebooting (a 2400 takes ~10 s) or behind a USB
# hub that reset: those faults are retried for at least this long before the call gives up.
PATIENCE_S = 20.0
_ABSENT = ("timeout", "link-lost")
ERROR_POLL_S = 5.0  # wall seconds between reads of an instrument's error queue


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
        # The output's account, for a driver that declares an output (set at its first
        # connect).
        self._output: OutputAccount | None = None
        self._call_started = time.time()  # wall time the call under way began
        self._call: tuple[str, tuple] = ("", ())  # the call under way (what, args)
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

    def close(self, poll: bool = True) -> None:
        """Read the error queue one last time (unless ``poll`` is false: the station reads
        every instrument's before it releases any, since channels of one instrument share a
        link), then release the connection."""
        with self._lock:
            if poll:
                self.final_errors()
            self._drop()

    def final_errors(self) -> None:
        """The last errors the instrument holds, into the record (reconnecting once, without
        restoring anything, if the link was lost)."""
        with self._lock:
            if self._driver is None and self._identity:
                self._final_poll()
            self.poll_errors(reconnect=False)
            # Once more: an error raised while that read was answered lands in the queue after
            # its "No error".
            self.poll_errors(reconnect=False)

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
            self._call_started = started if known_since is None else known_since
            if self._output is not None:
                self._output.seen_as_expected(self._call_started)
                if failure is not None:  # the error poll's read that failed, before this call
                    self._output.attempt_failed(*failure)
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
                    if self._output is not None:
                        self._output.attempt_failed(attempt_began, time.time(), kind)
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
        try:
            identity = str(driver.identity()).strip()
            if self._expect and self._expect not in identity:
                raise WrongIdentity(f"expected a {self._expect}, found {identity!r}")
            reconnecting = bool(self._identity)
            if self._output is None and Capability.OUTPUT in capabilities(driver):
                self._output = OutputAccount(self._name, self._listener, self._call_started)
            if self._output is not None:
                self._output.read_power_on(driver, reconnecting)
        except Exception:
            # A connection that failed half-way is closed (a link shared by the channels of
            # one instrument too, so the next attempt opens a fresh one).
            with contextlib.suppress(Exception):
                driver.adapter.close()
            raise
        if self._identity and identity != self._identity:
            self._emit("wrong-identity", f"was {self._identity!r}, now {identity!r}", attempt)
        self._driver, self._identity = driver, identity
        if reconnecting:
            self._emit("reconnected", identity, attempt)
            self._restore(attempt)

    def _restore(self, attempt: int) -> None:
        """After a reconnect: detect a reboot (and book the output's state), then put the
        journal back, in order."""
        if not self._journal:
            return
        checked = time.time()
        output = (self._output.inspect(self._driver, self._journal, self._call)
                  if self._output is not None else None)
        symptoms = [*(output.symptoms if output else []), *self._configuration_symptoms()]
        if output is not None:
            self._output.book(output, checked, self._driver, attempt)
        if symptoms:
            self._emit("reboot-detected", "; ".join(symptoms), attempt)
        for slot, (method, args, kwargs) in list(self._journal.items()):
            began, began_mono = time.time(), time.monotonic()
            watched = slot == "output" and self._output is not None
            if watched:
                self._output.replay_began(began)
            result = getattr(self._driver, method)(*args, **kwargs)
            if watched:
                self._output.replayed(result, began, began_mono, self._driver, attempt)
        self._emit("reconfigured", ", ".join(m for m, _, _ in self._journal.values()), attempt)
        self._drain_errors(attempt)

    def _configuration_symptoms(self) -> list[str]:
        """A current source's compliance that reads back other than the journal set it: the
        instrument rebooted (one query, its reply checked)."""
        driver, source = self._driver, self._journal.get("source")
        if not (source and source[0] == "configure_current_source"
                and hasattr(type(driver), "compliance_voltage")):
            return []
        compliance = source[2].get("compliance_v", source[1][0] if source[1] else None)
        if compliance is None:
            return []
        reply = driver.compliance_voltage
        try:
            value = float(reply)
        except (TypeError, ValueError):
            raise ValueError(f"compliance reply {reply!r} is no number") from None
        return [f"compliance {value} V, expected {compliance} V"] if abs(
            value - compliance) > 1e-6 else []

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
                if not is_no_error(message):  # "0,..." with anything but that
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
