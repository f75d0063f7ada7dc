"""The study a user writes: one validated model of station, channels and protocol.

``load_config(path)`` reads YAML, merges ``defaults`` into every channel, validates units and
ranges (pydantic + pint), then checks everything against the safety limits and the station. Any
problem is one ``ConfigError`` line naming the file, its line and the field; nothing here touches
an instrument, so an unsafe study is refused before anything is sourced.
"""

from agelab.protocols.config.checks import check_study
from agelab.protocols.config.loader import load_config, parse_config
from agelab.protocols.config.schema import (
    EXCLUSIVE_KINDS,
    ChannelSpec,
    ConfigError,
    CVSpec,
    ELSpec,
    JVSpec,
    Milestone,
    PLSpec,
    RunConfig,
    Safety,
    StressSpec,
)

__all__ = ["EXCLUSIVE_KINDS", "CVSpec", "ChannelSpec", "ConfigError", "ELSpec", "JVSpec",
           "Milestone", "PLSpec", "RunConfig", "Safety", "StressSpec", "check_study",
           "load_config", "parse_config"]
