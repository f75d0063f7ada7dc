"""A run rebuilt from Central's rows as a run file, the station's file's twin.

Every reader of run files (``agelab export``, ``agelab report``, the window) then works on a run
Central holds, live or finished, through the one code path that reads the station's files.
"""

from __future__ import annotations

import io
import sqlite3
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from agelab.protocols.central.database import KEY
from agelab.protocols.store.export import export_csv, export_hdf5
from agelab.protocols.store.reader import APPEND_ONLY
from agelab.protocols.store.schema import prepare


def write_run_file(dump: dict[str, Any], path: Path) -> Path:
    """Write ``Database.dump_run``'s content to a new run file at ``path``."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        prepare(db, path)
        with db:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [(k, v) for k, v in dump["meta"].items() if k != "schema"])
            db.executemany("INSERT INTO channels (id, name, pixel, area_cm2, j_ma_cm2, state, "
                           "sample) VALUES (?,?,?,?,?,?,?)", dump["channels"])
            for table, rows in dump["tables"].items():
                names = ", ".join((KEY[table] if table == "samples" else "id",
                                   *APPEND_ONLY[table]))
                marks = ", ".join("?" * (len(APPEND_ONLY[table]) + 1))
                db.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})",
                               [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                                for r in rows])
    finally:
        db.close()
    return path


def run_file_bytes(dump: dict[str, Any]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_run_file(dump, Path(tmp) / "run.sqlite")
        return path.read_bytes()


def report_html(data: bytes) -> bytes:
    """``agelab report`` of a run file's bytes: its self-contained report.html."""
    from agelab.protocols.report.writer import write_report  # matplotlib: only when asked

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.sqlite"
        path.write_bytes(data)
        return write_report(path, Path(tmp) / "report").html.read_bytes()


def export_bytes(data: bytes, form: str) -> tuple[bytes, str, str]:
    """``agelab export`` of a run file's bytes: (content, media type, file suffix); the CSV
    files come zipped."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.sqlite"
        path.write_bytes(data)
        if form == "hdf5":
            return export_hdf5(path, Path(tmp) / "run.h5").read_bytes(), \
                "application/x-hdf5", "h5"
        files = export_csv(path, Path(tmp) / "csv")
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as z:
            for f in files:
                z.write(f, f.relative_to(Path(tmp) / "csv"))
        return packed.getvalue(), "application/zip", "csv.zip"
