"""The checks that need the whole study: safety limits, names that must exist, pixels and
instruments the station must have. Nothing here touches an instrument."""

from __future__ import annotations

from agelab.instruments.registry import driver_class
from agelab.instruments.station.virtual import get_preset
from agelab.protocols.config.schema import (
    ChannelSpec,
    Milestone,
    RunConfig,
    Safety,
    StressSpec,
)


def check_study(config: RunConfig) -> list[tuple[tuple, str]]:
    """Every problem the field validators cannot see: safety limits, names that must exist,
    pixels and instruments that must be on the station. Nothing here touches an instrument.
    Each problem is (the field's location, what is wrong)."""
    problems = _driver_problems(config) + _measurement_problems(config)
    for i, (ch, identity) in enumerate(zip(config.channels, _identity_problems(config),
                                           strict=True)):
        where = ("channels", i)
        problems += identity
        problems += _stress_problems(ch.stress, config.safety, (*where, "stress"))
        problems += _protocol_problems(ch, config, where)
    return problems


def _measurement_problems(config: RunConfig) -> list[tuple[tuple, str]]:
    """Sweeps within the safety limits."""
    problems: list[tuple[tuple, str]] = []
    safety = config.safety
    for name, m in config.measurements.items():
        where = ("measurements", name)
        if m.kind == "jv":
            worst = max(abs(m.start), abs(m.stop))
            if worst > safety.max_voltage:
                problems.append(((*where, "stop"), f"{worst:g} V exceeds safety.max_voltage "
                                                   f"{safety.max_voltage:g} V"))
            if m.max_current_density > safety.max_current_density:
                problems.append(((*where, "max_current_density"),
                                 f"{m.max_current_density:g} mA/cm^2 exceeds "
                                 f"safety.max_current_density {safety.max_current_density:g}"))
        if m.kind == "cv" and max(abs(m.start), abs(m.stop)) > safety.max_voltage:
            problems.append(((*where, "stop"), f"bias beyond safety.max_voltage "
                                               f"{safety.max_voltage:g} V"))
    return problems


def _identity_problems(config: RunConfig) -> list[list[tuple[tuple, str]]]:
    """Channel names and pixels used once each; pixels and instruments the station has (each
    channel's problems apart)."""
    per_channel: list[list[tuple[tuple, str]]] = []
    pixels, instruments = _station_inventory(config)
    seen_names: set[str] = set()
    seen_pixels: dict[int, str] = {}
    seen_setpoints: dict[str, tuple[float, str]] = {}  # controller: (set point, channel)
    for i, ch in enumerate(config.channels):
        where = ("channels", i)
        problems: list[tuple[tuple, str]] = []
        per_channel.append(problems)
        if ch.name in seen_names:
            problems.append(((*where, "name"), f"channel name {ch.name!r} is used twice"))
        seen_names.add(ch.name)
        if ch.pixel in seen_pixels:
            problems.append(((*where, "pixel"), f"pixel {ch.pixel} is already channel "
                                                f"{seen_pixels[ch.pixel]!r}"))
        seen_pixels.setdefault(ch.pixel, ch.name)
        if pixels is not None and ch.pixel > len(pixels):
            problems.append(((*where, "pixel"), f"the virtual station has {len(pixels)} "
                                                f"pixel(s); there is no pixel {ch.pixel}"))
        elif pixels is not None:
            area = _preset_area(pixels[ch.pixel - 1])
            if abs(ch.area - area) > 1e-9 * area:
                problems.append(((*where, "area"), f"{ch.area:g} cm^2 is not the virtual "
                                                   f"pixel's area ({area:g} cm^2)"))
        for role, inst in (("source_meter", ch.smu_name), ("photodetector", ch.pd_name)):
            if instruments is not None and inst not in instruments:
                problems.append(((*where, role), f"no instrument {inst!r} on the station"))
        problems += _temperature_problems(ch, instruments, where, seen_setpoints)
    return per_channel


def _temperature_problems(ch: ChannelSpec, instruments: set[str] | None, where: tuple,
                          seen: dict[str, tuple[float, str]]) -> list[tuple[tuple, str]]:
    """A set temperature needs a controller on the station, and channels on one controller
    (one stage) must ask it for the same set point."""
    t = ch.temperature
    if t is None:
        return []
    at = (*where, "temperature", "controller")
    if t.controller is None:
        return [(at, "name the temperature controller (a virtual bench has one per pixel with "
                     "station.virtual.tec: true)")]
    if instruments is not None and t.controller not in instruments:
        return [(at, f"no temperature controller {t.controller!r} on the station")]
    setpoint, other = seen.setdefault(t.controller, (t.setpoint, ch.name))
    if setpoint != t.setpoint:
        return [((*where, "temperature", "setpoint"),
                 f"{t.controller} holds {setpoint:g} °C for channel {other!r}; one stage has "
                 "one set point")]
    return []


def _stress_problems(s: StressSpec, safety: Safety, where: tuple) -> list[tuple[tuple, str]]:
    """One stress (a current density or a voltage), within the safety limits."""
    problems: list[tuple[tuple, str]] = []
    if s.current_density is None and s.voltage is None:
        problems.append(((*where, "current_density"), "give the stress current density, e.g. "
                                                      "50 mA/cm^2"))
    elif s.current_density is not None and s.voltage is not None:
        problems.append(((*where, "voltage"), "give current_density or voltage, not both"))
    elif s.voltage is not None:
        problems += _voltage_stress_problems(s, safety, where)
    elif s.current_density > safety.max_current_density:
        problems.append(((*where, "current_density"),
                         f"{s.current_density:g} mA/cm^2 exceeds safety.max_current_density "
                         f"{safety.max_current_density:g} mA/cm^2"))
    if s.hold_luminance is not None and s.current_density is None:
        problems.append(((*where, "hold_luminance"), "constant luminance is held by adjusting "
                                                     "a current: give current_density (the "
                                                     "starting drive), not voltage"))
    if s.compliance > safety.max_voltage:
        problems.append(((*where, "compliance"),
                         f"{s.compliance:g} V exceeds safety.max_voltage "
                         f"{safety.max_voltage:g} V"))
    return problems


def _protocol_problems(ch: ChannelSpec, config: RunConfig, where: tuple
                       ) -> list[tuple[tuple, str]]:
    """Checkpoints and milestones that name real measurements, a stop rule, a sampling."""
    problems: list[tuple[tuple, str]] = []
    for j, m in enumerate(ch.checkpoints.measure):
        if m not in config.measurements:
            problems.append(((*where, "checkpoints", "measure", j),
                             f"no measurement named {m!r}"))
    for key, actions in ch.milestones.items():
        try:
            Milestone.parse(key)
        except ValueError as exc:
            problems.append(((*where, "milestones", key), str(exc)))
        for action in actions:
            if action != "stop" and action not in config.measurements:
                problems.append(((*where, "milestones", key),
                                 f"{action!r} is neither 'stop' nor a measurement"))
    if ch.stop.at is not None:
        try:
            Milestone.parse(ch.stop.at)
        except ValueError as exc:
            problems.append(((*where, "stop", "at"), str(exc)))
    if ch.stop.at is None and ch.stop.max_time is None and not any(
            "stop" in a for a in ch.milestones.values()):
        problems.append(((*where, "stop"), "give a stop rule: 'at' a milestone or a "
                                           "'max_time'"))
    if ch.sampling <= 0:
        problems.append(((*where, "sampling"), "must be > 0"))
    if ch.log_sampling is not None and ch.log_sampling.first >= ch.sampling:
        problems.append(((*where, "log_sampling", "first"),
                         f"{ch.log_sampling.first * 3600:g} s is not shorter than the "
                         f"sampling interval ({ch.sampling * 3600:g} s)"))
    return problems


def _voltage_stress_problems(s: StressSpec, safety: Safety, where: tuple
                             ) -> list[tuple[tuple, str]]:
    problems = []
    if s.voltage > safety.max_voltage:
        problems.append(((*where, "voltage"), f"{s.voltage:g} V exceeds safety.max_voltage "
                                              f"{safety.max_voltage:g} V"))
    if s.current_limit is None:
        problems.append(((*where, "current_limit"), "a voltage stress needs its current limit "
                                                    "(the compliance), e.g. 150 mA/cm^2"))
    elif s.current_limit > safety.max_current_density:
        problems.append(((*where, "current_limit"),
                         f"{s.current_limit:g} mA/cm^2 exceeds safety.max_current_density "
                         f"{safety.max_current_density:g} mA/cm^2"))
    return problems


def _station_inventory(config: RunConfig) -> tuple[list[str] | None, set[str] | None]:
    """(pixel presets of a virtual station or None, the station's role names)."""
    st = config.station
    return (st.virtual.presets if st.virtual else None), st.role_names()


def _driver_problems(config: RunConfig) -> list[tuple[tuple, str]]:
    """Every instrument's driver is one AgeLab knows (its own, or a lab's entry point)."""
    problems: list[tuple[tuple, str]] = []
    for name, spec in config.station.instruments.items():
        try:
            driver_class(spec.driver)
        except ValueError as exc:
            problems.append((("station", "instruments", name, "driver"), str(exc)))
        except Exception as exc:  # a lab's entry point that fails to import
            problems.append((("station", "instruments", name, "driver"),
                             f"driver {spec.driver!r} cannot be loaded: {exc}"))
    return problems


def _preset_area(name: str) -> float:
    return get_preset(name).area_cm2
