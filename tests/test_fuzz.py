"""Fuzzing with hypothesis: whatever a user types into a config, and whatever an instrument sends
back, AgeLab answers with a result or one clean error, never a crash or a corrupted record."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymeasure.test import expected_protocol

from agelab.instruments.drivers.e4980 import AgilentE4980A
from agelab.instruments.drivers.keithley import Keithley2400
from agelab.instruments.drivers.lockin import SR860
from agelab.instruments.drivers.photodetectors import Keithley2400Photodetector
from agelab.instruments.drivers.spectrometer import VirtualSpectrometer
from agelab.instruments.resilience import classify
from agelab.protocols.config import ConfigError, parse_config
from tests.test_config_errors import GOOD
from tests.test_driver_transcripts import K_CONN, K_INIT, PD_SETUP

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# ---------------------------------------------------------------- the config loader
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["50 mA/cm^2", "1 min", "4 mm^2", "-3 V", "1e9 h", "T50",
                                     "virtual", "jv", "0 mA/cm^2", "nan"]))
trees = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=10), kids, max_size=4)),
    max_leaves=20)
KEYS = ["study", "station", "safety", "measurements", "defaults", "channels", "speedup"]


def _accepts_or_one_clean_error(text: str) -> None:
    try:
        parse_config(text, "fuzz.yaml")
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("fuzz.yaml") and "Traceback" not in message
        assert message.strip(), "an empty error"


@FUZZ
@given(st.text(max_size=300))
def test_any_text_gives_a_config_or_one_clean_error(text):
    _accepts_or_one_clean_error(text)


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), trees, max_size=7))
def test_any_yaml_structure_gives_a_config_or_one_clean_error(data):
    _accepts_or_one_clean_error(yaml.safe_dump(data))


def test_an_unbalanced_bracket_in_a_quantity_is_a_config_error():
    """Regression (fuzzer): 'current_density: [' reached pint's tokenizer, which raised
    tokenize.TokenError, a traceback for a typo."""
    text = GOOD.replace("current_density: 50 mA/cm^2}", "current_density: '['}", 1)
    with pytest.raises(ConfigError, match="cannot read"):
        parse_config(text, "fuzz.yaml")


@FUZZ
@given(st.data())
def test_the_default_config_with_one_value_replaced(data):
    """Mutations of a real study: one line's value replaced by anything."""
    lines = GOOD.splitlines()
    candidates = [i for i, ln in enumerate(lines) if ":" in ln and not ln.lstrip().startswith("#")]
    i = data.draw(st.sampled_from(candidates))
    key = lines[i].split(":", 1)[0]
    value = data.draw(scalars)
    lines[i] = f"{key}: {yaml.safe_dump(value, default_flow_style=True).splitlines()[0]}"
    _accepts_or_one_clean_error("\n".join(lines))


# ---------------------------------------------------------------- instrument replies
def _garbled(valid: str) -> st.SearchStrategy[str]:
    """A valid reply with bytes flipped, cut short, or anything else at all."""
    flips = st.lists(st.tuples(st.integers(0, max(len(valid) - 1, 0)),
                               st.sampled_from([*"#$%&?@~,.-+eE0 ", "\x7f", "\xbe"])),
                     min_size=1, max_size=3)

    def flip(edits):
        chars = list(valid)
        for i, c in edits:
            chars[i] = c
        return "".join(chars)

    return st.one_of(flips.map(flip), st.integers(0, len(valid)).map(lambda n: valid[:n]),
                     st.text(max_size=40),
                     st.sampled_from(["9.9E37,9.9E37,9.9E37,9.9E37,9.9E37", "nan,nan,0,0,0",
                                      "inf", "", ",,,,", "1,2"]))


READINGS = [
    # (driver, set-up steps, the query, a valid reply, the call, what a valid result satisfies)
    (Keithley2400, [K_INIT], ":READ?", "+3.1E+00,+4.0E-03,+7.7E+02,+1.0E+00,+0.0E+00",
     lambda inst: inst.read_vi(),
     lambda r: all(math.isfinite(x) for x in r[:2]) and abs(r[0]) <= 211 and abs(r[1]) <= 1.06),
    (Keithley2400Photodetector, [K_INIT, PD_SETUP], ":READ?",
     "+0.0E+00,-7.85E-05,+0.0E+00,+1.0E+00,+0.0E+00", lambda inst: inst.read_photocurrent(),
     lambda r: math.isfinite(r) and abs(r) <= 1.06),
]


@pytest.mark.parametrize("driver, setup, query, valid, call, sane", READINGS,
                         ids=["smu read_vi", "photodiode"])
@FUZZ
@given(data=st.data())
def test_garbage_from_a_meter_is_refused_as_garbled_or_read_sanely(driver, setup, query, valid,
                                                                   call, sane, data):
    """A reply either gives a reading that could be true, or an error the resilience layer
    retries (classified): never a wild number for the run file, never an unclassified crash."""
    reply = data.draw(_garbled(valid))
    try:
        with expected_protocol(driver, [*setup, (query, reply)],
                               connection_attributes=K_CONN) as inst:
            result = call(inst)
    except Exception as exc:
        assert classify(exc) is not None, f"{type(exc).__name__}: {exc} from {reply!r}"
        return
    assert sane(result), f"{result!r} from {reply!r}"


QUERIES = [
    # (driver, property or method, query, valid reply)
    (SR860, "next_error", "*ESR?", "0"),
    (VirtualSpectrometer, "next_error", ":SYST:ERR?", '0,"No error"'),
    (VirtualSpectrometer, "saturated", ":STAT:SAT?", "0"),
    (AgilentE4980A, "next_error", "SYST:ERR?", '+0,"No error"'),
]


@pytest.mark.parametrize("driver, name, query, valid", QUERIES,
                         ids=[f"{d.__name__}.{n}" for d, n, _, _ in QUERIES])
@FUZZ
@given(data=st.data())
def test_garbage_in_status_replies_is_classified(driver, name, query, valid, data):
    reply = data.draw(_garbled(valid))
    init = [("FORM ASC", None)] if driver is AgilentE4980A else []
    try:
        with expected_protocol(driver, [*init, (query, reply)]) as inst:
            getattr(inst, name)
    except Exception as exc:
        assert classify(exc) is not None, f"{type(exc).__name__}: {exc} from {reply!r}"


def test_a_reply_that_spells_a_usage_message_is_still_garbled():
    """A reply that fails to parse is garbled even when the text it quotes reads like one of
    the driver's own usage refusals."""
    with pytest.raises(ValueError) as caught:
        int("is not in range")
    assert classify(caught.value) == "garbled"
    with pytest.raises(ValueError) as caught:
        float("must be")
    assert classify(caught.value) == "garbled"
