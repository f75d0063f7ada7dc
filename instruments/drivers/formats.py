"""Formatting shared by the SCPI drivers."""

from __future__ import annotations

from collections.abc import Iterable


def scpi_list(values: Iterable[float]) -> str:
    """A SCPI numeric list: ``0,0.5,1`` (six significant digits, no spaces)."""
    return ",".join(f"{float(v):.6g}" for v in values)
