"""A private PostgreSQL in Central's data folder: made on first use, started, and stopped on exit.

The server binaries are PostgreSQL's own: ``pg_ctl`` where it is on PATH, else the ones the
``pgserver`` wheel ships (a dependency of AgeLab, so a fresh machine needs nothing by hand). The
cluster listens on 127.0.0.1 only, on a port chosen free when it is made, and asks for the
password that ``initdb`` was given (kept in the folder, readable by its owner only). PostgreSQL
refuses to run as root; started by root, the cluster belongs to and runs as the ``postgres``
user (or ``nobody``), who must be able to reach the folder.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from pathlib import Path

import psycopg


class PostgresError(RuntimeError):
    """The private PostgreSQL could not be made or started."""


def server_binaries() -> Path:
    """The folder with ``pg_ctl``, ``initdb`` and ``postgres``."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin:
        folder = Path(spec.origin).parent / "pginstall" / "bin"
        if (folder / "pg_ctl").is_file():
            return folder
    raise PostgresError("no PostgreSQL found: pg_ctl is not on PATH and the pgserver package "
                        "is not installed (pip install pgserver), or give --db postgresql://...")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> str | None:
    """Who runs the server: None (this user) unless we are root, whom PostgreSQL refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PostgresError("PostgreSQL does not run as root, and this machine has no 'postgres' or "
                        "'nobody' user to run it as")


class EmbeddedPostgres:
    """The cluster in ``folder`` (``folder/cluster``, its settings in ``folder/postgres.json``)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder).resolve()
        self.cluster = self.folder / "cluster"
        self.settings_path = self.folder / "postgres.json"
        self.bin = server_binaries()
        self.user = _server_user()
        self._started_here = False

    # ---------------------------------------------------------------- settings
    def _settings(self) -> dict:
        return json.loads(self.settings_path.read_text())

    @property
    def url(self) -> str:
        s = self._settings()
        return f"postgresql://agelab:{s['password']}@127.0.0.1:{s['port']}/agelab"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([str(self.bin / args[0]), *args[1:]], capture_output=True,
                              text=True, user=self.user, cwd=self.folder, check=False)
        if done.returncode != 0:
            raise PostgresError(f"{args[0]} failed: {(done.stderr or done.stdout).strip()}")
        return done

    def _own(self, path: Path) -> None:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    # ---------------------------------------------------------------- life
    def _initialise(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        pwfile = self.folder / ".pwfile"
        pwfile.write_text(password)
        pwfile.chmod(0o600)
        self._own(pwfile)
        self.cluster.mkdir(mode=0o700)
        self._own(self.cluster)
        try:
            self._run("initdb", "-D", str(self.cluster), "-U", "agelab", "-E", "UTF8",
                      "--auth=scram-sha-256", f"--pwfile={pwfile}", "--no-instructions")
        except PostgresError as exc:
            shutil.rmtree(self.cluster, ignore_errors=True)
            hint = (f" (the cluster runs as {self.user!r}, who must be able to reach "
                    f"{self.folder})" if self.user else "")
            raise PostgresError(f"{exc}{hint}") from None
        finally:
            pwfile.unlink(missing_ok=True)
        self.settings_path.write_text(json.dumps({"port": _free_port(), "password": password}))
        self.settings_path.chmod(0o600)

    def running(self) -> bool:
        if not (self.cluster / "postmaster.pid").exists():
            return False
        done = subprocess.run([str(self.bin / "pg_ctl"), "status", "-D", str(self.cluster)],
                              capture_output=True, user=self.user, check=False)
        return done.returncode == 0

    def start(self) -> str:
        """Make the cluster if need be, start it unless it runs already; returns its URL."""
        if not self.settings_path.exists():
            self._initialise()
        if not self.running():
            port = self._settings()["port"]
            options = (f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                       "-c max_connections=100")
            try:
                self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.cluster),
                          "-l", str(self.cluster / "server.log"), "-o", options)
            except PostgresError as exc:
                raise PostgresError(f"{exc} (see {self.cluster / 'server.log'})") from None
            self._started_here = True
            self._create_database()
        return self.url

    def _create_database(self) -> None:
        admin = self.url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as db:
            if not db.execute("SELECT 1 FROM pg_database WHERE datname = 'agelab'").fetchone():
                db.execute("CREATE DATABASE agelab")

    def stop(self) -> None:
        """Stop the server if this object started it."""
        if self._started_here and self.running():
            self._run("pg_ctl", "stop", "-m", "fast", "-w", "-D", str(self.cluster))
        self._started_here = False

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
