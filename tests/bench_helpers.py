"""Opening the bench's resources the way a user's code would."""

from pymeasure.instruments.keithley import Keithley2400

VISA = {"read_termination": "\n", "write_termination": "\n", "timeout": 5000}


def open_smu(resource: str) -> Keithley2400:
    return Keithley2400(resource, **VISA)


def stress(smu: Keithley2400, amps: float, compliance_v: float = 10.0) -> None:
    """Source a constant current through the pymeasure driver and wait until it is applied."""
    smu.write(f":SOUR:FUNC CURR;:SOUR:CURR {amps:g};:SENS:VOLT:PROT {compliance_v:g};:OUTP ON")
    assert smu.ask("*OPC?") == "1"


def pixel_under_the_laser(bench):
    """Pixel 1 driven at 4 mA by AgeLab's 2400 driver, and the laser aimed at it at 1 mW (not
    yet on): the PL set-up the lock-in tests read. Returns (source-meter, laser)."""
    from agelab.instruments.drivers.keithley import Keithley2400 as AgelabKeithley2400
    from agelab.instruments.drivers.serial_devices import LaserDriver

    smu = AgelabKeithley2400(bench.resources["smu1"], **VISA)
    smu.configure_current_source(compliance_v=8)
    smu.ramp_current(4e-3, step_a=1e-3, dwell_s=0)
    laser = LaserDriver(bench.resources["laser"])
    laser.aim(1)
    laser.set_power(1e-3)
    return smu, laser
