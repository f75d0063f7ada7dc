"""Central's uvicorn server: on shutdown it first ends the dashboard's live streams.

uvicorn waits for open responses to finish before it stops; a Server-Sent Events stream never
finishes by itself, so without this every open browser would hold the shutdown until uvicorn's
grace period ran out and it cancelled them (with a traceback in the log).
"""

from __future__ import annotations

import socket

import uvicorn


class CentralServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = getattr(self.config.app, "state", None)
        feed = getattr(state, "feed", None)
        if feed is not None:
            feed.close()  # each stream sees it within its next poll and ends
        await super().shutdown(sockets)
