"""What a config says of one instrument: its driver, resource and options."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agelab.instruments.resilience import PATIENCE_S

SOCKET_DEFAULTS = {"read_termination": "\n", "write_termination": "\n", "timeout": 5000}
# Whose identity each driver must report (a substring of *IDN?), so a wrong instrument at a
# resource is caught before anything is sourced.
EXPECTED_IDENTITY = {
    "keithley2400": "MODEL 2400", "keithley2400-photodiode": "MODEL 2400",
    "keithley2450": "MODEL 2450", "keithley2602b": "Model 26",
    "daq6510": "DAQ6510", "keithley2510": "MODEL 2510",
    "e4980a": "E4980A", "sr830": "SR830", "sr860": "SR860",
    "virtual-spectrometer": "VSPEC", "relay-box": "RELAYBOX", "laser-445": "LASER",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstrumentSpec(Strict):
    driver: str
    resource: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    expect_identity: str | None = None
    # How long an instrument that went silent is retried before its channel stops safely: a
    # 2400 takes about 10 s to reboot. A lab with slower instruments raises it.
    patience_s: float = Field(PATIENCE_S, gt=0)
