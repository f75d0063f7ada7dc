"""Opening the bench's resources the way a user's code would."""

from pymeasure.instruments.keithley import Keithley2400

VISA = {"read_termination": "\n", "write_termination": "\n", "timeout": 5000}


def open_smu(resource: str) -> Keithley2400:
    return Keithley2400(resource, **VISA)


def stress(smu: Keithley2400, amps: float, compliance_v: float = 10.0) -> None:
    """Source a constant current through the pymeasure driver and wait until it is applied."""
    smu.write(f":SOUR:FUNC CURR;:SOUR:CURR {amps:g};:SENS:VOLT:PROT {compliance_v:g};:OUTP ON")
    assert smu.ask("*OPC?") == "1"
