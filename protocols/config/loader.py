"""Reading a config: YAML, ``defaults`` merged into every channel, validation, and each problem
turned into one line that names the file, its line and the field."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from agelab.protocols.config.checks import check_study
from agelab.protocols.config.schema import ConfigError, RunConfig


def load_config(path: Path | str) -> RunConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "<config>") -> RunConfig:
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}{line}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: a config is a mapping with study, station and channels")
    data = _merge_defaults(data)
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(_where(source, root, first["loc"], data) + _message(first)) from None
    for loc, message in check_study(config):
        raise ConfigError(_where(source, root, loc, data) + message)
    return config


def _merge_defaults(data: dict) -> dict:
    defaults = data.get("defaults") or {}
    channels = data.get("channels")
    if not isinstance(defaults, dict) or not isinstance(channels, list):
        return data
    merged = []
    for ch in channels:
        merged.append(_deep_merge(defaults, ch) if isinstance(ch, dict) else ch)
    return {**data, "channels": merged}


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _message(error: dict) -> str:
    msg = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        msg = "unknown field (check its spelling)"
    elif error["type"] == "missing":
        msg = "required field is missing"
    return msg


def _where(source: str, root: yaml.Node | None, loc: tuple, data: dict) -> str:
    """``file:line: dotted.path: `` for a validation location, the line found in the YAML (a
    channel field that came from ``defaults`` points at the defaults)."""
    if loc[:1] == ("measurements",) and len(loc) > 2 and loc[2] in ("jv", "cv", "el", "pl"):
        loc = loc[:2] + loc[3:]  # pydantic's discriminator tag is not a YAML key
    node, found = _walk(root, loc)
    if not found and len(loc) > 2 and loc[0] == "channels":
        from_defaults, in_defaults = _walk(root, ("defaults", *loc[2:]))
        if in_defaults:
            node = from_defaults
    line = f":{node.start_mark.line + 1}" if node is not None else ""
    path = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc)
    path = path.replace(".[", "[")
    if loc[:1] == ("channels",) and len(loc) > 1 and isinstance(loc[1], int):
        name = _channel_name(data, loc[1])
        if name:
            path = path.replace(f"channels[{loc[1]}]", f"channels[{loc[1]}] ({name})", 1)
    return f"{source}{line}: {path}: " if path else f"{source}{line}: "


def _channel_name(data: dict, index: int) -> str | None:
    channels = data.get("channels")
    if isinstance(channels, list) and index < len(channels) and isinstance(channels[index], dict):
        name = channels[index].get("name")
        return str(name) if name is not None else None
    return None


def _child(node: yaml.Node | None, part: object) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if str(key.value) == str(part):
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def _walk(root: yaml.Node | None, loc: tuple) -> tuple[yaml.Node | None, bool]:
    """The YAML node at ``loc``, or the deepest one on the way; and whether all of ``loc`` was
    found."""
    node = root
    for part in loc:
        child = _child(node, part)
        if child is None:
            return node, False
        node = child
    return node, True
