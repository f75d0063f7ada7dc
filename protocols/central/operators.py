"""The dashboard's logins and the operators' stop commands, kept in Central's PostgreSQL.

A login trades a viewer or operator token for a session: a random id in an HttpOnly cookie, of
which Central keeps only the hash, valid for ``SESSION_HOURS`` and ended with the token. A stop
is queued here; the station's shipper fetches it on its next exchange (the station opens no
port), hands it to the engine, and says so; the operator event in the run file's rows marks it
carried out.
"""

from __future__ import annotations

import secrets
from typing import Any

from agelab.protocols.central.database import Database, token_hash

SESSION_HOURS = 12


def open_session(db: Database, token: str) -> tuple[str, str, str] | None:
    """(session id, name, role) for a live viewer or operator token, or None."""
    who = db.who(token)
    if who is None or who[1] not in ("viewer", "operator"):
        return None
    session = secrets.token_urlsafe(32)
    with db.pool.connection() as pg:
        pg.execute("DELETE FROM sessions WHERE expires < now()")
        pg.execute("INSERT INTO sessions VALUES (%s, %s, now() + make_interval(hours => %s))",
                   (token_hash(session), who[0], SESSION_HOURS))
    return session, who[0], who[1]


def session_caller(db: Database, session: str) -> tuple[str, str] | None:
    """(name, role) behind a live session of a live token, or None."""
    with db.pool.connection() as pg:
        row = pg.execute("SELECT t.name, t.role FROM sessions s JOIN tokens t ON t.name = "
                         "s.token WHERE s.hash = %s AND s.expires > now() AND t.revoked IS "
                         "NULL", (token_hash(session),)).fetchone()
    return (row[0], row[1]) if row else None


def close_session(db: Database, session: str) -> None:
    with db.pool.connection() as pg:
        pg.execute("DELETE FROM sessions WHERE hash = %s", (token_hash(session),))


def queue_stop(db: Database, run_id: int, channel: str | None, by: str) -> int:
    """Queue a stop of ``channel`` (the whole run if None); returns the command's id."""
    with db.pool.connection() as pg:
        cid = pg.execute("INSERT INTO commands (run_id, channel, action, by_token) VALUES "
                         "(%s, %s, 'stop', %s) RETURNING id", (run_id, channel, by)
                         ).fetchone()[0]
        pg.execute("SELECT pg_notify('agelab_rows', %s)", (f"{run_id} commands",))
    return cid


def pending_for(db: Database, station: str) -> list[dict[str, Any]]:
    """The station's commands not yet handed to its engine, oldest first."""
    with db.pool.connection() as pg:
        rows = pg.execute(
            "SELECT c.id, r.uid, c.channel, c.action, c.by_token FROM commands c JOIN runs r ON "
            "r.id = c.run_id WHERE r.station = %s AND c.delivered IS NULL ORDER BY c.id",
            (station,)).fetchall()
    return [{"id": r[0], "run": str(r[1]), "channel": r[2], "action": r[3], "by": r[4]}
            for r in rows]


def mark_delivered(db: Database, command: int, station: str) -> bool:
    with db.pool.connection() as pg:
        cur = pg.execute("UPDATE commands c SET delivered = now() FROM runs r WHERE c.id = %s "
                         "AND r.id = c.run_id AND r.station = %s AND c.delivered IS NULL",
                         (command, station))
        return cur.rowcount == 1


def mark_done(db: Database, run_id: int, commands: list[int]) -> None:
    if commands:
        with db.pool.connection() as pg:
            pg.execute("UPDATE commands SET done = now(), delivered = COALESCE(delivered, now())"
                       " WHERE run_id = %s AND id = ANY(%s) AND done IS NULL",
                       (run_id, commands))


def commands_of(db: Database, run_id: int) -> list[dict[str, Any]]:
    with db.pool.connection() as pg:
        rows = pg.execute("SELECT id, channel, action, by_token, requested, delivered, done FROM "
                          "commands WHERE run_id = %s ORDER BY id", (run_id,)).fetchall()
    return [{"id": r[0], "channel": r[1], "action": r[2], "by": r[3],
             "requested": r[4].isoformat(), "delivered": r[5] and r[5].isoformat(),
             "done": r[6] and r[6].isoformat()} for r in rows]
