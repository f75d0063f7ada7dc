"""One summary row per channel of a run, for comparing runs: what was stressed, how it lived.

A T-value a channel did not reach is kept as censored: ``{"t_h": t_end, "reached": false}``,
the stress time it stopped at (the pooled fit reads it as T > t_end).
"""

from __future__ import annotations

import math
from typing import Any

from agelab.protocols.analysis.censored import LifetimePoint
from agelab.protocols.analysis.lifetime import DEFAULT_FRACTIONS
from agelab.protocols.analysis.study import StudyAnalysis

SAMPLE_FIELDS = ("batch", "substrate", "recipe", "operator")


def level_name(fraction: float) -> str:
    return f"T{round(fraction * 100)}"


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def channel_summaries(study: StudyAnalysis, samples: dict[str, dict[str, Any]]
                      ) -> list[dict[str, Any]]:
    """A row per channel; ``samples`` maps a channel to its sample fields."""
    rows = []
    for ch in study.channels:
        sample = samples.get(ch.name, {})
        life = ch.lifetimes
        t_values: dict[str, dict[str, Any]] = {}
        if life is not None:
            for f in DEFAULT_FRACTIONS:
                value = life.from_l0.get(f)
                t_values[level_name(f)] = (
                    {"t_h": value, "se": _finite(life.sigma(f)), "reached": True}
                    if value is not None else {"t_h": life.t_end_h, "reached": False})
        rows.append({
            "channel": ch.name, "device": ch.device, "j_ma_cm2": _finite(ch.j_ma_cm2),
            "temperature_c": _finite(ch.temperature_c),
            "l0": _finite(life.l0) if life else None,
            "l_max": _finite(life.l_max) if life else None,
            "t_end_h": _finite(life.t_end_h) if life else None,
            "status": ch.status, "stop_reason": ch.stop_reason,
            **{k: sample.get(k) for k in SAMPLE_FIELDS}, "device_id": sample.get("device"),
            "tags": sample.get("tags", {}), "t_values": t_values})
    return rows


def lifetime_points(rows: list[dict[str, Any]], level: str) -> list[LifetimePoint]:
    """The rows' lifetimes at ``level`` (e.g. "T50"), censored where not reached."""
    out = []
    for row in rows:
        value = (row.get("t_values") or {}).get(level)
        if value and row.get("l0") and value.get("t_h"):
            out.append(LifetimePoint(f"{row.get('run', '')}/{row['channel']}", row["l0"],
                                     value["t_h"], bool(value["reached"])))
    return out
