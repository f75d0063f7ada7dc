"""The survey of each simulated instrument against its manual's command set
(tests/data/manual_commands.yaml): every message is sent over the bench's socket and found
answered or taken, or refused with an error on record. ``python -m tests.manual_survey``
writes the survey to docs/bench-commands.md."""

from __future__ import annotations

import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "tests" / "data" / "manual_commands.yaml"
DOC = ROOT / "docs" / "bench-commands.md"
# The SRS lock-ins' standard event status: query (2), execution (4) and command (5) errors.
SRS_ERROR_BITS = 0b0011_0100


class NoAnswer(AssertionError):
    """The instrument did not answer *IDN? after a message: it hung."""


@dataclass(frozen=True)
class Outcome:
    message: str
    modelled: bool  # answered (a query) or taken (a command)
    error: str = ""  # what the instrument put on record when it was not


def inventory() -> dict:
    return yaml.safe_load(INVENTORY.read_text())


class Link:
    """A bare TCP link to one bench instrument."""

    def __init__(self, resource: str) -> None:
        _, host, port, _ = resource.split("::")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.buffer = b""
        self.send("*IDN?")
        self.idn = self._until(b"\n").rstrip(b"\r\n")

    def send(self, message: str) -> None:
        self.sock.sendall(message.encode() + b"\n")

    def _until(self, tail: bytes, timeout_s: float = 10.0) -> bytes:
        """Everything received up to and including the first ``tail``."""
        deadline = time.monotonic() + timeout_s
        while tail not in self.buffer:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                chunk = b""
            if not chunk:
                raise NoAnswer(f"no answer ending {tail!r} after {self.buffer[-200:]!r}")
            self.buffer += chunk
        end = self.buffer.index(tail) + len(tail)
        data, self.buffer = self.buffer[:end], self.buffer[end:]
        return data

    def exchange(self, message: str) -> bytes:
        """What ``message`` made the instrument send: everything before the *IDN? answer
        that follows it (so a query that is never answered cannot hang the survey)."""
        self.send(message)
        self.send("*IDN?")
        reply = b"".join(self._until(self.idn + b"\n")
                         for _ in range(1 + message.upper().count("*IDN?")))
        return reply[:-len(self.idn) - 1]

    def ask(self, message: str) -> str:
        return self.exchange(message).decode(errors="replace").strip()

    def close(self) -> None:
        self.sock.close()


def error_on_record(link: Link, error_query: str) -> str:
    """The instrument's record of the last message going wrong ("" when none): the SRS
    lock-ins' event status, else the first entry of the error queue (SCPI's "code,message",
    TSP's tab-separated code, message, severity, node)."""
    answer = link.ask(error_query)
    if error_query == "*ESR?":
        return f"ESR {answer}" if int(answer) & SRS_ERROR_BITS else ""
    code, _, message = answer.replace("\t", ",", 1).partition(",")
    return "" if float(code) == 0 else f"{int(float(code))},{message.split(chr(9))[0]}"


def is_query(message: str) -> bool:
    """Whether the instrument answers ``message``: a SCPI or SRS query, or a TSP print."""
    return "?" in message or message.startswith("print(")


def survey_instrument(resource: str, spec: dict) -> dict[str, list[Outcome]]:
    link = Link(resource)
    found: dict[str, list[Outcome]] = {}
    try:
        for subsystem in spec["subsystems"]:
            for message in subsystem.get("before", []):
                link.exchange(message)
            if subsystem.get("before"):
                time.sleep(0.2)  # storage at its rate, a sweep run
            outcomes = found.setdefault(subsystem["name"], [])
            for message in subsystem["commands"]:
                link.exchange("*CLS")
                try:
                    reply = link.exchange(message)
                except NoAnswer as e:
                    raise NoAnswer(f"{spec['model']}: {message} hung the instrument: {e}"
                                   ) from None
                error = error_on_record(link, spec["error_query"])
                if is_query(message) and not reply and not error:
                    raise AssertionError(f"{spec['model']}: {message} was neither answered "
                                         "nor refused with an error")
                modelled = bool(reply) if is_query(message) else not error
                outcomes.append(Outcome(message, modelled, "" if modelled else error))
    finally:
        link.close()
    return found


def survey(instruments: list[str] | None = None) -> dict[str, dict[str, list[Outcome]]]:
    """Each instrument of the inventory (or those named) surveyed on a fresh bench."""
    from agelab.instruments.sim.bench import VirtualBench

    specs = inventory()
    found = {}
    for name in instruments or list(specs):
        with VirtualBench("red-cdse", pixels=1, seed=5, **specs[name]["bench"]) as bench:
            found[name] = survey_instrument(bench.resources[specs[name]["resource"]],
                                            specs[name])
    return found


def markdown(found: dict[str, dict[str, list[Outcome]]]) -> str:
    specs = inventory()
    lines = ["# What the virtual bench answers, subsystem by subsystem", "",
             "Written by `python -m tests.manual_survey` from `tests/data/manual_commands.yaml`;",
             "`tests/test_bench_manual_answers.py` checks that it is current. Each message was",
             "sent to the bench: *modelled* means a query was answered or a command taken;",
             "*refused* means the bench put an error on record, as a real unit does for",
             "something it lacks (the error is given). No message went unanswered.", ""]
    for name, subsystems in found.items():
        total = sum(len(o) for o in subsystems.values())
        modelled = sum(x.modelled for o in subsystems.values() for x in o)
        lines += [f"## {specs[name]['model']} (`{name}`): {modelled} of {total} modelled", "",
                  "| Subsystem | Modelled | Refused |", "|---|---|---|"]
        for subsystem, outcomes in subsystems.items():
            yes = ", ".join(f"`{o.message}`" for o in outcomes if o.modelled) or "-"
            no = ", ".join(f"`{o.message}` ({o.error})" for o in outcomes if not o.modelled)
            lines.append(f"| {subsystem} | {yes} | {no or '-'} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    DOC.write_text(markdown(survey()))
    print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
