"""The station: which instrument plays which part, how to reach it, and opening them all.

A config's ``station`` section names each instrument's driver, resource string and options
(``spec``), or asks for the virtual bench (``virtual``, the one module that reaches the
simulator), which is started and wired there. ``Station`` opens them all (``station``).
"""

from agelab.instruments.station.spec import EXPECTED_IDENTITY, SOCKET_DEFAULTS, InstrumentSpec
from agelab.instruments.station.station import Station, StationSpec, open_driver
from agelab.instruments.station.virtual import VirtualSpec, bench_instruments

__all__ = ["EXPECTED_IDENTITY", "SOCKET_DEFAULTS", "InstrumentSpec", "Station", "StationSpec",
           "VirtualSpec", "bench_instruments", "open_driver"]
