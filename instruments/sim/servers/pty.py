"""A line-oriented serial device served on a real pseudo-terminal (pty), as a USB-serial port is.

Clients open ``port_name`` with pyserial; the device answers one line per line it is sent, at the
baud rate's pace in realistic timing.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty
from typing import Protocol

from agelab.instruments.sim.rig import TimingModel


class LineDevice(Protocol):
    def handle(self, line: str) -> str: ...


class SerialPty:
    """Serve a line-oriented device on a pty; clients open ``port_name`` with pyserial."""

    def __init__(self, device: LineDevice, timing: TimingModel | None = None,
                 baud: int = 9600) -> None:
        self.device = device
        self.timing = timing or TimingModel()
        self.baud = baud
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline: a plain serial line
        self.port_name = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"pty:{self.port_name}",
                                        daemon=True)

    def start(self) -> SerialPty:
        self._thread.start()
        return self

    def _serve(self) -> None:
        buf = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("ascii", "replace").strip()
                if text:
                    reply = self.device.handle(text).encode() + b"\n"
                    # 10 bits a character (start, 8 data, stop) each way, in realistic timing
                    self.timing.wait(10 * (len(line) + 1 + len(reply)) / self.baud)
                    os.write(self._master, reply)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
