"""Real transports for the virtual instruments: TCP sockets (LAN instruments) on 127.0.0.1.

Each instrument listens on its own port and speaks newline-terminated SCPI, as a LAN instrument's
raw socket (port 5025) does, so pyvisa-py reaches it with ``TCPIP::127.0.0.1::PORT::SOCKET``.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Callable
from typing import Protocol

from agelab.instruments.sim.devices.scpi import Unterminated
from agelab.instruments.sim.faults import DEVICE_ERROR, FaultInjector, FaultKind
from agelab.instruments.sim.rig import TimingModel

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class Commands(Protocol):
    """What the server needs of an instrument's command set: which messages it answers, and
    an error queue to put an injected error in."""

    def is_query(self, message: str) -> bool: ...
    def push_error(self, error: tuple[int, str], detail: str = "") -> None: ...


class ScpiDevice(Protocol):
    """A virtual instrument: its commands (a SCPI tree, or a TSP box's), and a reset that a
    reboot calls."""

    tree: Commands

    def handle(self, message: str) -> bytes | None: ...

    def reset(self) -> None: ...


class _Handler(socketserver.BaseRequestHandler):
    def setup(self) -> None:
        self.connection = self.request
        server: InstrumentServer = self.server  # type: ignore[assignment]
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with server.connections_lock:  # not the device's lock, which a busy INIT holds
            server.connections.add(self.connection)
        # A controller that reconnects has given up on what it was waiting for: as the device
        # clear a GPIB controller sends then, a new connection ends a wait on the trigger link
        # (a real 2400 would otherwise wait for triggers for ever; the bench gave up after 10 s,
        # and every reading in between timed out).
        if hasattr(server.device, "interrupt"):
            server.device.interrupt()

    def finish(self) -> None:
        server: InstrumentServer = self.server  # type: ignore[assignment]
        with server.connections_lock:
            server.connections.discard(self.connection)
        super().finish()

    def handle(self) -> None:
        server: InstrumentServer = self.server  # type: ignore[assignment]
        buffer = b""
        try:
            while True:
                chunk = self.connection.recv(65536)
                if not chunk:
                    return
                # ACK at once: a client that writes then queries (Nagle on) would otherwise wait
                # ~40 ms for our delayed ACK, which no real instrument's timing includes.
                if _QUICKACK is not None:
                    self.connection.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                buffer += chunk
                while b"\n" in buffer:
                    raw, buffer = buffer.split(b"\n", 1)
                    message = raw.decode("latin-1").strip()
                    if message and not self._transact(server, message):
                        return
        except OSError:
            return

    def _transact(self, server: InstrumentServer, message: str) -> bool:
        """Handle one message; False when the connection must close."""
        fault = (server.injector.decide(server.name, message,
                                        server.device.tree.is_query(message))
                 if server.injector else None)
        if fault is FaultKind.TIMEOUT:
            return True
        if fault is FaultKind.DROP:
            return False
        if fault is FaultKind.REBOOT:
            server.reboot()
            return False
        if message.lstrip().upper().startswith(":ABOR") and hasattr(server.device, "interrupt"):
            server.device.interrupt()  # device clear / abort does not queue behind a busy INIT
        with server.lock:
            if server.timing is not None:
                server.timing.wait(server.timing.message_s)
            reply = server.device.handle(message)
            if fault is FaultKind.ERROR:
                server.device.tree.push_error(DEVICE_ERROR, "injected")
            if fault in (FaultKind.OPEN, FaultKind.SHORT) and server.on_pixel_fault:
                server.on_pixel_fault(fault, message)
        if reply is not None:
            if fault is FaultKind.GARBLE:
                reply = server.injector.garble(reply)
            self.connection.sendall(reply if isinstance(reply, Unterminated) else reply + b"\n")
        return True


class InstrumentServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, device: ScpiDevice, port: int = 0, host: str = "127.0.0.1", *,
                 name: str = "", injector: FaultInjector | None = None,
                 on_pixel_fault: Callable[[FaultKind, str], None] | None = None,
                 timing: TimingModel | None = None) -> None:
        self.device = device
        self.timing = timing
        self.name = name
        self.injector = injector
        self.on_pixel_fault = on_pixel_fault
        self.lock = threading.RLock()  # the instrument: one message at a time
        self.connections_lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        super().__init__((host, port), _Handler)
        # A short poll keeps stop() quick: shutdown() waits for the serve loop's next poll.
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,),
                                        name=f"sim:{self.port}", daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def resource(self) -> str:
        return f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    def start(self) -> InstrumentServer:
        self._thread.start()
        return self

    def reboot(self) -> None:
        """Power-cycle the instrument: settings lost, output off, every connection dropped (and
        whatever restarts at power-on, a meter's timestamp, restarted)."""
        with self.lock, self.connections_lock:
            getattr(self.device, "power_on", self.device.reset)()
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self.shutdown()
        with self.connections_lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self.server_close()
