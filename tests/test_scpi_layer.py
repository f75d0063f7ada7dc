"""The SCPI command layer on its own: parsing, paths, errors, common commands, blocks."""

import pytest

from agelab.instruments.sim.devices.scpi import CommandTree, add_common_commands, binary_block


@pytest.fixture
def tree():
    t = CommandTree()
    store = {"nplc": 1.0, "func": "VOLT", "level": 0.0, "calc": {}}
    add_common_commands(t, idn=lambda: "ACME,X1,42,1.0", reset=lambda: store.update(nplc=1.0))
    t.setting("[:SENSe]:CURRent[:DC]:NPLCycles", store, "nplc",
              lambda c: c.number(minimum=0.01, maximum=10, default=1.0))
    t.setting("[:SOURce]:FUNCtion[:MODE]", store, "func",
              lambda c: c.choice({"VOLTage": "VOLT", "CURRent": "CURR"}))
    t.setting("[:SOURce]:CURRent[:LEVel]", store, "level", lambda c: c.number())
    t.add(":CALCulate#:DATA", query=lambda c: f"calc{c.suffixes[0] or '1'}")
    t.add(":TRACe:DATA", query=lambda c: "trace")
    t.store = store
    return t


def test_short_long_case_and_optional_nodes(tree):
    assert tree.execute(":sens:curr:nplc 2") is None
    assert tree.execute("SENSE:CURRENT:DC:NPLCYCLES?") == b"2.0"
    assert tree.execute("curr:nplc?") == b"2.0"  # no leading colon, optional root omitted


def test_compound_message_and_relative_path(tree):
    reply = tree.execute(":SOUR:FUNC CURR;CURR 0.5;:SOUR:CURR?;FUNC?;*IDN?")
    assert reply == b"0.5;CURR;ACME,X1,42,1.0"


def test_quoted_enum_min_max_default(tree):
    tree.execute(":SOUR:FUNC 'volt'")
    assert tree.store["func"] == "VOLT"
    tree.execute(":SENS:CURR:NPLC MAX")
    assert tree.store["nplc"] == 10
    tree.execute(":SENS:CURR:NPLC DEF")
    assert tree.store["nplc"] == 1.0


def test_numeric_suffix_reaches_the_handler(tree):
    assert tree.execute(":CALC3:DATA?") == b"calc3"
    assert tree.execute(":CALCULATE:DATA?") == b"calc1"


def test_a_number_the_instrument_lacks_is_an_undefined_header(tree):
    assert tree.execute(":TRAC1:DATA?") == b"trace"  # a number left out is 1
    assert tree.execute(":TRAC2:DATA?") is None  # not TRACe, whatever its number
    assert tree.execute(":SYST:ERR?").decode().startswith("-113,")


@pytest.mark.parametrize(("message", "code"), [(":FOO:BAR 1", -113), (":SENS:CURR:NPLC 99", -222),
                                                (":SENS:CURR:NPLC abc", -104),
                                                (":SOUR:FUNC PLASMA", -224),
                                                (":SENS:CURR:NPLC", -109)])
def test_errors_go_to_the_queue_with_standard_codes(tree, message, code):
    assert tree.execute(message) is None
    assert tree.execute(":SYST:ERR?").decode().startswith(f"{code},")
    assert tree.execute(":SYST:ERR?") == b'0,"No error"'


def test_error_queue_overflow_and_status(tree):
    for _ in range(15):
        tree.execute(":NOPE")
    errors = [tree.execute("SYST:ERR?").decode() for _ in range(11)]
    assert errors[8].startswith("-113")
    assert errors[9].startswith("-350")
    assert errors[10] == '0,"No error"'
    tree.execute(":NOPE")
    assert int(tree.execute("*STB?")) & 4  # error queue not empty
    assert int(tree.execute("*ESR?")) == 32  # command error bit
    tree.execute("*CLS")
    assert tree.execute("*ESR?") == b"0" and tree.execute("SYST:ERR?") == b'0,"No error"'


def test_rst_and_binary_block(tree):
    tree.execute(":SENS:CURR:NPLC 5;*RST")
    assert tree.store["nplc"] == 1.0
    assert binary_block(b"\x00\x01\n") == b"#13\x00\x01\n"
    assert binary_block(b"x" * 1234) == b"#41234" + b"x" * 1234
