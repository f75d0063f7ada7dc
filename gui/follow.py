"""Following a run file as it grows: what the dashboard draws, read off the GUI thread.

``RunFollower.poll()`` reads only what is new since the last poll (samples after each channel's
last stress time; sweeps, spectra, readings and events after the last id), folds it into bounded
views (``DecimatingSeries`` for the histories, thinned lists for the families, a fixed-size EL heat
map), and returns an immutable ``RunFrame``. The same code follows a run of this window's own
engine and one written by ``agelab run`` in another process: both are just a run file.

Nothing here touches Qt; ``gui.workers.FollowWorker`` calls ``poll`` on its own thread.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agelab.gui.series import DecimatingSeries
from agelab.protocols.analysis.spectra import SpectrumFigures, spectrum_figures
from agelab.protocols.analysis.study import ELPLPoint, el_pl_trend
from agelab.protocols.store import RunFile, RunFileError, engine_is_writing

MAX_EVENTS = 2000        # events kept for the log (the file keeps them all)
MAX_SWEEPS = 60          # per channel and kind: the first and the most recent
HEAT_ROWS = 400          # EL spectra kept in the heat map (older rows thinned)
HEAT_BINS = 256          # wavelength bins of the heat map
SERIES_CAPACITY = 1024   # buckets per history curve: about one per pixel of a plot

# How an event shows in the log.
ERROR_KINDS = {"error", "step-failed", "output-off-failed", "runaway", "aborted",
               "bench-restarted", "display-error"}
WARNING_KINDS = {"fault", "gap", "paused", "interruption-failed"}
QUIET_FAULTS = {"recovered", "reconnected", "reconfigured"}


def severity(event: dict[str, Any]) -> str:
    """'error', 'warning' or 'info': how loudly the log shows an event."""
    kind = event.get("kind")
    if kind == "fault":
        fault = (event.get("detail") or {}).get("fault")
        if fault == "gave-up":
            return "error"
        return "info" if fault in QUIET_FAULTS else "warning"
    if kind in ERROR_KINDS:
        return "error"
    return "warning" if kind in WARNING_KINDS else "info"


def _thin(items: list, keep: int) -> list:
    """The first item and the ``keep - 1`` most recent."""
    return items if len(items) <= keep else [items[0], *items[-(keep - 1):]]


@dataclass
class _Channel:
    name: str
    pixel: int
    area_cm2: float
    j_ma_cm2: float
    state: dict[str, Any] = field(default_factory=dict)
    luminance: DecimatingSeries = field(default_factory=lambda: DecimatingSeries(SERIES_CAPACITY))
    voltage: DecimatingSeries = field(default_factory=lambda: DecimatingSeries(SERIES_CAPACITY))
    t_last: float | None = None
    last: tuple[float, float, float, float] | None = None  # t_h, J, V, L
    jv: list[dict[str, Any]] = field(default_factory=list)
    cv: list[dict[str, Any]] = field(default_factory=list)
    el: list[dict[str, Any]] = field(default_factory=list)   # t_h and label only (for EL/PL)
    el_figures: list[SpectrumFigures] = field(default_factory=list)
    latest_el: dict[str, Any] | None = None
    heat: list[np.ndarray] = field(default_factory=list)
    heat_t: list[float] = field(default_factory=list)
    heat_grid: np.ndarray | None = None
    heat_matrix: np.ndarray | None = None  # ``heat`` stacked, rebuilt only when it changes
    pl: list[dict[str, Any]] = field(default_factory=list)
    el_pl: list[ELPLPoint] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=lambda: {"jv": 0, "cv": 0, "el": 0, "pl": 0})


@dataclass(frozen=True)
class ChannelFrame:
    """One channel, ready to draw."""

    name: str
    pixel: int
    status: str
    state: dict[str, Any]
    l0: float | None
    t_l: np.ndarray
    l_rel: np.ndarray
    t_v: np.ndarray
    v: np.ndarray
    samples: int
    last: tuple[float, float, float, float] | None
    jv: tuple[dict[str, Any], ...]
    cv: tuple[dict[str, Any], ...]
    latest_el: dict[str, Any] | None
    heat: np.ndarray | None          # (rows, HEAT_BINS) counts/s, one row per EL spectrum
    heat_t: np.ndarray
    heat_grid: np.ndarray | None     # wavelength of each bin
    el_figures: tuple[SpectrumFigures, ...]
    el_pl: tuple[ELPLPoint, ...]

    @property
    def l_rel_now(self) -> float | None:
        if self.last is None or not self.l0:
            return None
        return self.last[3] / self.l0


@dataclass(frozen=True)
class RunFrame:
    path: Path
    study: str
    status: str                      # the file's status: running, finished, stopped
    live: bool                       # an engine is writing it now
    heartbeat_age_s: float | None
    software: str
    kind: str                        # "study" or "benchtop"
    channels: tuple[ChannelFrame, ...]
    events: tuple[dict[str, Any], ...]
    event_counts: dict[str, int]
    version: int


class RunFollower:
    """Incremental reader of one run file. Call ``poll`` from one thread only."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._run: RunFile | None = None
        self._channels: dict[str, _Channel] = {}
        self._events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)
        self._event_counts = {"error": 0, "warning": 0, "info": 0}
        self._event_id = 0
        self._version = 0
        self._meta: dict[str, Any] = {}

    def close(self) -> None:
        if self._run is not None:
            self._run.close()
            self._run = None

    def poll(self) -> RunFrame:
        """Read what is new; raises ``RunFileError`` for a file that is not a run."""
        if self._run is None:
            self._run = RunFile(self.path)
        run = self._run
        try:
            self._meta = run.meta()
            for info in run.channels():
                ch = self._channels.get(info.name)
                if ch is None:
                    ch = self._channels[info.name] = _Channel(info.name, info.pixel,
                                                              info.area_cm2, info.j_ma_cm2)
                ch.state = info.state
                self._read_channel(run, ch)
            for event in run.events(after_id=self._event_id):
                self._event_id = event["id"]
                event["severity"] = severity(event)
                self._event_counts[event["severity"]] += 1
                self._events.append(event)
        except (ValueError, OSError) as exc:  # e.g. sqlite3.DatabaseError on a damaged file
            raise RunFileError(f"{self.path}: cannot be read: {exc}") from None
        self._version += 1
        return self.frame()

    # ---------------------------------------------------------------- reading
    def _read_channel(self, run: RunFile, ch: _Channel) -> None:
        data = (run.samples(ch.name) if ch.t_last is None
                else run.samples_after(ch.name, ch.t_last))
        if len(data):
            ch.luminance.extend(data[:, 0], data[:, 3])
            ch.voltage.extend(data[:, 0], data[:, 2])
            ch.t_last = float(data[-1, 0])
            ch.last = tuple(float(x) for x in data[-1])
        elif ch.t_last is None:
            ch.t_last = -math.inf
        for kind in ("jv", "cv"):
            new = run.sweeps(ch.name, kind, after_id=ch.ids[kind])
            if new:
                ch.ids[kind] = new[-1]["id"]
                target = ch.jv if kind == "jv" else ch.cv
                target.extend({k: s[k] for k in ("t_h", "label", "x", "y", "z")} for s in new)
                target[:] = _thin(target, MAX_SWEEPS)
        spectra = run.spectra(ch.name, "el", after_id=ch.ids["el"])
        for s in spectra:
            ch.ids["el"] = s["id"]
            if not s["counts"].size:
                continue
            ch.el.append({"t_h": s["t_h"], "label": s["label"]})
            ch.el_figures.append(spectrum_figures(s["t_h"], s["wavelength_nm"], s["counts"],
                                                  s["integration_s"]))
            ch.latest_el = s
            self._add_heat_row(ch, s)
        readings = run.readings(ch.name, "pl", after_id=ch.ids["pl"])
        if readings:
            ch.ids["pl"] = readings[-1]["id"]
            ch.pl.extend(readings)
        if spectra or readings:
            ch.el_pl = el_pl_trend(ch.el, ch.el_figures, ch.pl)

    @staticmethod
    def _add_heat_row(ch: _Channel, spectrum: dict[str, Any]) -> None:
        wl = spectrum["wavelength_nm"]
        if ch.heat_grid is None:
            ch.heat_grid = np.linspace(float(wl.min()), float(wl.max()), HEAT_BINS)
        rate = spectrum["counts"] / max(spectrum["integration_s"] or 1.0, 1e-9)
        ch.heat.append(np.interp(ch.heat_grid, wl, rate).astype(np.float32))
        ch.heat_t.append(spectrum["t_h"])
        ch.heat_matrix = None
        if len(ch.heat) > HEAT_ROWS:  # thin the older half: the recent evolution stays dense
            half = len(ch.heat) // 2
            ch.heat[:half] = ch.heat[:half:2]
            ch.heat_t[:half] = ch.heat_t[:half:2]

    # ---------------------------------------------------------------- the frame
    def frame(self) -> RunFrame:
        meta = self._meta
        heartbeat = meta.get("heartbeat")
        channels = tuple(self._channel_frame(ch) for ch in self._channels.values())
        return RunFrame(
            path=self.path, study=str(meta.get("study", self.path.stem)),
            status=str(meta.get("status", "unknown")), live=engine_is_writing(meta),
            heartbeat_age_s=(time.time() - heartbeat) if isinstance(heartbeat, float) else None,
            software=str(meta.get("software", "")), kind=str(meta.get("kind", "study")),
            channels=channels, events=tuple(self._events),
            event_counts=dict(self._event_counts), version=self._version)

    @staticmethod
    def _channel_frame(ch: _Channel) -> ChannelFrame:
        l0 = ch.state.get("l0") or ch.luminance.first
        t_l, lum = ch.luminance.arrays()
        t_v, v = ch.voltage.arrays()
        if ch.heat and ch.heat_matrix is None:
            ch.heat_matrix = np.vstack(ch.heat)
        return ChannelFrame(
            name=ch.name, pixel=ch.pixel, status=str(ch.state.get("status", "pending")),
            state=dict(ch.state), l0=l0, t_l=t_l, l_rel=lum / l0 if l0 else lum * np.nan,
            t_v=t_v, v=v, samples=ch.luminance.count, last=ch.last, jv=tuple(ch.jv),
            cv=tuple(ch.cv), latest_el=ch.latest_el,
            heat=ch.heat_matrix, heat_t=np.array(ch.heat_t),
            heat_grid=ch.heat_grid, el_figures=tuple(ch.el_figures), el_pl=tuple(ch.el_pl))
