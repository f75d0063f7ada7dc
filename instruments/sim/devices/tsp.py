"""The part of TSP (Keithley's Lua-based Test Script Processor) a virtual 2600B answers.

A TSP instrument runs each message as a Lua chunk. The bench does not embed Lua: it parses the
statements instruments drivers send (assignments to attributes, function calls, ``print`` and
``printbuffer``), with numbers, strings, tables, dotted names and arithmetic. Anything else is a
syntax error in the instrument's error queue (code -285), as on the real unit, and a call of
something that is not there is a runtime error (-286); nothing ever leaves a query unanswered
without an error. IEEE 488.2 common commands (``*IDN?``, ``*RST``, ``*OPC?``...) are answered
as the 2600B answers them.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

SYNTAX_ERROR = -285
RUNTIME_ERROR = -286
QUEUE_DEPTH = 100
POWER_ON = 1 << 7

_TOKEN = re.compile(r"""
    (?P<space>\s+|--[^\n]*)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<string>"[^"]*"|'[^']*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|~=|<=|>=|\.\.|[-+*/^(){}\[\],=.;<>])
""", re.VERBOSE)


class TspError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def syntax_error(near: str) -> TspError:
    return TspError(SYNTAX_ERROR, f"TSP Syntax error at line 1: unexpected symbol near `{near}'")


def runtime_error(what: str) -> TspError:
    return TspError(RUNTIME_ERROR, f"TSP Runtime error at line 1: {what}")


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise syntax_error(text[pos])
        pos = m.end()
        if m.lastgroup != "space":
            tokens.append((m.lastgroup, m.group()))
    return tokens


class Node:
    """A TSP object: its attributes are the Python attributes named in ``FIELDS`` (read and
    written), ``READ_ONLY`` and ``CALLS`` (methods), and its ``CONSTANTS``. A method named
    ``set_<field>`` takes a write instead (to validate it, or act on it)."""

    FIELDS: ClassVar[tuple[str, ...]] = ()     # read and written
    READ_ONLY: ClassVar[tuple[str, ...]] = ()  # read only
    CALLS: ClassVar[tuple[str, ...]] = ()      # functions
    CONSTANTS: ClassVar[Mapping[str, float]] = {}

    def tsp_get(self, name: str) -> Any:
        if name in self.CONSTANTS:
            return self.CONSTANTS[name]
        if name in self.FIELDS or name in self.READ_ONLY or name in self.CALLS:
            return getattr(self, name)
        raise runtime_error(f"attempt to index field `{name}' (a nil value)")

    def tsp_set(self, name: str, value: Any) -> None:
        if name not in self.FIELDS:
            raise runtime_error(f"attempt to write field `{name}' (not writable)")
        setter = getattr(self, f"set_{name}", None)
        if setter is not None:
            setter(value)
        else:
            setattr(self, name, value)


class ErrorQueue(Node):
    """``errorqueue``: (code, message, severity, node) entries, oldest first."""

    READ_ONLY = ("count",)
    CALLS = ("next", "clear")

    def __init__(self) -> None:
        self.entries: deque[tuple[int, str]] = deque()

    @property
    def count(self) -> int:
        return len(self.entries)

    def push(self, code: int, message: str) -> None:
        if len(self.entries) < QUEUE_DEPTH:
            self.entries.append((code, message))

    def next(self) -> tuple:
        if not self.entries:
            return (0, "Queue Is Empty", 0, 0)
        code, message = self.entries.popleft()
        return (code, message, 2 if code < 0 else 0, 1)

    def clear(self) -> None:
        self.entries.clear()


def format_number(value: float, digits: int = 6) -> str:
    return f"{value:.{max(digits, 1) - 1}e}"


class Interpreter:
    """Runs one message against a namespace of ``Node``s and functions; returns what it
    printed (None if nothing)."""

    def __init__(self, globals_: dict[str, Any], errors: ErrorQueue,
                 printer: Callable[[list[Any]], str | bytes]) -> None:
        self.globals = globals_
        self.errors = errors
        self.printer = printer
        self._tokens: list[tuple[str, str]] = []
        self._pos = 0
        self._out: list[str | bytes] = []

    # ---------------------------------------------------------------- entry
    def run(self, message: str) -> bytes | None:
        self._out = []
        try:
            self._tokens, self._pos = tokenize(message), 0
            while self._pos < len(self._tokens):
                if self._peek() == ";":
                    self._pos += 1
                    continue
                self._statement()
        except TspError as exc:
            self.errors.push(exc.code, str(exc))
        except (ArithmeticError, TypeError, ValueError, IndexError) as exc:
            self.errors.push(RUNTIME_ERROR, f"TSP Runtime error at line 1: {exc}")
        if not self._out:
            return None
        parts = [p if isinstance(p, bytes) else p.encode("latin-1") for p in self._out]
        return b"\n".join(parts)

    # ---------------------------------------------------------------- statements
    def _statement(self) -> None:
        kind, text = self._next()
        if kind != "name":
            raise syntax_error(text)
        if text in ("print", "printbuffer") and self._peek() == "(":
            args = self._arguments()
            self._out.append(self.printer(args) if text == "print"
                             else self.globals["printbuffer"](*args))
            return
        if text == "local":
            kind, text = self._next()
            if kind != "name":
                raise syntax_error(text)
        if self._peek() == ",":  # a, b = f(): several names, the call's values in turn
            names = [text]
            while self._peek() == ",":
                self._pos += 1
                kind, name = self._next()
                if kind != "name":
                    raise syntax_error(name)
                names.append(name)
            self._expect("=")
            values = self._expression()
            values = values if isinstance(values, tuple) else (values,)
            for k, name in enumerate(names):
                self.globals[name] = values[k] if k < len(values) else None
            return
        owner, key, _ = self._suffixes(GLOBAL, text)
        if self._peek() == "=":
            if key is None:  # a call's result is not assignable
                raise syntax_error("=")
            self._pos += 1
            self._assign(owner, key, _first(self._expression()))
        elif key is not None:  # a bare name or field is no statement in Lua
            raise syntax_error(self._peek() or "<eof>")

    def _suffixes(self, owner: Any, key: str) -> tuple[Any, str | None, Any]:
        """Follow ``.name``, ``[expr]`` and ``(args)`` after a name: (the object and key last
        named, the key None after a call, and the last call's result). ``GLOBAL`` owns a
        global name."""
        result: Any = None
        while self._peek() in (".", "[", "("):
            target = _first(result) if key is None else self._resolve(owner, key)
            if self._peek() == "(":
                result = self._call(target, key)
                owner, key = None, None
            else:
                owner, key = target, self._member()
        return owner, key, result

    def _assign(self, owner: Any, key: str, value: Any) -> None:
        if owner is GLOBAL:
            self.globals[key] = value
        elif isinstance(owner, Node):
            owner.tsp_set(key, value)
        else:
            raise runtime_error(f"attempt to index a {_lua_type(owner)} value")

    # ---------------------------------------------------------------- expressions
    def _expression(self) -> Any:
        value = self._term()
        while self._peek() in ("+", "-"):
            op = self._next()[1]
            value, right = _first(value), _first(self._term())
            value = value + right if op == "+" else value - right
        return value

    def _term(self) -> Any:
        value = self._unary()
        while self._peek() in ("*", "/"):
            op = self._next()[1]
            value, right = _first(value), _first(self._unary())
            value = value * right if op == "*" else value / right
        return value

    def _unary(self) -> Any:
        if self._peek() == "-":
            self._pos += 1
            return -_first(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        kind, text = self._next()
        if kind == "number":
            return float(text)
        if kind == "string":
            return text[1:-1]
        if text == "{":
            items = []
            while self._peek() != "}":
                items.append(_first(self._expression()))
                if self._peek() == ",":
                    self._pos += 1
                elif self._peek() != "}":
                    raise syntax_error(self._peek() or "<eof>")
            self._pos += 1
            return items
        if text == "(":
            value = _first(self._expression())  # parentheses keep one value, as in Lua
            self._expect(")")
            return value
        if kind != "name":
            raise syntax_error(text)
        if text in ("true", "false", "nil"):
            return {"true": True, "false": False, "nil": None}[text]
        owner, key, result = self._suffixes(GLOBAL, text)
        # A call gives all its values; where only one can go, ``_first`` takes it.
        return result if key is None else self._resolve(owner, key)

    def _member(self) -> str:
        if self._next()[1] == ".":
            kind, name = self._next()
            if kind != "name":
                raise syntax_error(name)
            return name
        key = self._expression()
        self._expect("]")
        return str(int(key)) if isinstance(key, float) else str(key)

    def _resolve(self, owner: Any, name: str) -> Any:
        if owner is GLOBAL:  # an unset global is nil, as in Lua
            if name == "print" and name not in self.globals:
                return self._print  # print inside an expression: prints, gives no value
            return self.globals.get(name)
        if isinstance(owner, Node):
            return owner.tsp_get(name)
        if isinstance(owner, list) and name.isdigit():
            index = int(name) - 1
            return owner[index] if 0 <= index < len(owner) else None
        raise runtime_error(f"attempt to index field `{name}' (a {_lua_type(owner)} value)")

    def _print(self, *args: Any) -> tuple:
        self._out.append(self.printer(list(args)))
        return ()

    def _call(self, function: Any, name: str | None) -> Any:
        args = self._arguments()
        if not callable(function):
            raise runtime_error(f"attempt to call field `{name}' (a {_lua_type(function)} "
                                "value)")
        try:
            return function(*args)
        except AttributeError:  # an argument of the wrong kind: a number for a buffer, say
            raise runtime_error(f"bad argument to `{name}'") from None

    def _arguments(self) -> list[Any]:
        """A call's arguments: the last one gives all its values (``print(smua.measure.iv())``
        prints both), the others one each."""
        self._expect("(")
        args: list[Any] = []
        while self._peek() != ")":
            value = self._expression()
            if self._peek() == ",":
                self._pos += 1
                args.append(_first(value))
            elif self._peek() == ")":
                args.extend(value if isinstance(value, tuple) else (value,))
            else:
                raise syntax_error(self._peek() or "<eof>")
        self._pos += 1
        return args

    # ---------------------------------------------------------------- tokens
    def _peek(self) -> str | None:
        return self._tokens[self._pos][1] if self._pos < len(self._tokens) else None

    def _next(self) -> tuple[str, str]:
        if self._pos >= len(self._tokens):
            raise syntax_error("<eof>")
        token = self._tokens[self._pos]
        self._pos += 1
        return token

    def _expect(self, text: str) -> None:
        if self._next()[1] != text:
            raise syntax_error(self._tokens[self._pos - 1][1])


GLOBAL = object()  # the owner of a global name


def _first(value: Any) -> Any:
    """One value where a call gave several (or none: nil)."""
    if isinstance(value, tuple):
        return value[0] if value else None
    return value


def _lua_type(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "function" if callable(value) else "table"
