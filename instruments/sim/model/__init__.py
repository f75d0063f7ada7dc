"""The virtual QLED: a physics model of a pixel that ages under current (no I/O, no SCPI)."""
