"""Values as Central sends them over HTTP: JSON has no NaN or infinity, so they go as null."""

from __future__ import annotations

import math
from typing import Any


def clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value
