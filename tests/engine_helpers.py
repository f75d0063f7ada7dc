"""Small studies for engine tests, on the virtual bench at high speed-up."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import yaml

from agelab.protocols.config import RunConfig, parse_config
from agelab.protocols.engine.engine import Engine

MEASUREMENTS = {
    "jvl": {"kind": "jv", "start": "0 V", "stop": "4 V", "points": 21, "nplc": 0.01},
    "cv": {"kind": "cv", "start": "-1 V", "stop": "3 V", "points": 11},
    "el": {"kind": "el", "integration": "10 ms"},
    "pl": {"kind": "pl", "time_constant": "1 ms"},
}
CAL = {"blue-znsete": 8.54e7, "red-cdse": 1.70e8}


def channel(name: str, pixel: int, preset: str, j: float, **extra) -> dict:
    ch = {"name": name, "pixel": pixel, "area": "4 mm^2", "cd_m2_per_A": CAL[preset],
          "stress": {"current_density": f"{j} mA/cm^2", "ramp_steps": 10, "ramp_dwell": 0},
          "sampling": "1 min"}
    ch.update(extra)
    return ch


def study(channels: list[dict], presets: list[str], speedup: float = 3000.0,
          **top) -> dict:
    data = {"study": "test", "station": {"virtual": {"pixels": presets, "speedup": speedup,
                                                      "seed": 3, "timeout_ms": 3000}},
            "measurements": MEASUREMENTS, "channels": channels}
    data.update(top)
    return data


def as_config(data: dict) -> tuple[RunConfig, str]:
    text = yaml.safe_dump(data, sort_keys=False)
    return parse_config(text, "test.yaml"), text


def run_in_thread(data: dict, path: Path) -> tuple[Engine, threading.Thread, dict]:
    """Start an engine (in-process bench) on a thread; returns it, the thread and its result."""
    config, text = as_config(data)
    engine = Engine(config, path, config_text=text)
    result: dict = {}

    def target() -> None:
        try:
            result["statuses"] = engine.run()
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    assert engine.wait_started(60), "engine did not start"
    return engine, thread, result


def current_drives(site) -> list[float]:
    """The current densities a pixel's source-meter forced, in order (voltage sweeps left out)."""
    return [j for _, j, volts in site.drive_history if volts is None]


def assert_ramped_down(site, j_stress: float, steps: int) -> None:
    """The pixel ended at 0 after a ramp: from the stress level down in steps of at most
    j_stress/steps, never a jump, and never above the set point."""
    drives = current_drives(site)
    assert drives and drives[-1] == 0.0, f"pixel {site.index} is still driven: {drives[-3:]}"
    assert max(drives) <= j_stress * (1 + 1e-9), "the current overshot its set point"
    last_full = max(i for i, j in enumerate(drives) if abs(j - j_stress) < 1e-9 * j_stress)
    tail = drives[last_full:]
    for a, b in itertools.pairwise(tail):
        assert b <= a + 1e-12, f"not monotonic on the way down: {tail}"
        assert a - b <= j_stress / steps * (1 + 1e-6), f"a step of {a - b} mA/cm^2: {tail}"
    assert len([j for j in tail if 0 < j < j_stress]) >= steps - 1, f"no ramp: {tail}"
