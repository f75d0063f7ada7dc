"""Shared test setup. Qt runs offscreen in every test process; Central's tests share one
real PostgreSQL."""

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


# ---------------------------------------------------------------------------- a real PostgreSQL
@pytest.fixture(scope="session")
def postgres_server():
    """One private PostgreSQL for the session, made as `agelab central serve` makes its own.
    Its folder is reachable by the user it runs as when the tests run as root (pytest's own
    temporary folders are not)."""
    from agelab.protocols.central.postgres import EmbeddedPostgres

    folder = Path(tempfile.mkdtemp(prefix="agelab-pg-"))
    folder.chmod(0o755)
    server = EmbeddedPostgres(folder / "central")
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server):
    """A new, empty database on the session's server, for one test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    yield postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
