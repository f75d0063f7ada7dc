"""Formatting shared by the SCPI drivers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator


def scpi_list(values: Iterable[float]) -> str:
    """A SCPI numeric list: ``0,0.5,1`` (six significant digits, no spaces)."""
    return ",".join(f"{float(v):.6g}" for v in values)


def completed(inst, message: str = "*OPC?") -> None:
    """Send ``message`` (ending in ``*OPC?``) and check that the instrument answered 1: a garbled
    answer is a fault to retry, not a go-ahead to take silently."""
    reply = inst.ask(message).strip()
    if reply.rpartition(";")[2] != "1":
        raise ValueError(f"{inst.name}: {message.rpartition(';')[2]} answered {reply!r}")


def fields(inst, query: str, count: int) -> list[str]:
    """The ``count`` comma-separated fields of a reply, as written (a field's digits are its
    resolution)."""
    reply = inst.ask(query).strip().split(",")
    if len(reply) != count:
        raise ValueError(f"{inst.name}: {query} gave {len(reply)} fields, expected {count}")
    return reply


def numbers(inst, query: str, count: int) -> list[float]:
    """``count`` comma-separated numbers, every one of them checked: pymeasure's ``values`` keeps
    a field it cannot read as a string, so garbage in a field the caller drops went unseen."""
    return [float(f) for f in fields(inst, query, count)]


def read_block_verified(inst, query: str, size: int, again: str | None = None,
                        reads: int = 3) -> bytes:
    """A binary block has no checksum, and a flipped byte in it is a plausible wrong number; the
    data survive reading (``again`` fetches them again, if not ``query`` itself), so it is read
    until two reads agree. A read that disagreed on the way was a garbled transfer the driver got
    past: it is noted in ``inst.corrected``, which the resilience layer puts on record."""
    previous = None
    for k in range(reads):
        inst.write(query if k == 0 or again is None else again)
        raw = inst.read_bytes(size)
        if raw == previous:
            if k > 1:
                note_corrected(inst, f"a binary transfer was garbled; read {k + 1} times until "
                                     "two agreed")
            return raw
        previous = raw
    raise ValueError(f"{inst.name}: the block read differently each time (garbled transfer)")


def note_corrected(inst, text: str) -> None:
    corrected = getattr(inst, "corrected", None)
    if corrected is None:
        corrected = []
        inst.corrected = corrected
    corrected.append(text)


@contextlib.contextmanager
def longer_timeout(inst, seconds: float) -> Iterator[None]:
    """The connection's timeout raised to ``seconds`` (never lowered) for what runs inside:
    an operation the instrument takes that long over before it answers."""
    conn = getattr(inst.adapter, "connection", None)
    saved = getattr(conn, "timeout", None)
    if conn is not None and saved is not None:
        conn.timeout = max(saved, seconds * 1000)
    try:
        yield
    finally:
        if conn is not None and saved is not None:
            conn.timeout = saved
