"""One link to a multi-channel instrument, shared by its channels' resilience layers.

Each channel of a 2602B is its own ``Resilient`` (its own journal, output account and fault
events), opened through ``SharedLink.channel``. A fault on either channel closes the box's link;
the other channel's next call then meets a closed link, and it reconnects too, reads its own
output's state and replays its own journal. So a reboot of the box (both outputs off, both
configurations lost) is found, and put right, on each channel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol


class MultiChannelInstrument(Protocol):
    link_closed: bool

    def channel(self, letter: str) -> object: ...


class SharedLink:
    def __init__(self, open_instrument: Callable[[], MultiChannelInstrument]) -> None:
        self._open = open_instrument
        self._instrument: MultiChannelInstrument | None = None
        self._lock = threading.Lock()

    def channel(self, letter: str) -> object:
        """The channel's driver on the open link, opening a new link if there is none or the
        last one was closed."""
        with self._lock:
            if self._instrument is None or self._instrument.link_closed:
                self._instrument = None
                self._instrument = self._open()
            return self._instrument.channel(letter)
