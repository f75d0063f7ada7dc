"""InstrumentKit's SR830 driver, a peer written apart from AgeLab, takes a buffered PL
acquisition from the virtual bench through its data-storage path (REST, SRAT, SEND, FAST,
STRD, PAUS, SPTS?, TRCA?), as it would from a rack's lock-in.

InstrumentKit installs as the top-level package `instruments`, the name of this repository's
own folder; so its script runs in an isolated interpreter (`python -I`), where only the
installed packages are importable.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agelab.instruments.sim.bench import VirtualBench
from tests.bench_helpers import pixel_under_the_laser

# The peer's own calls: configure, then take_measurement (64 Hz, 32 samples) and a settled X.
SCRIPT = """
import json, socket, sys, time, warnings
warnings.simplefilter("ignore")
import instruments as ik
import instruments.units as u
from instruments.abstract_instruments.comm import SocketCommunicator

host, port = sys.argv[1], int(sys.argv[2])
# SRS830.open_tcpip passes an `auth` argument its constructor does not take (1.0.0b2), so the
# socket is opened as the library's own open_tcpip would.
lockin = ik.srs.SRS830(SocketCommunicator(socket.create_connection((host, port))))
lockin.frequency = u.Quantity(10e3, u.Hz)
lockin.sendcmd("SENS 17")  # 1 mV
lockin.sendcmd("OFLT 5")  # 3 ms
time.sleep(0.05)
ch1, ch2 = lockin.take_measurement(64, 32)
print(json.dumps({"ch1": [float(v) for v in ch1], "ch2": [float(v) for v in ch2],
                  "stored": lockin.num_data_points, "x": float(lockin.query("OUTP?1")),
                  "rate_hz": float(lockin.sample_rate.magnitude)}))
"""


def take_measurement(resource: str) -> dict:
    _, host, port, _ = resource.split("::")
    done = subprocess.run([sys.executable, "-I", "-c", SCRIPT, host, port], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_instrumentkits_sr830_takes_a_buffered_pl_acquisition():
    with VirtualBench("red-cdse", lockin="sr830", seed=5) as bench:
        smu, laser = pixel_under_the_laser(bench)
        dark = take_measurement(bench.resources["lockin"])
        laser.enable(True)
        lit = take_measurement(bench.resources["lockin"])
        laser.shutdown()
        smu.shutdown()
    for run in (dark, lit):
        # 1 s of storage at 64 Hz, begun 0.5 s after STRD: the buffer holds what fell due.
        assert run["rate_hz"] == 64.0
        assert 30 <= run["stored"] <= 40 and len(run["ch1"]) == len(run["ch2"]) == run["stored"]
    ch1 = sorted(lit["ch1"])
    median = ch1[len(ch1) // 2]
    # Channel 1 shows X: the stored PL follows the settled signal; dark, it is noise.
    assert 2e-4 < lit["x"] < 1e-3 and median == pytest.approx(lit["x"], rel=0.1)
    assert max(abs(v) for v in dark["ch1"]) < 0.05 * lit["x"]
