"""Values as Central reads and sends them: the run file's JSON text read back as a mapping,
and NaN or infinity sent as null (JSON has neither)."""

from __future__ import annotations

import json
import math
from typing import Any


def json_object(text: str | None) -> dict[str, Any]:
    """A JSON object kept as text (a state, a sample block, an event's detail) as a dict:
    empty for nothing, ``{"text": ...}`` for text that is not a JSON object."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"text": text}
    return value if isinstance(value, dict) else {"text": text}


def clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value
