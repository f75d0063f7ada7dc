"""Results across runs: each channel's summary row, grouped for comparison, and pooled fits."""

from __future__ import annotations

import statistics
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from agelab.protocols.analysis.censored import fit_censored
from agelab.protocols.analysis.study import analyse
from agelab.protocols.analysis.summary import channel_summaries, lifetime_points
from agelab.protocols.store.reader import RunFile

GROUP_FIELDS = ("batch", "substrate", "recipe", "operator", "device", "device_id", "station")


def summaries_of_file(path: Path) -> list[dict[str, Any]]:
    """The summary rows of a run file (the analysis ``agelab report`` runs)."""
    with RunFile(path) as run:
        samples = {ch.name: ch.sample for ch in run.channels()}
        return channel_summaries(analyse(run), samples)


def summaries_of_bytes(data: bytes) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.sqlite"
        path.write_bytes(data)
        return summaries_of_file(path)


def group_key(row: dict[str, Any], by: str) -> str:
    if by.startswith("tag:"):
        return str((row.get("tags") or {}).get(by[4:], "(none)"))
    if by not in GROUP_FIELDS:
        raise ValueError(f"cannot group by {by!r}: one of {', '.join(GROUP_FIELDS)} or tag:NAME")
    value = row.get(by)
    return "(none)" if value in (None, "") else str(value)


def compare(rows: list[dict[str, Any]], by: str, level: str) -> list[dict[str, Any]]:
    """Each group's lifetimes at ``level`` at each current density: how many channels, how many
    reached it, the median and the spread (min, max) of those that did, and the longest stress
    of those that did not (their T is longer than it)."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(group_key(row, by), round(row.get("j_ma_cm2") or 0.0, 6))].append(row)
    out = []
    for (name, j), members in sorted(groups.items()):
        values = [(m.get("t_values") or {}).get(level) for m in members]
        reached = sorted(v["t_h"] for v in values if v and v["reached"])
        censored = [v["t_h"] for v in values if v and not v["reached"]]
        out.append({
            by: name, "j_ma_cm2": j, "channels": len(members), "reached": len(reached),
            "censored": len(censored),
            "median_h": statistics.median(reached) if reached else None,
            "min_h": reached[0] if reached else None, "max_h": reached[-1] if reached else None,
            "censored_beyond_h": max(censored) if censored else None,
            "median_is_bound": len(censored) >= len(reached) and bool(censored)})
    return out


def pooled_fit(rows: list[dict[str, Any]], level: str, include_censored: bool = True
               ) -> dict[str, Any]:
    """The acceleration fit over every channel in ``rows``, censored channels as T > t_end
    (or left out, with ``include_censored=False``, to show what that does)."""
    points = lifetime_points(rows, level)
    if not include_censored:
        points = [p for p in points if p.reached]
    return fit_censored(level, points).as_dict()
