"""Alerts: rules over what Central holds, delivered through apprise, each recorded.

The rules come from Central's config (``agelab central serve --config central.yaml``)::

    alerts:
      notify: ["mailto://user:pass@example.org", "ntfy://lab-agelab"]   # apprise URLs
      dashboard: https://central.lab.example:8443     # put in each message (optional)
      check_every: 5 s
      cooldown: 15 min            # a repeating condition (a fault burst) at most this often
      silent_station: {after: 45 s}  # beyond 2 x the station's own heartbeat interval
      channel_stopped: true       # a runaway, collapse or compliance stop
      fault_burst: {count: 10, within: 10 min}
      milestones: [T90, T50]
      run_ended: true             # finished, failed or aborted

Each firing has a key (the station and when it was last heard; the run, channel and event),
so one condition sends one message however often it is seen, and a repeating one waits out
the cool-down. An event already older than ``fresh`` when it reached Central (a backfilled
run) is not news and sends nothing. Every message sent is kept in ``alerts`` with whether
apprise delivered it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import apprise
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agelab.protocols.central.database import Database
from agelab.protocols.central.wire import json_object
from agelab.protocols.config.units import Seconds

log = logging.getLogger("agelab.central")
ENDED = ("finished", "failed", "aborted")
ALERT_LOCK = 0x4167654C  # one Central process evaluates at a time (pg advisory lock)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SilentRule(_Rule):
    after: Seconds = 45.0


class BurstRule(_Rule):
    count: int = Field(10, ge=1)
    within: Seconds = 600.0


class AlertRules(_Rule):
    notify: list[str] = Field(default_factory=list)

    @field_validator("notify")
    @classmethod
    def _apprise_knows(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not apprise.Apprise().add(url):
                raise ValueError(f"apprise does not know the URL {url!r}")
        return urls

    dashboard: str | None = None
    check_every: Seconds = Field(5.0, gt=0)
    cooldown: Seconds = Field(900.0, ge=0)
    fresh: Seconds = Field(3600.0, gt=0)
    silent_station: SilentRule | None = SilentRule()
    channel_stopped: bool = True
    fault_burst: BurstRule | None = BurstRule()
    milestones: list[str] = Field(default_factory=lambda: ["T50"])
    run_ended: bool = True


class CentralSettings(_Rule):
    alerts: AlertRules | None = None


class SettingsError(ValueError):
    pass


def load_settings(path: Path) -> CentralSettings:
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return CentralSettings.model_validate(data)
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SettingsError(f"{path}: {where}: {first['msg']}") from None


class Alerter:
    """Evaluates the rules every ``check_every`` on its own thread, and sends what fires."""

    def __init__(self, db: Database, rules: AlertRules) -> None:
        self.db, self.rules = db, rules
        self.notifier = apprise.Apprise()
        for url in rules.notify:  # each checked as the rules were read
            self.notifier.add(url)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alerts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(self.rules.check_every):
            try:
                self.check()
            except Exception as exc:  # a rule's failure must not end the alerting
                log.warning("alerts: %s: %s", type(exc).__name__, exc)

    # ---------------------------------------------------------------- the rules
    def check(self) -> None:
        with self.db.pool.connection() as pg, pg.transaction():
            if not pg.execute("SELECT pg_try_advisory_xact_lock(%s)", (ALERT_LOCK,)
                              ).fetchone()[0]:
                return  # another Central process is evaluating
            found = self._silent(pg) + self._ended(pg) + self._events(pg)
        for rule, key, title, body, repeats in found:
            self._fire(rule, key, title, body, repeats)

    def _silent(self, pg: Any) -> list[tuple]:
        if self.rules.silent_station is None:
            return []
        rows = pg.execute(
            "SELECT s.name, s.last_heard, extract(epoch FROM now() - s.last_heard), "
            "COALESCE((s.shipper->>'interval_s')::float8, 5) FROM stations s WHERE "
            "s.last_heard IS NOT NULL AND EXISTS (SELECT 1 FROM runs r WHERE r.station = "
            "s.name AND r.status = 'running')").fetchall()
        out = []
        for name, heard, silent, interval in rows:
            if silent > 2 * interval + self.rules.silent_station.after:
                out.append(("silent_station", f"{name}@{heard.timestamp():.3f}",
                            f"AgeLab: station {name} is silent",
                            f"Nothing from station {name} for {silent:.0f} s (last heard "
                            f"{heard:%Y-%m-%d %H:%M:%S %Z}) while a run is going. Its run "
                            "file keeps everything; check the station PC and its network.",
                            False))
        return out

    def _ended(self, pg: Any) -> list[tuple]:
        rows = pg.execute(
            "SELECT r.id, r.uid, r.station, r.study, r.status, m.run_id IS NULL "
            "FROM runs r LEFT JOIN alert_marks m ON m.run_id = r.id "
            "WHERE m.run_id IS NULL OR r.status IS DISTINCT FROM m.status").fetchall()
        out = []
        for run_id, uid, station, study, status, new in rows:
            pg.execute("INSERT INTO alert_marks (run_id, event_id, status) VALUES (%s, 0, %s) "
                       "ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status",
                       (run_id, status))
            if new:  # first seen: its events so far are history, not news
                pg.execute("UPDATE alert_marks SET event_id = (SELECT COALESCE(MAX(id), 0) "
                           "FROM events WHERE run_id = %s AND wall < extract(epoch FROM now())"
                           " - %s) WHERE run_id = %s", (run_id, self.rules.fresh, run_id))
            if self.rules.run_ended and not new and status in ENDED:
                out.append(("run_ended", f"{uid}:{status}",
                            f"AgeLab: run {study} on {station} {status}",
                            f"Run {study} ({uid}) on station {station} has {status}."
                            + self._link(f"/run/{uid}"), False))
        return out

    def _events(self, pg: Any) -> list[tuple]:
        rows = pg.execute(
            "SELECT e.run_id, e.id, r.uid, r.station, r.study, c.name, e.kind, e.detail, "
            "e.wall FROM events e JOIN alert_marks m ON m.run_id = e.run_id JOIN runs r ON "
            "r.id = e.run_id LEFT JOIN channels c ON c.run_id = e.run_id AND c.id = e.channel "
            "WHERE e.id > m.event_id AND e.kind IN ('runaway', 'milestone', 'fault') "
            "ORDER BY e.run_id, e.id").fetchall()
        out, newest = [], {}
        for run_id, eid, uid, station, study, channel, kind, detail_text, wall in rows:
            newest[run_id] = eid
            detail = json_object(detail_text)
            where = f"{channel} of run {study} on {station}"
            link = self._link(f"/run/{uid}?channel={channel}")
            if kind == "runaway" and self.rules.channel_stopped:
                out.append(("channel_stopped", f"{uid}:{channel}:{eid}",
                            f"AgeLab: {channel} on {station} stopped",
                            f"{where} was stopped: {detail.get('reason', 'runaway')}. Its "
                            "output was ramped down and switched off." + link, False))
            elif kind == "milestone" and detail.get("name") in self.rules.milestones:
                out.append(("milestone", f"{uid}:{channel}:{detail['name']}",
                            f"AgeLab: {channel} on {station} reached {detail['name']}",
                            f"{where} reached {detail['name']} at "
                            f"{detail.get('t_cross_h', float('nan')):.4g} h." + link, False))
            elif kind == "fault" and self.rules.fault_burst is not None:
                burst = self.rules.fault_burst
                n = pg.execute("SELECT count(*) FROM events WHERE run_id = %s AND kind = "
                               "'fault' AND channel IS NOT DISTINCT FROM (SELECT id FROM "
                               "channels WHERE run_id = %s AND name = %s) AND wall > %s",
                               (run_id, run_id, channel, wall - burst.within)).fetchone()[0]
                if n >= burst.count:
                    out.append(("fault_burst", f"{uid}:{channel}",
                                f"AgeLab: a burst of faults on {station}",
                                f"{n} instrument faults within {burst.within:.0f} s on "
                                f"{channel or 'the station'} of run {study}. The run goes on; "
                                "check the cabling and the instruments." + link, True))
        for run_id, eid in newest.items():
            pg.execute("UPDATE alert_marks SET event_id = %s WHERE run_id = %s", (eid, run_id))
        return out

    def _link(self, path: str) -> str:
        return f"\n{self.rules.dashboard.rstrip('/')}{path}" if self.rules.dashboard else ""

    # ---------------------------------------------------------------- sending
    def _fire(self, rule: str, key: str, title: str, body: str, repeats: bool) -> None:
        with self.db.pool.connection() as pg:
            window = self.rules.cooldown if repeats else None
            seen = pg.execute(
                "SELECT 1 FROM alerts WHERE rule = %s AND key = %s AND (%s::float8 IS NULL OR "
                "fired > now() - make_interval(secs => %s))",
                (rule, key, window, window or 0)).fetchone()
            if seen:
                return
            aid = pg.execute("INSERT INTO alerts (rule, key, title, body, targets, delivered) "
                             "VALUES (%s, %s, %s, %s, %s, false) RETURNING id",
                             (rule, key, title, body, len(self.notifier))).fetchone()[0]
            pg.commit()
        delivered, error = False, None
        if len(self.notifier):
            try:
                delivered = bool(self.notifier.notify(title=title, body=body))
                error = None if delivered else "apprise reported a failed delivery"
            except Exception as exc:  # a sender's bug must not stop the rules
                error = f"{type(exc).__name__}: {exc}"
        else:
            error = "no notify URLs configured"
        with self.db.pool.connection() as pg:
            pg.execute("UPDATE alerts SET delivered = %s, error = %s WHERE id = %s",
                       (delivered, error, aid))
            pg.execute("SELECT pg_notify('agelab_live', %s)", (f"alert {aid}",))
        log.info("alert %s %s: %s (%s)", rule, key, title,
                 "delivered" if delivered else error)


def recent_alerts(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    return _alert_rows(db, "ORDER BY id DESC LIMIT %s", (limit,))


def alerts_by_id(db: Database, ids: list[int]) -> list[dict[str, Any]]:
    return _alert_rows(db, "WHERE id = ANY(%s) ORDER BY id", (ids,)) if ids else []


def _alert_rows(db: Database, tail: str, args: tuple) -> list[dict[str, Any]]:
    with db.pool.connection() as pg:
        rows = pg.execute("SELECT id, rule, key, fired, title, body, targets, delivered, error "
                          "FROM alerts " + tail, args).fetchall()
    return [{"id": r[0], "rule": r[1], "key": r[2], "fired": r[3].isoformat(), "title": r[4],
             "body": r[5], "targets": r[6], "delivered": r[7], "error": r[8]} for r in rows]

