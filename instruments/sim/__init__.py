"""The virtual bench: simulated instruments on real transports, driven by a physics model.

- ``model``: the QLED pixel (diode, aging, spectra, noise, presets); numbers only, no I/O.
- ``rig``, ``loads``: the wiring of pixels to instruments, the device clock and timing model.
- ``devices``: each instrument's real command set (SCPI or line protocol), knowing no physics.
- ``servers``: TCP sockets and serial ptys that carry the command sets.
- ``faults``: injected faults; ``bench``: one rack put together; ``serve``: the rack's process.

Outside this package, only the station's virtual backend (``agelab.instruments.station.virtual``)
imports it.
"""
