"""Results across runs: each channel's summary row (from a run file), and pooled fits over
them. Grouping for comparison happens in the database (``Database.compare``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from agelab.protocols.analysis.censored import fit_censored
from agelab.protocols.analysis.study import analyse
from agelab.protocols.analysis.summary import channel_summaries, lifetime_points
from agelab.protocols.store.reader import RunFile


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


def pooled_fit(rows: list[dict[str, Any]], level: str, include_censored: bool = True
               ) -> dict[str, Any]:
    """The acceleration fit over every channel in ``rows``, censored channels as T > t_end
    (or left out, with ``include_censored=False``, to show what that does)."""
    points = lifetime_points(rows, level)
    if not include_censored:
        points = [p for p in points if p.reached]
    return fit_censored(level, points).as_dict()
