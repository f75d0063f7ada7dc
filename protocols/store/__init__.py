"""The run file: one SQLite database per run, in WAL mode, that survives a crash.

``RunWriter`` owns the only write connection, on its own thread: the engine hands it records
through a queue (acquisition never waits on the disk) and it commits at least every
``commit_interval_s`` (default 0.25 s), so a killed process loses at most that last moment.
``RunFile`` opens a run read-only, also while another process is writing it.

Samples are rows (the record of truth, one per sample, committed within the second) and, once a
channel has ``BLOCK`` more of them, also one columnar block (t, J, V, L as float64), so a plot can
load a 1000-hour history as a few hundred blobs instead of millions of rows.

Arrays (sweeps, spectra) are stored as little-endian float64 blobs; the config, instrument
identities, software version and bench details are in ``meta`` as text/JSON, so a run file
describes itself.
"""

from agelab.protocols.store.reader import ChannelInfo, RunFile, RunFileError, engine_is_writing
from agelab.protocols.store.schema import SCHEMA_VERSION, SchemaError
from agelab.protocols.store.writer import RunWriter

__all__ = ["SCHEMA_VERSION", "ChannelInfo", "RunFile", "RunFileError", "RunWriter", "SchemaError",
           "engine_is_writing"]
