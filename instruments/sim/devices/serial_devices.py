"""Serial instruments of the virtual bench (served on pseudo-terminals by ``servers.pty``).

Both speak newline-terminated ASCII (``\\r\\n`` accepted), answer ``*IDN?``, and reply ``OK`` to a
command, a value to a query, or ``ERR <reason>`` to anything they do not understand.

Relay/mux box (routes each pixel to its SMU, to the shared LCR meter, or to nothing; the hardware
makes SMU and LCR exclusive)::

    ROUTE <pixel> SMU|LCR|OPEN    → OK           (pixels count from 1)
    ROUTE? <pixel>                → SMU|LCR|OPEN
    PIXELS?                       → <n>

445 nm laser driver (TTL-modulated by the lock-in reference; enabled here)::

    EN 1|0        → OK          EN?   → 1|0
    POW <mW>      → OK          POW?  → <mW>     (0.01 to 50 mW)
    IL?           → 1|0 (interlock closed)
    PIX <n>       → OK          PIX?  → <n>      the fibre switch: which pixel the laser, the PL
                                                 detector and the spectrometer look at
"""

from __future__ import annotations

import time

from agelab.instruments.sim.rig import Rig, Route


class RelayBoxSim:
    IDN = "AGELAB,RELAYBOX-16,R0001,1.0"

    def __init__(self, rig: Rig) -> None:
        self.rig = rig

    def handle(self, line: str) -> str:
        words = line.strip().upper().split()
        if not words:
            return "ERR empty command"
        if words == ["*IDN?"]:
            return self.IDN
        if words == ["PIXELS?"]:
            return str(len(self.rig.sites))
        if words[0] in ("ROUTE", "ROUTE?") and len(words) >= 2:
            try:
                index = int(words[1]) - 1
                if not 0 <= index < len(self.rig.sites):
                    raise ValueError
            except ValueError:
                return f"ERR no pixel {words[1]}"
            if words[0] == "ROUTE?":
                return self.rig.sites[index].route.value
            if len(words) != 3 or words[2] not in Route.__members__:
                return "ERR route must be SMU, LCR or OPEN"
            self.rig.route(index, Route(words[2]))
            return "OK"
        return f"ERR unknown command {words[0]}"


class LaserDriverSim:
    IDN = "AGELAB,LASER-445,L0001,1.0"

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.laser = rig.laser

    def handle(self, line: str) -> str:
        words = line.strip().upper().split()
        if not words:
            return "ERR empty command"
        cmd, args = words[0], words[1:]
        if cmd == "*IDN?":
            return self.IDN
        if cmd == "EN?":
            return "1" if self.laser.enabled else "0"
        if cmd == "POW?":
            return f"{self.laser.power_w * 1e3:.3f}"
        if cmd == "IL?":
            return "1" if self.laser.interlock_ok else "0"
        if cmd == "PIX?":
            return str(self.rig.optics_site + 1)
        if cmd == "PIX" and len(args) == 1:
            if not (args[0].isdigit() and 1 <= int(args[0]) <= len(self.rig.sites)):
                return f"ERR no pixel {args[0]}"
            self.rig.optics_site = int(args[0]) - 1
            self.rig.laser.changed_at = time.monotonic()  # the PL detector now sees another pixel
            return "OK"
        if cmd == "EN" and args in (["0"], ["1"]):
            self.laser.enabled = args == ["1"]
            return "OK"
        if cmd == "POW" and len(args) == 1:
            try:
                mw = float(args[0])
            except ValueError:
                return "ERR power must be a number in mW"
            if not 0.01 <= mw <= 50:
                return "ERR power out of range 0.01-50 mW"
            self.laser.power_w = mw * 1e-3
            return "OK"
        return f"ERR unknown command {cmd}"
