"""Real transports for the virtual instruments: TCP sockets (LAN instruments) on 127.0.0.1.

Each instrument listens on its own port and speaks newline-terminated SCPI, as a LAN instrument's
raw socket (port 5025) does, so pyvisa-py reaches it with ``TCPIP::127.0.0.1::PORT::SOCKET``.
"""

from __future__ import annotations

import socketserver
import threading
from typing import Protocol


class ScpiDevice(Protocol):
    """Anything with a command tree: a virtual instrument."""

    tree: object

    def handle(self, message: str) -> bytes | None: ...


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: InstrumentServer = self.server  # type: ignore[assignment]
        for raw in self.rfile:
            message = raw.decode("latin-1").strip()
            if not message:
                continue
            with server.lock:
                reply = server.device.handle(message)
            if reply is not None:
                try:
                    self.wfile.write(reply + b"\n")
                except OSError:
                    return


class InstrumentServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, device: ScpiDevice, port: int = 0, host: str = "127.0.0.1") -> None:
        self.device = device
        self.lock = threading.Lock()
        super().__init__((host, port), _Handler)
        self._thread = threading.Thread(target=self.serve_forever, name=f"sim:{self.port}",
                                        daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def resource(self) -> str:
        return f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    def start(self) -> InstrumentServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
