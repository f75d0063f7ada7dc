"""Operator commands for a running engine, as files beside its run file.

Another process (the shipper, carrying a stop queued at Central) drops a command into the run's
inbox folder, ``<run file>.commands/``; the engine takes it on its next tick and carries it out
through its ordinary abort path. A file is written under a temporary name and renamed, so the
engine never reads half of one. Nothing listens on a port.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACTIONS = ("stop",)


@dataclass(frozen=True)
class Command:
    id: str               # unique within the inbox (Central's command id, say)
    action: str           # "stop"
    channel: str | None   # None: the whole run
    by: str               # who asked (a token's name)
    via: str = "central"


def inbox_of(run_path: Path | str) -> Path:
    path = Path(run_path)
    return path.with_name(path.name + ".commands")


def post(run_path: Path | str, command: Command) -> Path:
    """Drop ``command`` into the run's inbox (atomically); returns the file."""
    if command.action not in ACTIONS:
        raise ValueError(f"unknown command {command.action!r}: one of {', '.join(ACTIONS)}")
    folder = inbox_of(run_path)
    folder.mkdir(exist_ok=True)
    target = folder / f"{_safe(command.id)}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".part")
    with os.fdopen(fd, "w") as out:
        json.dump(command.__dict__, out)
    os.replace(tmp, target)
    return target


def take(run_path: Path | str) -> tuple[list[Command], list[str]]:
    """The commands waiting in the run's inbox, oldest first, each removed as it is read; and
    a message for each file that was not a command (moved aside as ``*.rejected``)."""
    folder = inbox_of(run_path)
    if not folder.is_dir():
        return [], []
    commands, problems = [], []
    for path in sorted(folder.glob("*.json"), key=_written):
        try:
            fields: Any = json.loads(path.read_text())
            command = Command(**fields)
            if command.action not in ACTIONS:
                raise ValueError(f"unknown action {command.action!r}")
        except (OSError, ValueError, TypeError) as exc:
            problems.append(f"{path.name}: not a command ({exc})")
            with contextlib.suppress(OSError):
                path.replace(path.with_suffix(".rejected"))
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # it would be read again: say so rather than run it twice
            problems.append(f"{path.name}: read but not removable ({exc}); not carried out")
            continue
        commands.append(command)
    return commands, problems


def _written(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:  # gone since the listing: sorted first, then not found and reported
        return 0


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:80] or "command"
