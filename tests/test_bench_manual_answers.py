"""Each bench defect found by outside drivers, sent raw over the bench's socket, answered as the
programming manual says; the survey of each manual's command set, subsystem by subsystem; and a
fuzz over the manuals' command headers: what the bench does not implement goes into the error
queue, and no query leaves the instrument stuck.
"""

from __future__ import annotations

import re
import socket
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agelab.instruments.sim.bench import VirtualBench
from tests.manual_survey import (
    DOC,
    Link,
    error_on_record,
    inventory,
    is_query,
    markdown,
    survey,
)


class Raw:
    """A bare TCP link to one bench instrument: lines out, lines (or bytes) back."""

    def __init__(self, resource: str) -> None:
        _, host, port, _ = resource.split("::")
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.buffer = b""

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\n")

    def line(self, timeout_s: float = 5.0) -> str | None:
        self.sock.settimeout(timeout_s)
        while b"\n" not in self.buffer:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                return None
            self.buffer += chunk
        text, self.buffer = self.buffer.split(b"\n", 1)
        return text.decode()

    def ask(self, line: str) -> str | None:
        self.send(line)
        return self.line()

    def block(self) -> bytes:
        """An IEEE 488.2 definite-length block with no terminator after it."""
        while len(self.buffer) < 2 or len(self.buffer) < 2 + int(self.buffer[1:2]):
            self.buffer += self.sock.recv(65536)
        digits = int(self.buffer[1:2])
        size = int(self.buffer[2:2 + digits])
        while len(self.buffer) < 2 + digits + size:
            self.buffer += self.sock.recv(65536)
        data = self.buffer[2 + digits:2 + digits + size]
        self.buffer = self.buffer[2 + digits + size:]
        return data

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def bench830():
    with VirtualBench("red-cdse", pixels=1, seed=5, lockin="sr830") as bench:
        yield bench


@pytest.fixture(scope="module")
def bench860():
    with VirtualBench("red-cdse", pixels=1, seed=5, lockin="sr860") as bench:
        yield bench


def test_e4980a_answers_opt_rx_ranges_and_corrections(bench830):
    lcr = Raw(bench830.resources["lcr"])
    assert lcr.ask("*OPT?") == "001"
    lcr.send(":FUNC:IMP CPD")
    r_x = lcr.ask(":FETC:IMP:CORR?").split(",")
    assert len(r_x) == 2  # R and X, whatever the function; no status field
    lcr.send(":FUNC:IMP RX")
    direct = [float(v) for v in lcr.ask(":FETC?").split(",")[:2]]
    assert float(r_x[0]) == pytest.approx(direct[0], rel=0.05)
    assert float(r_x[1]) == pytest.approx(direct[1], rel=0.05)
    assert lcr.ask(":FUNC:IMP:RANG:AUTO?") == "1"
    lcr.send(":FUNC:IMP:RANG 500")  # the smallest range that holds it; autorange off
    assert float(lcr.ask(":FUNC:IMP:RANG?")) == 1000.0
    assert lcr.ask(":FUNC:IMP:RANG:AUTO?") == "0"
    assert lcr.ask(":BIAS:RANG:AUTO?") == "1"
    lcr.send(":BIAS:RANG:AUTO OFF")
    assert lcr.ask(":BIAS:RANG:AUTO?") == "0"
    for node in ("OPEN", "SHOR"):
        assert lcr.ask(f":CORR:{node}:STAT?") == "0"
        lcr.send(f":CORR:{node}")
        assert lcr.ask(f":CORR:{node}:STAT?") == "1"
        lcr.send(f":CORR:{node}:STAT OFF")
        assert lcr.ask(f":CORR:{node}:STAT?") == "0"
    assert lcr.ask(":SYST:ERR?").startswith("+0") or lcr.ask(":SYST:ERR?").startswith("0")
    lcr.close()


def test_keithley2400_numbers_in_the_manuals_format(bench830):
    smu = Raw(bench830.resources["smu1"])
    assert smu.ask(":SENS:CURR:NPLC?") == "1.000000E+00"
    smu.send(":SENS:VOLT:NPLC 0.1")
    assert smu.ask(":SENS:VOLT:NPLC?") == "1.000000E-01"
    assert smu.ask(":TRIG:COUN?") == "1"  # counts are integers (NR1)
    assert smu.ask(":SYST:VERS?") == "1996.0"
    smu.close()


def test_keithley2400_saved_setups_and_sweep_views_and_a_recall_leaves_the_output_off(bench830):
    smu = Raw(bench830.resources["smu1"])
    smu.send(":SOUR:FUNC VOLT;:SOUR:VOLT 0.5;:SENS:CURR:PROT 0.001;:OUTP ON")
    smu.send("*SAV 2")
    smu.send(":OUTP OFF;:SOUR:VOLT 0")
    smu.send("*RCL 2")
    assert smu.ask(":SOUR:VOLT?") == "5.000000E-01" and smu.ask(":OUTP?") == "0"
    smu.send(":SOUR:VOLT:STAR 0;STOP 2;:SOUR:SWE:POIN 5")
    assert smu.ask(":SOUR:VOLT:STEP?") == "5.000000E-01"
    assert smu.ask(":SOUR:VOLT:CENT?") == "1.000000E+00"
    smu.send(":SOUR:VOLT:SPAN 1")  # about the same centre
    assert (smu.ask(":SOUR:VOLT:STAR?"), smu.ask(":SOUR:VOLT:STOP?")) == (
        "5.000000E-01", "1.500000E+00")
    smu.send("*RCL 4")  # nothing saved there: an execution error
    assert smu.ask(":SYST:ERR?").startswith("-200,")
    smu.close()


def test_sr830_takes_the_manuals_spaced_queries_and_terminates_each_answer(bench830):
    li = Raw(bench830.resources["lockin"])
    assert li.ask("SRAT ?") == "4"
    assert li.ask("DDEF ? 1") == "0,0"
    assert li.ask("SPTS ?") == "0"
    li.send("FREQ 1234.5;PHAS 10")
    li.send("FREQ?;PHAS?")
    assert (li.line(), li.line()) == ("1234.5", "10.00")  # one terminated answer each
    li.send("OEXP 1,10,1")
    assert li.ask("OEXP? 1") == "10.00,1"
    assert li.ask("OUTX?") == "1"
    snap = li.ask("SNAP?1,10,11").split(",")
    assert len(snap) == 3 and float(snap[0]) == pytest.approx(float(snap[1]), abs=1e-3)
    li.close()


def test_sr830_stores_points_at_the_set_rate(bench830):
    li = Raw(bench830.resources["lockin"])
    li.send("REST;SRAT 10;SEND 0")  # 64 Hz, single shot
    li.send("STRT")
    time.sleep(0.5)
    li.send("PAUS")
    stored = int(li.ask("SPTS?"))
    assert 26 <= stored <= 40  # ~32 in 0.5 s at 64 Hz
    time.sleep(0.3)
    assert int(li.ask("SPTS?")) == stored  # paused
    # The manual's format: each point signed with a three-digit exponent, and a comma after
    # every point, the last too ("-1.234567e-009,+7.654321e-009,").
    text = li.ask(f"TRCA ? 1,0,{stored}")
    assert text.endswith(",") and re.fullmatch(r"([+-]\d\.\d{6}e[+-]\d{3},)+", text), text
    values = [float(v) for v in text.rstrip(",").split(",")]
    assert len(values) == stored and all(abs(v) < 2 for v in values)
    li.send(f"TRCB? 1,0,{stored}")
    floats = struct.unpack(f"<{stored}f", recv_exact(li, 4 * stored))
    assert len(floats) == stored
    li.send(f"TRCL? 2,0,{stored}")
    raw = struct.unpack(f"<{2 * stored}h", recv_exact(li, 4 * stored))
    assert len(raw) == 2 * stored
    li.send("TRCA? 1,0,100000")  # more than stored: an error, and the link goes on
    assert li.ask("*IDN?").startswith("Stanford_Research_Systems,SR830")
    assert int(li.ask("*ESR?")) & 0b110100  # the bad TRCA? is on record
    li.send("REST")
    assert li.ask("SPTS?") == "0"
    li.close()


def test_sr830_display_ratios_and_status_register_bits_as_the_manual_gives_them(bench830):
    li = Raw(bench830.resources["lockin"])
    li.send("DDEF 1,1,2")  # CH1: R divided by Aux In 2
    assert li.ask("DDEF? 1") == "1,2"
    li.send("DDEF 1,0")  # no k: no ratio
    assert li.ask("DDEF? 1") == "0,0"
    li.send("ERRE 5")
    li.send("ERRE 1,1")  # bit 1 set: 5 | 2
    assert li.ask("ERRE?") == "7" and li.ask("ERRE? 2") == "1" and li.ask("ERRE? 3") == "0"
    li.send("*ESE 0;*ESE 4,1")
    assert li.ask("*ESE?") == "16"
    li.send("*CLS")
    li.send("BOGUS")  # a command error: ESR bit 5
    assert li.ask("*ESR? 5") == "1"
    assert li.ask("*ESR? 5") == "0"  # reading bit i clears just bit i
    li.close()


def recv_exact(link: Raw, size: int) -> bytes:
    while len(link.buffer) < size:
        link.buffer += link.sock.recv(65536)
    data, link.buffer = link.buffer[:size], link.buffer[size:]
    return data


def test_sr860_refuses_the_spaced_query_and_joins_answers_with_semicolons(bench860):
    li = Raw(bench860.resources["lockin"])
    li.send("SRAT ?")  # the SR860 manual forbids the space: a command error, no answer
    assert li.ask("*IDN?").startswith("Stanford_Research_Systems,SR860")
    li.send("FREQ 2000")
    assert li.ask("FREQ?;PHAS?").count(";") == 1
    li.close()


def test_sr860_snap_codes_snapd_cdsp_and_the_offsets(bench860):
    li = Raw(bench860.resources["lockin"])
    assert len(li.ask("SNAP? 8,9,16").split(",")) == 3
    assert len(li.ask("SNAP? XNO,FIN,SAM").split(",")) == 3
    li.send("SLVL 0.5;SOFF 0.25")
    samp, level = (float(v) for v in li.ask("SNAP? 13,14").split(","))
    assert (samp, level) == (0.5, 0.25)
    li.send("CDSP 0,13;CDSP 1,14;CDSP 2,15;CDSP 3,12")
    snapd = [float(v) for v in li.ask("SNAPD?").split(",")]
    assert snapd[0] == 0.5 and snapd[1] == 0.25  # what the display assignment says
    assert li.ask("SOFF?") == "2.500000e-01"
    li.send("COFP 1,12.5;CEXP 2,1")
    assert (li.ask("COFP? 1"), li.ask("CEXP? 2")) == ("12.50", "1")
    li.send("APHS")  # auto phase: the signal moves onto X
    time.sleep(0.2)
    x, y = (float(v) for v in li.ask("SNAP? 0,1").split(","))
    assert abs(y) <= abs(x) + 1e-6
    li.close()


def test_sr860_captures_at_its_rate_and_sends_the_block_unterminated(bench860):
    li = Raw(bench860.resources["lockin"])
    li.send("OFLT 4")  # 100 µs: a fast capture is allowed
    rate_max = float(li.ask("CAPTURERATEMAX?"))
    li.send("CAPTURELEN 4;CAPTURECFG 1;CAPTURERATE 12")  # X,Y at rate_max / 4096
    rate = float(li.ask("CAPTURERATE?"))
    assert rate == pytest.approx(rate_max / 4096)
    li.send("CAPTURESTART ONE, IMM")
    time.sleep(0.5)
    li.send("CAPTURESTOP")
    captured = int(li.ask("CAPTUREBYTES?"))
    assert captured == 8 * int(captured / 8) and captured > 0
    assert captured / 8 == pytest.approx(min(rate * 0.5, 4 * 1024 / 8), rel=0.3)
    li.send("CAPTUREGET? 0,1")
    data = li.block()
    values = struct.unpack(f"<{len(data) // 4}f", data)
    assert len(values) == min(captured, 1024) // 4
    assert li.ask("*IDN?").startswith("Stanford_Research_Systems,SR860")  # no stray byte
    li.close()


# ------------------------------------------------------------------------------ the survey
def test_the_survey_of_every_manual_command_is_current():
    """Every message of each manual's command set (tests/data/manual_commands.yaml) is
    answered or taken, or refused with an error on record, and none hangs (the survey raises
    if one does); docs/bench-commands.md says which, and is current."""
    found = survey()
    assert markdown(found) == DOC.read_text(), "run: python -m tests.manual_survey"
    # What the peers send at start-up and in a snapshot is modelled (the SR830's whole set).
    assert all(o.modelled for outcomes in found["lockin"].values() for o in outcomes)


def headers(instrument: str) -> list[str]:
    """Each distinct command header (a TSP attribute or function) of the instrument's set."""
    names = set()
    for sub in inventory()[instrument]["subsystems"]:
        for message in sub["commands"]:
            inner = message.removeprefix("print(").removesuffix(")")
            names.add(re.split(r"[?( =]", inner)[0])
    return sorted(names - {"*RST", "reset", "smua.reset"})  # resets would only slow it


@pytest.mark.parametrize("instrument", list(inventory()))
def test_every_manual_header_with_any_arguments_is_answered_or_an_error_and_none_hangs(
        instrument):
    spec = inventory()[instrument]
    tsp = spec["error_query"].startswith("print(")
    with VirtualBench("red-cdse", pixels=1, seed=5, **spec["bench"]) as bench:
        link = Link(bench.resources[spec["resource"]])
        unanswered = []
        for name in headers(instrument):
            variants = ((f"print({name})", f"{name} = 1", f"{name}(1)", f"print({name}(99, x))")
                        if tsp else (f"{name}?", f"{name}? 1", f"{name} 1", f"{name}? 99,x"))
            for message in variants:
                link.exchange("*CLS")
                reply = link.exchange(message)  # raises if the instrument hangs
                if is_query(message) and not reply:
                    assert error_on_record(link, spec["error_query"]), (instrument, message)
                    unanswered.append(message)
        link.close()
    assert len(unanswered) < 4 * len(headers(instrument)), unanswered


@settings(max_examples=60, deadline=None)
@given(name=st.from_regex(r"[A-Z]{3,8}(:[A-Z]{3,6}){0,2}", fullmatch=True))
def test_a_made_up_header_is_an_undefined_header_error_not_a_hang(bench830, name):
    link = Raw(bench830.resources["lcr"])
    link.send(f":{name}?")
    assert link.ask("*IDN?").startswith("Keysight Technologies,E4980A")
    known = link.ask(":SYST:ERR?")
    assert known.startswith(("+0", "0", "-113"))
    link.close()


def test_tsp_print_inside_an_expression_prints_then_gives_nothing():
    with VirtualBench("red-cdse", pixels=2, seed=5, smu="keithley2602b") as bench:
        smu = Raw(bench.resources["smu1"])
        smu.send("print(print(errorqueue.count))")  # as QCoDeS's ask("print(...)") sends it
        assert (smu.line(), smu.line()) == ("0.00000e+00", "")  # the value, then print()
        smu.send("print(foo.bar)")  # indexing nil: an error on record, no answer
        assert smu.ask("print(errorqueue.count)") == "1.00000e+00"
        smu.close()
