"""The dashboard's live feed: what changed, as Server-Sent Events numbered for resuming.

One thread per Central process LISTENs on PostgreSQL's ``agelab_rows`` and ``agelab_live``
channels (every batch of rows, snapshot and heartbeat notifies one), gathers which runs and
stations changed, and every ``FLUSH_S`` turns each into one message: a run's tiles, or a
station's last word. Messages are numbered ``<epoch>-<seq>`` and the last ``KEEP`` are kept, so
a browser that lost its connection resumes after the last one it saw (EventSource sends it as
``Last-Event-ID``); one that missed more, or knew a Central since restarted, is told to fetch
the fleet again (``resync``), never to reload the page.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections import deque
from typing import Any

import psycopg

from agelab.protocols.central.alerts import alerts_by_id
from agelab.protocols.central.database import Database
from agelab.protocols.central.fleet import run_update, station_update
from agelab.protocols.central.wire import clean

FLUSH_S = 0.25
KEEP = 5000
log = logging.getLogger("agelab.central")


class LiveFeed:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self.messages: deque[tuple[int, str]] = deque(maxlen=KEEP)  # (seq, JSON text)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="live-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def publish(self, message: dict[str, Any]) -> None:
        message = {**message, "now": time.time()}
        with self._lock:
            self.seq += 1
            self.messages.append((self.seq, json.dumps(clean(message))))

    def after(self, last_id: str | None) -> tuple[list[tuple[str, str]], bool]:
        """The messages after ``last_id`` as (id, JSON), and whether the caller must resync
        (it missed messages no longer kept, or its id is from another epoch)."""
        with self._lock:
            newest = self.seq
            kept = list(self.messages)
        start = newest
        resync = False
        if last_id:
            epoch, _, seq_text = last_id.partition("-")
            if epoch != self.epoch or not seq_text.isdigit():
                resync = True
            else:
                start = int(seq_text)
                oldest = kept[0][0] if kept else newest + 1
                resync = start < oldest - 1
                start = min(start, newest)
        if resync:
            return [], True
        return [(f"{self.epoch}-{seq}", text) for seq, text in kept if seq > start], False

    def newest_id(self) -> str:
        with self._lock:
            return f"{self.epoch}-{self.seq}"

    # ---------------------------------------------------------------- the listening thread
    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.db.url, autocommit=True) as pg:
                    pg.execute("LISTEN agelab_rows")
                    pg.execute("LISTEN agelab_live")
                    self._drain(pg)
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    log.warning("live feed: %s; listening again in 2 s", exc)
                    self.publish({"type": "resync"})  # whatever was missed meanwhile
                    self._stop.wait(2.0)

    def _drain(self, pg: psycopg.Connection) -> None:
        runs: set[int] = set()
        stations: set[str] = set()
        alerts: set[int] = set()
        due = time.monotonic() + FLUSH_S
        while not self._stop.is_set():
            for note in pg.notifies(timeout=FLUSH_S, stop_after=500):
                head, _, rest = note.payload.partition(" ")
                if note.channel == "agelab_live" and head == "station":
                    stations.add(rest)
                elif note.channel == "agelab_live" and head == "alert" and rest.isdigit():
                    alerts.add(int(rest))
                elif head.isdigit():
                    runs.add(int(head))
            if time.monotonic() >= due:
                self._flush(runs, stations, alerts)
                runs, stations, alerts = set(), set(), set()
                due = time.monotonic() + FLUSH_S

    def _flush(self, runs: set[int], stations: set[str], alerts: set[int]) -> None:
        for alert in alerts_by_id(self.db, sorted(alerts)):
            self.publish({"type": "alert", **alert})
        for name in sorted(stations):
            message = station_update(self.db, name)
            if message:
                self.publish(message)
        for run_id in sorted(runs):
            message = run_update(self.db, run_id)
            if message:
                self.publish(message)
