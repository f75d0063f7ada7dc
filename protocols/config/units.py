"""Physical quantities in a config: '10 mA/cm^2', '1 min', '4 mm^2', parsed with pint.

Each field has a canonical unit; the config model stores plain floats in it. A bare number is taken
in the canonical unit (documented per field), a string must carry a unit pint can convert.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated

from pydantic import BeforeValidator


@lru_cache(maxsize=1)
def unit_registry():
    """The one pint registry of the program (quantities from different registries do not mix)."""
    import pint

    return pint.UnitRegistry()


def to_unit(value: object, unit: str) -> float:
    """``value`` (a number in ``unit``, or a string with units) as a float in ``unit``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a quantity in {unit}, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a quantity such as '1 {unit}', got {value!r}")
    import pint

    ureg = unit_registry()
    try:
        quantity = ureg.Quantity(value.strip())
    except Exception as exc:  # pint's parser raises many kinds on odd text
        # (tokenize.TokenError for '[', among others: the fuzzer found it); a user's typo is a
        # config error, never a traceback.
        raise ValueError(f"cannot read {value!r} as a quantity ({exc})") from None
    if isinstance(quantity, (int, float)):
        return float(quantity)
    try:
        return float(quantity.to(unit).magnitude)
    except pint.errors.DimensionalityError:
        raise ValueError(f"{value!r} is not convertible to {unit}") from None


def to_celsius(value: object) -> float:
    """A temperature (a number in °C, or '85 °C', '85 degC', '358 K') in °C. Temperatures are
    offset units: pint reads '85 degC' only as a magnitude and a unit, not as a product."""
    if isinstance(value, bool):
        raise ValueError(f"expected a temperature, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    m = re.fullmatch(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*)?", text)
    if m is None:
        raise ValueError(f"cannot read {value!r} as a temperature, e.g. '85 °C'")
    magnitude, unit = float(m.group(1)), (m.group(2) or "degC").strip()
    unit = {"°C": "degC", "C": "degC", "℃": "degC", "°F": "degF", "F": "degF"}.get(unit, unit)
    import pint

    try:
        return float(unit_registry().Quantity(magnitude, unit).to("degC").magnitude)
    except (pint.errors.UndefinedUnitError, pint.errors.DimensionalityError, AttributeError):
        raise ValueError(f"{value!r} is not a temperature, e.g. '85 °C'") from None


def quantity(unit: str):
    return BeforeValidator(lambda v: to_unit(v, unit))


# Canonical units of the config model.
CurrentDensity = Annotated[float, quantity("mA/cm^2")]
Voltage = Annotated[float, quantity("V")]
Current = Annotated[float, quantity("A")]
Hours = Annotated[float, quantity("hour")]
Seconds = Annotated[float, quantity("s")]
AreaCm2 = Annotated[float, quantity("cm^2")]
Hertz = Annotated[float, quantity("Hz")]
Watts = Annotated[float, quantity("W")]
Celsius = Annotated[float, BeforeValidator(to_celsius)]
Kelvins = Annotated[float, quantity("kelvin")]  # a temperature difference
