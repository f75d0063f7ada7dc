"""The station's side of Central's API: a bearer token over HTTP(S), nothing listening here."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from agelab.protocols.store.reader import APPEND_ONLY

BYTES = {"sweeps": {"x", "y", "z"}, "spectra": {"wavelength", "counts"}}


class CentralUnreachable(ConnectionError):
    """Central did not answer (down, restarting, or the network is cut): try again later."""


class CentralRefused(PermissionError):
    """Central answered no (a bad token, another station's run, a malformed request)."""


def read_token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"token file {path}: {exc.strerror or exc}") from None
    if not token or any(c.isspace() for c in token):
        raise ValueError(f"token file {path}: holds no token (one line, as "
                         "`agelab central token add` printed it)")
    return token


class CentralClient:
    def __init__(self, url: str, token: str, timeout_s: float = 10.0,
                 verify: bool | str = True) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"--central: an http:// or https:// URL, not {url!r}")
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url + "/api/v1", timeout=timeout_s,
                                  headers={"Authorization": f"Bearer {token}"}, verify=verify)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            reply = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise CentralUnreachable(f"{self.url}: {type(exc).__name__}: {exc}") from None
        if reply.status_code >= 500 or reply.status_code in (408, 429):
            raise CentralUnreachable(f"{self.url}: {reply.status_code} {reply.text[:200]}")
        if reply.status_code >= 400:
            try:
                detail = reply.json().get("detail")
            except ValueError:
                detail = reply.text[:200]
            raise CentralRefused(f"{self.url}{path}: {reply.status_code}: {detail}")
        ctype = reply.headers.get("content-type", "")
        return reply.json() if ctype.startswith("application/json") else reply.content

    # ---------------------------------------------------------------- writing
    def hello(self, uid: str, meta: dict[str, str], shipper: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/runs/{uid}/hello", json={"meta": meta, "shipper": shipper}
                          )["marks"]

    def rows(self, uid: str, table: str, rows: list[tuple]) -> int:
        if table == "samples":  # millions of them after an outage: one binary block
            block = np.array(rows, dtype="<f8")  # None (SQLite's NULL) becomes NaN
            return self._call("POST", f"/runs/{uid}/samples", content=block.tobytes(),
                              headers={"Content-Type": "application/octet-stream"})["added"]
        blobs = [k + 1 for k, c in enumerate(APPEND_ONLY[table]) if c in BYTES.get(table, ())]
        payload = []
        for row in rows:
            row = list(row)
            for k in blobs:
                if row[k] is not None:
                    row[k] = base64.b64encode(row[k]).decode()
            payload.append(row)
        return self._call("POST", f"/runs/{uid}/rows/{table}", json={"rows": payload})["added"]

    def snapshot(self, uid: str, meta: dict[str, str] | None, channels: list[dict]) -> None:
        self._call("PUT", f"/runs/{uid}/snapshot", json={"meta": meta, "channels": channels})

    def upload(self, uid: str, data: bytes, sha256: str, state: str) -> None:
        self._call("PUT", f"/runs/{uid}/file", content=data,
                   headers={"X-Content-SHA256": sha256, "X-Run-State": state,
                            "Content-Type": "application/vnd.sqlite3"})

    def heartbeat(self, progress: dict[str, Any]) -> list[dict[str, Any]]:
        """Send the shipper's progress; returns the operator commands queued for this station."""
        reply = self._call("POST", "/heartbeat", json=progress)
        commands = reply.get("commands") if isinstance(reply, dict) else None
        return [c for c in commands or [] if isinstance(c, dict)]

    def delivered(self, command: int) -> None:
        self._call("POST", f"/commands/{command}/delivered")

    # ---------------------------------------------------------------- reading
    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=params)
