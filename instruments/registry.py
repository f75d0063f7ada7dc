"""Drivers by name, through the ``agelab.drivers`` entry-point group.

A lab adds its own driver without forking AgeLab: a package of theirs declares, in its
pyproject.toml,

    [project.entry-points."agelab.drivers"]
    my-smu = "mylab.drivers:MySourceMeter"

and ``driver: my-smu`` in a station config then opens ``MySourceMeter(resource, **options)``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

GROUP = "agelab.drivers"


@lru_cache(maxsize=1)
def available() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def driver_class(name: str) -> type:
    try:
        entry = available()[name]
    except KeyError:
        known = ", ".join(sorted(available())) or "none installed"
        raise ValueError(f"unknown driver {name!r}; known drivers: {known}") from None
    return entry.load()
