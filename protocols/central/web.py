"""The dashboard: pages, login, and the live feed, served by Central itself.

The pages are static HTML and scripts (``static/``) with uPlot vendored beside them, so they
work with no internet. Every page needs a session: a viewer's or operator's token traded at
``/login`` for an HttpOnly, SameSite=Strict cookie. The data come from the same API the CLI
uses; the live feed is ``/api/v1/stream`` (Server-Sent Events).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from agelab.protocols.central.database import Database
from agelab.protocols.central.feed import LiveFeed
from agelab.protocols.central.operators import (
    SESSION_HOURS,
    close_session,
    open_session,
    session_caller,
)

STATIC = Path(__file__).parent / "static"
PAGES = {"fleet": "fleet.html", "run": "run.html", "compare": "compare.html"}
KEEPALIVE_S = 15.0
POLL_S = 0.2  # how often an open stream looks for new messages (the feed flushes every 0.25 s)
# Scripts only from Central itself; uPlot sizes its elements with inline styles.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
}


def add_dashboard(app: FastAPI, db: Database, feed: LiveFeed, caller: Callable,
                  session_cookie: str) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def page(name: str, request: Request) -> Response:
        session = request.cookies.get(session_cookie)
        if not session or session_caller(db, session) is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return FileResponse(STATIC / PAGES[name], headers=SECURITY_HEADERS)

    @app.get("/", include_in_schema=False)
    def fleet_page(request: Request) -> Response:
        return page("fleet", request)

    @app.get("/run/{uid}", include_in_schema=False)
    def run_page(uid: str, request: Request) -> Response:
        return page("run", request)

    @app.get("/compare", include_in_schema=False)
    def compare_page(request: Request) -> Response:
        return page("compare", request)

    @app.get("/login", include_in_schema=False)
    def login_page() -> Response:
        return FileResponse(STATIC / "login.html", headers=SECURITY_HEADERS)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body())[:4096].decode(errors="replace"))
        token = (form.get("token") or [""])[0].strip()
        target = (form.get("next") or ["/"])[0]
        if not target.startswith("/") or target.startswith("//"):
            target = "/"  # never off to another site
        opened = open_session(db, token) if token else None
        if opened is None:
            return RedirectResponse(f"/login?failed=1&next={quote(target)}", status_code=303)
        session, _, _ = opened
        reply = RedirectResponse(target, status_code=303)
        reply.set_cookie(session_cookie, session, max_age=SESSION_HOURS * 3600, httponly=True,
                         samesite="strict", secure=request.url.scheme == "https", path="/")
        return reply

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        session = request.cookies.get(session_cookie)
        if session:
            close_session(db, session)
        reply = RedirectResponse("/login", status_code=303)
        reply.delete_cookie(session_cookie, path="/")
        return reply

    @app.get("/api/v1/stream", tags=["read"])
    async def stream(request: Request, after: str | None = None,
                     last_event_id: Annotated[str | None, Header()] = None,
                     _: Any = Depends(caller)) -> StreamingResponse:  # noqa: B008
        """Server-Sent Events: a message per change (a run's tiles, a station's heartbeat,
        an alert), each with an id; reconnecting with ``Last-Event-ID`` (or ``?after=``, the
        ``feed`` id the fleet call returned) resumes after it. ``resync`` means fetch the fleet
        again."""
        return StreamingResponse(_events(request, feed, last_event_id or after),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})


async def _events(request: Request, feed: LiveFeed, last: str | None) -> AsyncIterator[str]:
    last = last or feed.newest_id()
    yield "retry: 2000\n\n"
    quiet_since = time.monotonic()
    while not feed.closed and not await request.is_disconnected():
        messages, resync = feed.after(last)
        if resync:
            last = feed.newest_id()
            yield f"id: {last}\nevent: resync\ndata: {{}}\n\n"
        for mid, text in messages:
            last = mid
            yield f"id: {mid}\ndata: {text}\n\n"
        if messages or resync:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_S)
