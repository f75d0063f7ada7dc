"""One link, several roles: a multi-channel instrument whose channels each play a role of their
own (a 2602B's two SMUs, a scanner's photodiode channels) over the instrument's one connection.

``SharedLinkMixin`` holds the link for one exchange at a time (a message and its reply), so the
channels' calls interleave exchange by exchange, and refuses every call with ``ConnectionError``
once the link was closed: the resilience layer closes it after a fault on any channel (through
the channel's ``adapter``, a ``LinkHandle``), and each channel then reconnects on its own (see
``resilience.shared_link``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class SharedLinkMixin:
    """Mix into a pymeasure ``Instrument`` subclass, before it in the bases."""

    CHANNELS: tuple[str, ...] = ()

    def _init_link(self, adapter: object) -> None:
        self.lock = threading.RLock()
        self.link_closed = False
        self._link_identity: str | None = None
        # Where it is reached: two channels are of one instrument when they share it.
        self.resource = adapter if isinstance(adapter, str) else f"adapter {id(adapter)}"

    @contextlib.contextmanager
    def exchange(self) -> Iterator[None]:
        """Hold the link for one exchange; refused once closed."""
        with self.lock:
            if self.link_closed:
                raise ConnectionError(f"{self.name}: the link was closed after a fault")
            yield

    def write(self, command: str, **kwargs) -> None:
        with self.exchange():
            super().write(command, **kwargs)

    def read(self, **kwargs) -> str:
        with self.exchange():
            return super().read(**kwargs)

    def read_bytes(self, count: int, **kwargs) -> bytes:
        with self.exchange():
            return super().read_bytes(count, **kwargs)

    def ask(self, command: str, query_delay: float | None = None) -> str:
        with self.exchange():
            return super().ask(command, query_delay)

    def link_identity(self) -> str:
        """*IDN? once per link: each channel's connect checks it, and sixteen channels
        reconnecting after a fault would otherwise ask sixteen times."""
        with self.lock:
            if self._link_identity is None:
                self._link_identity = self.ask("*IDN?").strip()
            return self._link_identity

    def close_link(self) -> None:
        """Close the link for every channel (each reconnects on its next call)."""
        with self.lock:
            self.link_closed = True
            with contextlib.suppress(Exception):
                self.adapter.close()


class LinkHandle:
    """A channel's ``adapter`` as the resilience layer sees it: closing it closes the
    instrument's link, for all its channels."""

    def __init__(self, instrument: SharedLinkMixin) -> None:
        self.instrument = instrument

    def close(self) -> None:
        self.instrument.close_link()
