"""The virtual bench: a physics model of QLED pixels and the instruments that measure them."""

from agelab.instruments.sim.model.presets import PRESETS, Preset, get_preset
from agelab.instruments.sim.model.qled import Condition, GroundTruth, Photodiode, QledPixel

__all__ = ["PRESETS", "Condition", "GroundTruth", "Photodiode", "Preset", "QledPixel",
           "get_preset"]
