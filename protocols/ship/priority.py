"""The shipper runs below everything else on a station: acquisition must never wait for it."""

from __future__ import annotations

import os
import sys

import psutil


def yield_to_acquisition() -> str:
    """Put this process (and the threads it starts later) last in line for the CPU and the
    disk: on Linux the idle scheduling class, which runs only when no other task wants the
    CPU, and idle I/O; elsewhere the platform's lowest priority. Returns what was set."""
    me = psutil.Process()
    done = []
    try:
        if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            done.append("CPU: idle class")
        elif sys.platform == "win32":
            me.nice(psutil.IDLE_PRIORITY_CLASS)
            done.append("CPU: idle priority")
        else:
            os.nice(19)
            done.append("CPU: niceness 19")
    except (OSError, psutil.Error):
        pass
    try:
        if sys.platform.startswith("linux"):
            me.ionice(psutil.IOPRIO_CLASS_IDLE)
            done.append("I/O: idle class")
        elif sys.platform == "win32":
            me.ionice(0)  # very low
            done.append("I/O: very low")
    except (OSError, psutil.Error, AttributeError):
        pass
    return ", ".join(done) or "unchanged"
