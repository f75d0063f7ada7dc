"""A virtual bench in its own process, as a rack is: it outlives the engine that drives it.

``agelab run`` starts the bench this way, so that when the engine is killed the virtual
source-meters keep sourcing (a real 2400 does the same when its computer dies), and ``agelab
resume`` can reconnect to the very same pixels. The process is in its own session, so a Ctrl-C in
the terminal reaches only the engine, which then ramps every output down before it stops the
bench. A bench left without any client for ``idle_exit_s`` stops by itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import yaml

from instruments.station import VirtualSpec


class BenchStartError(RuntimeError):
    pass


@dataclass
class BenchProcess:
    pid: int
    resources: dict[str, str]
    _popen: subprocess.Popen | None = None

    @classmethod
    def start(cls, spec: VirtualSpec, idle_exit_s: float = 900.0,
              timeout_s: float = 60.0) -> BenchProcess:
        cmd = [sys.executable, "-m", "protocols.cli", "sim", "--presets", ",".join(spec.presets),
               "--speedup", repr(spec.speedup), "--timing", spec.timing, "--seed", str(spec.seed),
               "--lockin", spec.lockin, "--idle-exit", repr(idle_exit_s)]
        for fault in spec.faults:
            cmd += ["--fault", fault]
        popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 stdin=subprocess.DEVNULL, start_new_session=True, text=True)
        lines = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = popen.stdout.readline()
            if not line:
                break
            if line.startswith("# ready"):
                station = yaml.safe_load("".join(lines))["station"]["instruments"]
                resources = {name: item["resource"] for name, item in station.items()}
                popen.stdout.close()  # the bench prints nothing more that matters
                return cls(popen.pid, resources, popen)
            if not line.startswith("#"):
                lines.append(line)
        with contextlib.suppress(OSError):
            popen.kill()
        raise BenchStartError("the virtual bench process did not start")

    @classmethod
    def attach(cls, pid: int, resources: dict[str, str]) -> BenchProcess | None:
        """The bench a previous engine started, if it still runs."""
        return cls(pid, resources) if pid_alive(pid) else None

    def stop(self, timeout_s: float = 10.0) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and pid_alive(self.pid):
            if self._popen is not None and self._popen.poll() is not None:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=5)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not alive.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(") ")[-1][:1] != "Z"
    return True
