"""The relay/mux box and the 445 nm laser driver, over pyserial (protocols in
``instruments/sim/serial_devices.py``). Every command is acknowledged with ``OK`` or refused with
``ERR <reason>``; a refusal raises."""

from __future__ import annotations

from pymeasure.adapters import SerialAdapter
from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set, strict_range


class SerialCommandError(RuntimeError):
    pass


class _AcknowledgedSerial(Instrument):
    def __init__(self, adapter, name: str, baudrate: int = 9600, timeout: float = 2.0,
                 **kwargs) -> None:
        if isinstance(adapter, str):
            adapter = SerialAdapter(adapter, baudrate=baudrate, timeout=timeout,
                                    write_termination="\n", read_termination="\n")
        super().__init__(adapter, name, includeSCPI=False, **kwargs)

    def check_set_errors(self) -> list[str]:
        """Every setting is acknowledged: read the OK, or raise with the device's reason."""
        reply = self.read().strip()
        if reply != "OK":
            raise SerialCommandError(f"{self.name}: {reply or 'no acknowledgement'}")
        return []

    def command(self, text: str) -> None:
        self.write(text)
        self.check_set_errors()

    def identity(self) -> str:
        return self.ask("*IDN?").strip()


class RelayBox(_AcknowledgedSerial):
    """Routes each pixel to its source-meter, to the shared LCR meter, or to nothing."""

    pixel_count = Instrument.measurement("PIXELS?", "Pixels the box switches.", cast=int)

    def __init__(self, adapter, name: str = "relay box", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)

    def route(self, pixel: int, target: str) -> None:
        target = target.upper()
        if target not in ("SMU", "LCR", "OPEN"):
            raise ValueError(f"route target must be SMU, LCR or OPEN, got {target!r}")
        self.command(f"ROUTE {int(pixel)} {target}")

    def routed(self, pixel: int) -> str:
        return self.ask(f"ROUTE? {int(pixel)}").strip()

    def shutdown(self) -> None:
        """Leave the routing as it is: the source-meters switch their own outputs off."""


class LaserDriver(_AcknowledgedSerial):
    """The 445 nm PL excitation laser; TTL-modulated by the lock-in's reference output."""

    enabled = Instrument.control(
        "EN?", "EN %d", "Whether the laser emits (when the interlock is closed).",
        validator=strict_discrete_set, values={True: 1, False: 0}, map_values=True,
        check_set_errors=True)
    power_mw = Instrument.control(
        "POW?", "POW %g", "Laser power (mW).", validator=strict_range, values=[0.01, 50],
        check_set_errors=True)
    aimed_pixel = Instrument.control(
        "PIX?", "PIX %d", "The pixel the laser and the collection fibre look at.", cast=int,
        check_set_errors=True)
    interlock_closed = Instrument.measurement(
        "IL?", "Whether the safety interlock is closed.", values={True: 1, False: 0},
        map_values=True)

    def __init__(self, adapter, name: str = "445 nm laser", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)

    def set_power(self, watts: float) -> None:
        self.power_mw = watts * 1e3

    def enable(self, on: bool) -> None:
        self.enabled = on

    def aim(self, pixel: int) -> None:
        self.aimed_pixel = pixel

    def shutdown(self) -> None:
        self.enabled = False
