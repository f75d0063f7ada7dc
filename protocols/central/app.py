"""Central's HTTP API (FastAPI): stations send their runs' rows, viewers read and compare them.

Every request carries a bearer token. A station token writes only its own station's runs (the
station is the token's name); a viewer token only reads. The OpenAPI schema at ``/openapi.json``
(and the pages at ``/docs``) documents every route.
"""


import base64
import binascii
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import numpy as np
import psycopg
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from agelab.protocols import __version__
from agelab.protocols.analysis.censored import FitError
from agelab.protocols.central.alerts import Alerter, CentralSettings, recent_alerts
from agelab.protocols.central.channel_view import channel_detail
from agelab.protocols.central.database import BYTEA, KEY, SAMPLE_WIDTH, CentralError, Database
from agelab.protocols.central.feed import LiveFeed
from agelab.protocols.central.fleet import fleet, run_tiles
from agelab.protocols.central.operators import (
    commands_of,
    mark_delivered,
    mark_done,
    pending_for,
    queue_stop,
    session_caller,
)
from agelab.protocols.central.rebuild import export_bytes, report_html, run_file_bytes
from agelab.protocols.central.results import pooled_fit, summaries_of_bytes
from agelab.protocols.central.web import add_dashboard
from agelab.protocols.central.wire import clean
from agelab.protocols.store.reader import APPEND_ONLY, RunFileError

API = "/api/v1"
SESSION_COOKIE = "agelab_session"
CSRF_HEADER = "X-AgeLab-CSRF"
MAX_BODY = 512 << 20  # a finished run file may be large; nothing else comes near
log = logging.getLogger("agelab.central")


class Caller:
    def __init__(self, name: str, role: str) -> None:
        self.name, self.role = name, role


def create_app(db: Database, settings: CentralSettings | None = None) -> FastAPI:
    """Central's API and dashboard on ``db``; with ``settings.alerts``, the alerts too. The
    live feed and the alerts run on their own threads for as long as the app is served."""
    settings = settings or CentralSettings()
    feed = LiveFeed(db)
    alerter = Alerter(db, settings.alerts) if settings.alerts is not None else None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        feed.start()
        if alerter is not None:
            alerter.start()
        try:
            yield
        finally:
            feed.close()
            if alerter is not None:
                alerter.close()

    app = FastAPI(title="AgeLab Central", version=__version__, lifespan=lifespan,
                  description="Every station's runs in one PostgreSQL, compared across runs.")
    app.state.feed, app.state.alerter = feed, alerter

    def caller(request: Request, authorization: Annotated[str | None, Header()] = None
               ) -> Caller:
        """Who calls: a bearer token (stations, scripts), or the dashboard's session cookie.
        A cookie's write must also carry the header a page's own script sets: another site's
        form cannot (cross-site request forgery)."""
        scheme, _, token = (authorization or "").partition(" ")
        who = db.who(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        session = request.cookies.get(SESSION_COOKIE)
        if who is None and session:
            who = session_caller(db, session)
            if who is not None and request.method not in ("GET", "HEAD") and (
                    request.headers.get(CSRF_HEADER) != "1"):
                raise HTTPException(403, f"a write from the dashboard needs {CSRF_HEADER}")
        if who is None:
            raise HTTPException(401, "a valid bearer token is needed",
                                headers={"WWW-Authenticate": "Bearer"})
        return Caller(*who)

    def operator(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.role != "operator":
            raise HTTPException(403, f"token {who.name!r} is a {who.role} token: only an "
                                "operator stops channels")
        return who

    def station(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.role != "station":
            raise HTTPException(403, f"token {who.name!r} is a {who.role} token: it cannot write")
        db.heard_from(who.name)
        return who

    def owned_run(uid: str, who: Caller) -> int:
        found = db.run_id(_uid(uid))
        if found is None:
            raise HTTPException(404, f"no run {uid}")
        if found[1] != who.name:
            raise HTTPException(403, f"run {uid} belongs to station {found[1]!r}")
        return found[0]

    def any_run(uid: str) -> int:
        found = db.run_id(_uid(uid))
        if found is None:
            raise HTTPException(404, f"no run {uid}")
        return found[0]

    @app.exception_handler(CentralError)
    async def _refused(_: Request, exc: CentralError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(psycopg.DataError)
    @app.exception_handler(psycopg.IntegrityError)
    async def _bad_values(_: Request, exc: psycopg.Error) -> JSONResponse:
        return JSONResponse({"detail": f"values Central cannot store: {exc}"}, status_code=422)

    @app.exception_handler(psycopg.OperationalError)
    async def _database_down(_: Request, exc: psycopg.OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return JSONResponse({"detail": "Central's database is unavailable; try again"},
                            status_code=503)

    # ---------------------------------------------------------------- stations write
    @app.post(f"{API}/runs/{{uid}}/hello", tags=["stations"])
    def hello(uid: str, body: dict[str, Any], who: Annotated[Caller, Depends(station)]
              ) -> dict[str, Any]:
        """Register a run for the calling station (or find it); returns Central's high-water
        mark per table, from which the shipper sends."""
        meta = body.get("meta")
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise HTTPException(422, "meta: a map of key to JSON text")
        try:
            run_id = db.register_run(_uid(uid), who.name, meta)
        except PermissionError as exc:
            raise HTTPException(403, str(exc)) from None
        if isinstance(body.get("shipper"), dict):
            db.heard_from(who.name, body["shipper"])
        return {"run": uid, "marks": db.marks(run_id)}

    @app.post(f"{API}/runs/{{uid}}/rows/{{table}}", tags=["stations"])
    async def rows(uid: str, table: str, request: Request,
                   who: Annotated[Caller, Depends(station)]) -> dict[str, Any]:
        """Append rows of one table, each ``[key, *columns]`` as the run file stores it (bytes as
        base64); rows Central holds already are skipped."""
        if table not in APPEND_ONLY:
            raise HTTPException(404, f"no table {table!r}")
        run_id = await run_in_threadpool(owned_run, uid, who)
        batch = _rows(await _json(request), table)
        added = await run_in_threadpool(db.insert_rows, run_id, table, batch)
        if table == "events":  # an operator's stop the engine carried out
            await run_in_threadpool(mark_done, db, run_id, _commands_done(batch))
        return {"added": added, "mark": max((r[0] for r in batch), default=0)}

    @app.post(f"{API}/runs/{{uid}}/samples", tags=["stations"])
    async def samples(uid: str, request: Request, who: Annotated[Caller, Depends(station)]
                      ) -> dict[str, Any]:
        """Append samples as one binary block: little-endian float64, rows of (seq, channel,
        t_h, wall, j_ma_cm2, v_v, l_cd_m2, i_pd_a), NaN for a missing value. The same as
        ``rows/samples``, at a fraction of the cost (a 24-hour backlog is millions of rows)."""
        run_id = await run_in_threadpool(owned_run, uid, who)
        data = await _body(request)
        if len(data) % (8 * SAMPLE_WIDTH):
            raise HTTPException(422, f"samples: a whole number of {SAMPLE_WIDTH}-value rows")
        block = np.frombuffer(data, dtype="<f8").reshape(-1, SAMPLE_WIDTH)
        added = await run_in_threadpool(db.insert_samples, run_id, block)
        return {"added": added, "mark": int(block[:, 0].max()) if len(block) else 0}

    @app.put(f"{API}/runs/{{uid}}/snapshot", tags=["stations"])
    def snapshot(uid: str, body: dict[str, Any], who: Annotated[Caller, Depends(station)]
                 ) -> dict[str, str]:
        """The rows that change in place: the run's metadata and its channels."""
        run_id = owned_run(uid, who)
        meta = body.get("meta")
        if meta is not None and (not isinstance(meta, dict) or
                                 not all(isinstance(v, str) for v in meta.values())):
            raise HTTPException(422, "meta: a map of key to JSON text")
        channels = body.get("channels") or []
        need = {"id", "name", "pixel", "area_cm2", "j_ma_cm2", "state", "sample"}
        if not isinstance(channels, list) or not all(
                isinstance(c, dict) and need <= set(c) for c in channels):
            raise HTTPException(422, f"channels: a list of rows with {sorted(need)}")
        db.snapshot(run_id, meta, channels)
        return {"run": uid}

    @app.put(f"{API}/runs/{{uid}}/file", tags=["stations"])
    async def upload(uid: str, request: Request, who: Annotated[Caller, Depends(station)],
                     x_content_sha256: Annotated[str, Header()],
                     x_run_state: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """The finished run file, checked against its SHA-256; its summary rows are computed."""
        run_id = await run_in_threadpool(owned_run, uid, who)
        data = await _body(request)
        if hashlib.sha256(data).hexdigest() != x_content_sha256.lower():
            raise HTTPException(422, "the file's SHA-256 does not match X-Content-SHA256")
        try:
            summary = await run_in_threadpool(summaries_of_bytes, data)
        except (RunFileError, ValueError) as exc:
            raise HTTPException(422, f"not a readable run file: {exc}") from None
        await run_in_threadpool(db.store_file, run_id, data, x_content_sha256.lower(),
                                x_run_state)
        await run_in_threadpool(db.store_summaries, run_id, summary)
        return {"run": uid, "bytes": len(data), "channels": len(summary)}

    @app.post(f"{API}/heartbeat", tags=["stations"])
    def heartbeat(body: dict[str, Any], who: Annotated[Caller, Depends(station)]
                  ) -> dict[str, Any]:
        """The shipper's own heartbeat, with its progress (sent, backlog, lag); the answer
        carries the operators' commands queued for the station's runs."""
        db.heard_from(who.name, body)
        return {"station": who.name, "commands": pending_for(db, who.name)}

    @app.post(f"{API}/commands/{{command}}/delivered", tags=["stations"])
    def delivered(command: int, who: Annotated[Caller, Depends(station)]) -> dict[str, Any]:
        """The shipper handed the command to its run's engine."""
        if not mark_delivered(db, command, who.name):
            raise HTTPException(404, f"no command {command} waiting for station {who.name!r}")
        return {"command": command}

    # ---------------------------------------------------------------- operators act
    @app.post(f"{API}/runs/{{uid}}/stop", tags=["operators"], status_code=202)
    def stop(uid: str, body: dict[str, Any], who: Annotated[Caller, Depends(operator)]
             ) -> dict[str, Any]:
        """Stop a channel (``{"channel": NAME}``) or the whole run (``{}``): queued until the
        station's shipper fetches it; the engine ramps the output down and off."""
        run_id = any_run(uid)
        channel = body.get("channel")
        if channel is not None and (not isinstance(channel, str)
                                    or not db.has_channel(run_id, channel)):
            raise HTTPException(404, f"no channel {str(channel)[:60]!r} in run {uid}")
        command = queue_stop(db, run_id, channel, who.name)
        log.info("%s asked to stop %s of run %s (command %d)", who.name,
                 channel or "every channel", uid, command)
        return {"command": command, "run": uid, "channel": channel, "by": who.name}

    # ---------------------------------------------------------------- everyone reads
    @app.get(f"{API}/whoami", tags=["read"])
    def whoami(who: Annotated[Caller, Depends(caller)]) -> dict[str, str]:
        return {"name": who.name, "role": who.role}

    @app.get(f"{API}/stations", tags=["read"])
    def stations(_: Annotated[Caller, Depends(caller)]) -> list[dict[str, Any]]:
        """Every station, and how long since it was last heard from."""
        return db.stations()

    @app.get(f"{API}/runs", tags=["read"])
    def runs(_: Annotated[Caller, Depends(caller)]) -> list[dict[str, Any]]:
        return db.runs()

    @app.get(f"{API}/fleet", tags=["read"])
    def fleet_view(who: Annotated[Caller, Depends(caller)]) -> JSONResponse:
        """Every station, its latest runs and a tile per channel, with a sparkline each;
        ``feed``: the live feed's id as of this answer (stream from it, miss nothing)."""
        feed_id = feed.newest_id()
        # Straight to JSON: FastAPI's own encoder walks every value of thousands of tiles.
        return JSONResponse(clean({**fleet(db), "feed": feed_id,
                                   "you": {"name": who.name, "role": who.role}}))

    @app.get(f"{API}/runs/{{uid}}", tags=["read"])
    def run_view(uid: str, _: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
        """A run: its metadata, its channels' tiles, the operators' commands."""
        run_id = any_run(uid)
        info = next(r for r in db.runs() if r["uid"] == _uid(uid))
        return clean({**info, "meta": db.run_meta(run_id),
                      "channels": run_tiles(db, [run_id]).get(run_id, []),
                      "commands": commands_of(db, run_id)})

    @app.get(f"{API}/runs/{{uid}}/channels/{{channel}}", tags=["read"])
    def channel_view(uid: str, channel: str, _: Annotated[Caller, Depends(caller)]
                     ) -> dict[str, Any]:
        """A channel's page: its sweeps, spectra, EL/PL trend and events (each capped)."""
        return clean(channel_detail(db, any_run(uid), channel))

    @app.get(f"{API}/alerts", tags=["read"])
    def alerts(_: Annotated[Caller, Depends(caller)],
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        """The latest alerts, each with what was sent and whether it was delivered."""
        return recent_alerts(db, limit)

    @app.get(f"{API}/runs/{{uid}}/report", tags=["read"])
    def report(uid: str, _: Annotated[Caller, Depends(caller)]) -> Response:
        """The run's report (``agelab report`` on the uploaded file, else on the rows
        Central holds), as one self-contained HTML page."""
        run_id = any_run(uid)
        data = db.run_file(run_id) or run_file_bytes(db.dump_run(run_id))
        html = report_html(data)
        return Response(html, media_type="text/html", headers={
            "Content-Disposition": f'attachment; filename="report-{uid[:8]}.html"'})

    @app.get(f"{API}/runs/{{uid}}/export", tags=["read"])
    def export(uid: str, _: Annotated[Caller, Depends(caller)],
               format: Annotated[str, Query(pattern="^(csv|hdf5)$")] = "csv") -> Response:
        """The run exported as ``agelab export`` writes it: CSV files in a zip, or HDF5."""
        run_id = any_run(uid)
        data = db.run_file(run_id) or run_file_bytes(db.dump_run(run_id))
        body, kind, name = export_bytes(data, format)
        return Response(body, media_type=kind, headers={
            "Content-Disposition": f'attachment; filename="run-{uid[:8]}.{name}"'})

    @app.get(f"{API}/runs/{{uid}}/runfile", tags=["read"])
    def runfile(uid: str, _: Annotated[Caller, Depends(caller)]) -> Response:
        """The run rebuilt from Central's rows, as a run file (SQLite)."""
        data = run_file_bytes(db.dump_run(any_run(uid)))
        return Response(data, media_type="application/vnd.sqlite3")

    @app.get(f"{API}/runs/{{uid}}/file", tags=["read"])
    def uploaded(uid: str, _: Annotated[Caller, Depends(caller)]) -> Response:
        """The run file the station uploaded when the run ended."""
        data = db.run_file(any_run(uid))
        if data is None:
            raise HTTPException(404, f"run {uid} has no uploaded file yet")
        return Response(data, media_type="application/vnd.sqlite3")

    @app.get(f"{API}/runs/{{uid}}/channels/{{channel}}/curve", tags=["read"])
    def curve(uid: str, channel: str, _: Annotated[Caller, Depends(caller)],
              points: Annotated[int, Query(ge=10, le=100_000)] = 2000) -> dict[str, Any]:
        """L and V against stress time, at most ``points`` points: min/max buckets of a long
        history, never more points than the plot has pixels."""
        return clean(db.curve(any_run(uid), channel, points))

    @app.post(f"{API}/runs/{{uid}}/summaries", tags=["stations"])
    def recompute(uid: str, who: Annotated[Caller, Depends(station)]) -> dict[str, Any]:
        """Recompute the run's summary rows from its uploaded file."""
        run_id = owned_run(uid, who)
        data = db.run_file(run_id)
        if data is None:
            raise HTTPException(404, f"run {uid} has no uploaded file yet")
        summary = summaries_of_bytes(data)
        db.store_summaries(run_id, summary)
        return {"run": uid, "channels": len(summary)}

    def selection(run: list[str], device: str | None, batch: list[str], where: list[str]
                  ) -> list[dict[str, Any]]:
        return db.summaries(runs=[_uid(r) for r in run], device=device, batches=batch,
                            field_filters=_filters(where))

    @app.get(f"{API}/summaries", tags=["read"])
    def summaries(_: Annotated[Caller, Depends(caller)],
                  run: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI's idiom)
                  device: str | None = None,
                  batch: Annotated[list[str], Query()] = [],  # noqa: B006
                  where: Annotated[list[str], Query()] = []  # noqa: B006
                  ) -> list[dict[str, Any]]:
        """One row per channel of every run with an uploaded file."""
        return clean(selection(run, device, batch, where))

    @app.get(f"{API}/compare", tags=["read"])
    def compared(_: Annotated[Caller, Depends(caller)], by: str = "batch", level: str = "T50",
                 run: Annotated[list[str], Query()] = [],  # noqa: B006
                 device: str | None = None,
                 batch: Annotated[list[str], Query()] = [],  # noqa: B006
                 where: Annotated[list[str], Query()] = []  # noqa: B006
                 ) -> list[dict[str, Any]]:
        """Each group's lifetimes at each current density: median and spread."""
        filters = _filters(where)
        return clean(db.compare(by, level, runs=[_uid(r) for r in run], device=device,
                                 batches=batch, field_filters=filters))

    @app.get(f"{API}/fit", tags=["read"])
    def fit(_: Annotated[Caller, Depends(caller)], level: str = "T50",
            run: Annotated[list[str], Query()] = [],  # noqa: B006
            device: str | None = None,
            batch: Annotated[list[str], Query()] = [],  # noqa: B006
            where: Annotated[list[str], Query()] = [],  # noqa: B006
            censored: bool = True) -> dict[str, Any]:
        """The pooled acceleration fit over the selected channels, censored ones as T > t_end,
        with its 95 % interval and the extrapolation to 100 and 1000 cd/m²."""
        try:
            return clean(pooled_fit(selection(run, device, batch, where), level, censored))
        except FitError as exc:
            raise HTTPException(422, str(exc)) from None

    add_dashboard(app, db, feed, caller, SESSION_COOKIE)
    return app


# ---------------------------------------------------------------------------- request parsing
def _commands_done(events: list[tuple]) -> list[int]:
    """Central's command ids named by operator events (``central-<id>``)."""
    done = []
    for row in events:
        try:
            detail = json.loads(row[APPEND_ONLY["events"].index("detail") + 1] or "{}")
        except (json.JSONDecodeError, TypeError):
            continue
        command = detail.get("command") if isinstance(detail, dict) else None
        if isinstance(command, str) and command.startswith("central-"):
            number = command.removeprefix("central-")
            if number.isdigit():
                done.append(int(number))
    return done


def _filters(where: list[str]) -> dict[str, str]:
    filters = {}
    for item in where:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HTTPException(422, f"where: KEY=VALUE, not {item!r}")
        filters[key.removeprefix("tag:")] = value
    return filters


def _uid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise HTTPException(422, f"not a run uid: {text[:60]!r}") from None


async def _body(request: Request) -> bytes:
    size = request.headers.get("content-length")
    if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
        raise HTTPException(413, f"a request body is at most {MAX_BODY >> 20} MiB")
    return await request.body()


async def _json(request: Request) -> Any:
    try:
        return json.loads(await _body(request))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(422, f"the body is not JSON: {exc}") from None


def _rows(body: Any, table: str) -> list[tuple]:
    """A batch of rows checked for shape, bytes decoded from base64."""
    width = len(APPEND_ONLY[table]) + 1
    rows = body.get("rows") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise HTTPException(422, "rows: a list of [key, *columns]")
    blobs = [k + 1 for k, c in enumerate(APPEND_ONLY[table]) if c in BYTEA.get(table, ())]
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != width or not isinstance(row[0], int):
            raise HTTPException(422, f"each {table} row is [{KEY[table]}, "
                                f"{', '.join(APPEND_ONLY[table])}]")
        if blobs:
            row = list(row)
            for k in blobs:
                try:
                    row[k] = None if row[k] is None else base64.b64decode(row[k], validate=True)
                except (binascii.Error, TypeError):
                    raise HTTPException(422, f"{table}: column {k} is not base64") from None
        out.append(tuple(row))
    return out
