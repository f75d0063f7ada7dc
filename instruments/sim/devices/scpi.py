"""A small SCPI command layer, separate from any physics.

Instruments declare their command tree with patterns in the manuals' notation:
``[:SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]`` — upper case is the short form, brackets are
optional nodes, and a node may carry a numeric suffix (``CALCulate3``). The parser handles
case-insensitive short and long forms, an optional leading colon, compound ``;`` messages with the
relative-path rule of IEEE 488.2, queries, IEEE 488.2 common commands, a ``SYST:ERR?`` queue with
standard codes, and definite-length binary blocks.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

# Standard SCPI error codes used by the virtual instruments.
COMMAND_ERROR = (-100, "Command error")
DATA_TYPE_ERROR = (-104, "Data type error")
MISSING_PARAMETER = (-109, "Missing parameter")
UNDEFINED_HEADER = (-113, "Undefined header")
EXECUTION_ERROR = (-200, "Execution error")
SETTINGS_CONFLICT = (-221, "Settings conflict")
DATA_OUT_OF_RANGE = (-222, "Data out of range")
ILLEGAL_PARAMETER = (-224, "Illegal parameter value")
QUEUE_OVERFLOW = (-350, "Queue overflow")
QUERY_INTERRUPTED = (-410, "Query INTERRUPTED")
POWER_ON = 1 << 7  # the PON bit of the standard event status register (IEEE 488.2)
ERROR_QUEUE_DEPTH = 10


class Unterminated(bytes):
    """A reply sent as it is, with no terminator after it (the SR860's CAPTUREGET? block)."""


class ScpiError(Exception):
    """Raised by a handler; becomes an entry in the error queue."""

    def __init__(self, error: tuple[int, str], detail: str = "") -> None:
        super().__init__(f"{error[0]},{error[1]}{'; ' + detail if detail else ''}")
        self.code, self.message = error
        self.detail = detail


@dataclass(frozen=True)
class _Node:
    short: str
    long: str
    optional: bool
    suffix: str = ""  # a numbered node's number ("3" in CALCulate3; "#": any); none means 1

    def matches(self, token: str) -> str | None:
        """Return the numeric suffix ('' if none) if the token names this node, else None.
        A number left out is 1, as SCPI has it: CALC names CALCulate1, never CALCulate3."""
        if self.long.startswith("*"):
            return "" if token.upper() == self.long else None
        m = re.fullmatch(r"([A-Za-z_]+)(\d*)", token)
        if not m:
            return None
        word = m.group(1).upper()
        if word in (self.short, self.long) and (
                self.suffix == "#" or (m.group(2) or "1") == (self.suffix or "1")):
            return m.group(2)
        return None


def _parse_pattern(pattern: str) -> tuple[_Node, ...]:
    if pattern.startswith("*"):
        return (_Node(pattern.upper(), pattern.upper(), False),)
    nodes = []
    for optional, name, suffix in re.findall(r"(\[?):?([A-Za-z]+)(#|\d*)(?:\[\d+\])?\]?",
                                             pattern):
        short = "".join(ch for ch in name if ch.isupper())
        nodes.append(_Node(short=short or name.upper(), long=name.upper(),
                           optional=bool(optional), suffix=suffix))
    return tuple(nodes)


Handler = Callable[["Call"], "str | bytes | None"]


@dataclass
class Call:
    """One parsed command as a handler sees it."""

    header: str
    query: bool
    args: list[str]
    suffixes: list[str]

    def arg(self, i: int = 0) -> str:
        if i >= len(self.args):
            raise ScpiError(MISSING_PARAMETER, self.header)
        return self.args[i]

    def number(self, i: int = 0, *, minimum: float | None = None, maximum: float | None = None,
               default: float | None = None) -> float:
        text = self.arg(i).strip().upper()
        named = {"MIN": minimum, "MINIMUM": minimum, "MAX": maximum, "MAXIMUM": maximum,
                 "DEF": default, "DEFAULT": default}
        if text in named and named[text] is not None:
            return float(named[text])
        try:
            value = float(text)
        except ValueError:
            raise ScpiError(DATA_TYPE_ERROR, f"{self.header} {text}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ScpiError(DATA_OUT_OF_RANGE, f"{self.header} {text}")
        return value

    def boolean(self, i: int = 0) -> bool:
        text = self.arg(i).strip().upper()
        if text in ("1", "ON"):
            return True
        if text in ("0", "OFF"):
            return False
        raise ScpiError(ILLEGAL_PARAMETER, f"{self.header} {text}")

    def choice(self, options: dict[str, str], i: int = 0) -> str:
        """Match an enumerated parameter given as {SHORTform: canonical} (quotes stripped)."""
        text = self.arg(i).strip().strip("'\"").upper()
        for key, canonical in options.items():
            if text in (key.upper(), short_form(key)):
                return canonical
        raise ScpiError(ILLEGAL_PARAMETER, f"{self.header} {text}")


def short_form(mnemonic: str) -> str:
    """A SCPI mnemonic's short form, as an instrument answers it: "DOWn" → "DOW"."""
    return "".join(ch for ch in mnemonic if ch.isupper() or ch.isdigit())


def one_of(*mnemonics: str) -> Callable[[Call], str]:
    """A setting's parser for an enumerated parameter, answered in its short form."""
    return lambda call: call.choice({m: short_form(m) for m in mnemonics})


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, buf, quote = [], [], ""
    for ch in text:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            buf.append(ch)
        elif ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def binary_block(payload: bytes) -> bytes:
    """IEEE 488.2 definite-length arbitrary block: #<digits><length><payload>."""
    length = str(len(payload))
    return f"#{len(length)}{length}".encode() + payload


@dataclass
class CommandTree:
    """The commands an instrument understands, and the IEEE 488.2 status it keeps."""

    _commands: list[tuple[tuple[_Node, ...], Handler, Handler | None]] = field(default_factory=list)
    errors: deque = field(default_factory=lambda: deque(maxlen=ERROR_QUEUE_DEPTH))
    esr: int = 0

    def add(self, pattern: str, *, write: Handler | None = None, query: Handler | None = None
            ) -> None:
        """Declare a command. A later declaration takes precedence over an earlier one that
        matches the same header: a subclass's dialect refines its base's."""
        self._commands.insert(0, (_parse_pattern(pattern), write, query))

    def setting(self, pattern: str, store: dict, key: str, parse: Callable[[Call], object],
                fmt: Callable[[object], str] = str,
                on_change: Callable[[], None] | None = None) -> None:
        """A settable, queryable value held in ``store[key]``: most of any instrument's manual."""

        def write(call: Call) -> None:
            store[key] = parse(call)
            if on_change:
                on_change()

        self.add(pattern, write=write, query=lambda call: fmt(store[key]))

    def push_error(self, error: tuple[int, str], detail: str = "") -> None:
        if len(self.errors) == ERROR_QUEUE_DEPTH - 1:
            self.errors.append(QUEUE_OVERFLOW)
            return
        if len(self.errors) < ERROR_QUEUE_DEPTH:
            self.errors.append((error[0], error[1] + (f"; {detail}" if detail else "")))
        # Error classes set their ESR bits: query −4xx, device −3xx, execution −2xx, command −1xx.
        bit = {1: 5, 2: 4, 3: 3, 4: 2}.get(abs(error[0]) // 100, 3)
        self.esr |= 1 << bit

    @staticmethod
    def is_query(message: str) -> bool:
        """Whether the instrument answers ``message``."""
        return "?" in message

    def pop_error(self) -> str:
        code, message = self.errors.popleft() if self.errors else (0, "No error")
        return f'{code},"{message}"'

    def _find(self, tokens: list[str]) -> tuple[tuple[_Node, ...], Handler | None, Handler | None,
                                                list[str]] | None:
        for nodes, write, query in self._commands:
            suffixes = _match(nodes, tokens)
            if suffixes is not None:
                return nodes, write, query, suffixes
        return None

    def execute(self, message: str) -> bytes | None:
        """Run one SCPI program message; return the response (None if it held no query)."""
        responses: list[bytes] = []
        path: list[str] = []
        for raw in _split_outside_quotes(message.strip(), ";"):
            unit = raw.strip()
            if not unit:
                continue
            header, _, rest = unit.partition(" ")
            is_query = header.endswith("?")
            header = header.rstrip("?")
            if header.startswith("*"):
                tokens = [header.upper()]
            elif header.startswith(":"):
                tokens = [t for t in header[1:].split(":") if t]
            else:
                tokens = path + [t for t in header.split(":") if t]
            if self._dispatch(tokens, header, is_query, rest, unit, responses) and not (
                    header.startswith("*")):
                path = tokens[:-1]
        return b";".join(responses) if responses else None

    def execute_srs(self, message: str, *, space_before_query: bool = False,
                    joiner: bytes = b";") -> bytes | None:
        """Run an SRS-style message: 4+ letter mnemonics, optional '?', arguments with or without
        a space (``FREQ1e3``, ``OUTP?1``, ``AUXV 0, 1.5``), units separated by ';'.

        ``space_before_query``: the SR830 also takes ``SRAT ?`` (its manual writes queries so);
        the SR860's manual forbids the space. ``joiner``: what goes between the answers to two
        queries on one line (the SR830 terminates each answer; the SR860 joins them with ';')."""
        responses: list[bytes] = []
        gap = r"\s*" if space_before_query else ""
        for raw in message.split(";"):
            unit = raw.strip()
            if not unit:
                continue
            m = re.fullmatch(rf"(\*?[A-Za-z]+){gap}(\??)\s*(.*)", unit, flags=re.S)
            if m is None or "?" in m.group(3):  # a stray '?' (a space the model refuses)
                self.push_error(COMMAND_ERROR, unit)
                continue
            header, query, rest = m.groups()
            self._dispatch([header.upper()], header, bool(query), rest, unit, responses)
        if len(responses) == 1:
            return responses[0]  # as the handler made it (Unterminated stays so)
        return joiner.join(responses) if responses else None

    def _dispatch(self, tokens: list[str], header: str, is_query: bool, rest: str, unit: str,
                  responses: list[bytes]) -> bool:
        """Find and run one command; errors go to the queue. True if the header was known."""
        args = [a.strip() for a in _split_outside_quotes(rest, ",")] if rest.strip() else []
        found = self._find(tokens)
        if found is None:
            self.push_error(UNDEFINED_HEADER, unit)
            return False
        _, write, query, suffixes = found
        handler = query if is_query else write
        if handler is None:
            self.push_error(UNDEFINED_HEADER, unit)
            return True
        try:
            out = handler(Call(header=header, query=is_query, args=args, suffixes=suffixes))
        except ScpiError as exc:
            self.push_error((exc.code, exc.message), exc.detail)
            return True
        if is_query and out is not None:
            responses.append(out if isinstance(out, bytes) else str(out).encode())
        return True


def _match(nodes: tuple[_Node, ...], tokens: list[str]) -> list[str] | None:
    """Match tokens against nodes, skipping optional nodes; return the suffixes or None."""
    if not nodes:
        return [] if not tokens else None
    node, rest = nodes[0], nodes[1:]
    if tokens:
        suffix = node.matches(tokens[0])
        if suffix is not None:
            tail = _match(rest, tokens[1:])
            if tail is not None:
                return [suffix, *tail]
    if node.optional:
        tail = _match(rest, tokens)
        if tail is not None:
            return ["", *tail]
    return None


def add_common_commands(tree: CommandTree, *, idn: Callable[[], str], reset: Callable[[], None],
                        trigger: Callable[[], None] | None = None,
                        status_byte: Callable[[], int] = lambda: 0) -> None:
    """IEEE 488.2 common commands plus SYSTem:ERRor[:NEXT]?."""

    def cls(_: Call) -> None:
        tree.errors.clear()
        tree.esr = 0

    def esr(_: Call) -> str:
        value, tree.esr = tree.esr, 0
        return str(value)

    def rst(_: Call) -> None:
        reset()

    def stb(_: Call) -> str:
        return str(status_byte() | (4 if tree.errors else 0) | (32 if tree.esr else 0))

    tree.add("*IDN", query=lambda c: idn())
    tree.add("*RST", write=rst)
    tree.add("*CLS", write=cls)
    tree.add("*OPC", write=lambda c: None, query=lambda c: "1")
    tree.add("*ESR", query=esr)
    tree.add("*ESE", write=lambda c: None, query=lambda c: "0")
    tree.add("*SRE", write=lambda c: None, query=lambda c: "0")
    tree.add("*STB", query=stb)
    tree.add("*WAI", write=lambda c: None)
    tree.add("*TRG", write=lambda c: trigger() if trigger else None)
    tree.add(":SYSTem:ERRor[:NEXT]", query=lambda c: tree.pop_error())


def add_status_and_errors(tree: CommandTree, store: dict) -> None:
    """SCPI's required SYSTem and STATus commands beyond the common ones: the error queue's
    other views, the OPERation and QUEStionable registers (whose events nothing in a model
    sets), and the self-test (which passes). The enable registers live in ``store``, which
    the instrument's reset clears: an absent one is 0."""
    tree.add(":SYSTem:ERRor:ALL", query=lambda c: ",".join(
        tree.pop_error() for _ in range(max(1, len(tree.errors)))))
    tree.add(":SYSTem:ERRor:COUNt", query=lambda c: str(len(tree.errors)))
    tree.add(":SYSTem:CLEar", write=lambda c: tree.errors.clear())
    tree.add(":STATus:QUEue[:NEXT]", query=lambda c: tree.pop_error())
    for register in ("QUEStionable", "OPERation"):
        key = f"{register[:4].lower()}_enable"
        tree.add(f":STATus:{register}:ENABle", write=lambda c, k=key: store.update(
            {k: int(c.number(minimum=0, maximum=65535))}),
                 query=lambda c, k=key: str(store.get(k, 0)))
        tree.add(f":STATus:{register}[:EVENt]", query=lambda c: "0")
        tree.add(f":STATus:{register}:CONDition", query=lambda c: "0")
    tree.add(":STATus:PRESet", write=lambda c: store.update(oper_enable=0, ques_enable=0))
    tree.add("*TST", query=lambda c: "0")
