"""What the dashboard draws from: the decimating history (bounded memory, spikes kept) and the
run-file follower (incremental reads equal a full read)."""

from __future__ import annotations

import numpy as np
import pytest

from agelab.gui.follow import RunFollower, severity
from agelab.gui.series import DecimatingSeries
from agelab.protocols.store import RunFile, RunWriter
from agelab.protocols.store.records import EventRecord, Sample, SweepRecord


def test_a_1000_hour_history_costs_a_fixed_amount_of_memory():
    series = DecimatingSeries(capacity=1024)
    n = 3_600_000  # 1000 h at 1 s
    t = np.arange(n) / 3600.0
    rng = np.random.default_rng(0)
    y = np.exp(-t / 700.0) + rng.normal(0, 1e-3, n)
    sizes = []
    for chunk in np.array_split(np.arange(n), 60):  # as a live run delivers it
        series.extend(t[chunk], y[chunk])
        sizes.append(series.nbytes)
    assert len(series) == n
    assert max(sizes) <= 1024 * 6 * 8 + 2 * 8 * series.bucket_size
    tx, ty = series.arrays()
    assert len(tx) <= 2 * 1024 + 400  # the buckets, the first sample, the partial bucket
    assert np.all(np.diff(tx) >= 0)  # time order kept
    assert tx[0] == 0.0 and tx[-1] == t[-1]
    # The envelope is the data's: nothing outside it, and its extremes are the data's extremes.
    assert ty.min() == pytest.approx(y.min()) and ty.max() == pytest.approx(y.max())


def test_a_single_spike_survives_decimation():
    series = DecimatingSeries(capacity=64)
    y = np.ones(100_000)
    y[51_234] = 3.0
    y[77_777] = -1.0
    series.extend(np.arange(y.size, dtype=float), y)
    _, ty = series.arrays()
    assert ty.max() == 3.0 and ty.min() == -1.0
    assert series.first == 1.0


def test_nan_samples_do_not_poison_a_bucket():
    series = DecimatingSeries(capacity=8)
    y = np.linspace(1, 2, 64)
    y[::3] = np.nan
    series.extend(np.arange(64.0), y)
    _, ty = series.arrays()
    assert np.nanmax(ty) == pytest.approx(np.nanmax(y))


def test_follower_reads_only_what_is_new_and_matches_a_full_read(tmp_path):
    path = tmp_path / "run.sqlite"
    writer = RunWriter(path)
    writer.set_meta(study="s", status="running")
    writer.add_channel("a", 1, 0.04, 10.0)
    writer.start()
    follower = RunFollower(path)
    t = np.arange(20_000) / 60.0
    for k in range(4):
        part = slice(k * 5000, (k + 1) * 5000)
        for ti in t[part]:
            writer.write(Sample("a", float(ti), 10.0, 3.0 + ti / 1000, 100.0 - ti / 10, 1e-6))
        writer.write(SweepRecord("a", "jv", f"cp {k}", float(t[part][-1]), np.linspace(0, 4, 5),
                                 np.ones(5), np.ones(5)))
        writer.write(EventRecord("a", "fault" if k == 2 else "checkpoint",
                                 {"instrument": "smu1", "fault": "timeout"}, float(t[part][-1])))
        writer.flush()
        frame = follower.poll()
        (ch,) = frame.channels
        assert ch.samples == (k + 1) * 5000
        assert len(ch.jv) == k + 1
        assert len(frame.events) == k + 1
    writer.close()
    assert frame.event_counts["warning"] == 1
    with RunFile(path) as run:
        full = run.samples("a")
    assert ch.last == tuple(full[-1])
    assert ch.l0 == full[0, 3]
    assert ch.l_rel.min() == pytest.approx(full[:, 3].min() / full[0, 3])


def test_event_severity():
    assert severity({"kind": "fault", "detail": {"fault": "gave-up"}}) == "error"
    assert severity({"kind": "fault", "detail": {"fault": "timeout"}}) == "warning"
    assert severity({"kind": "fault", "detail": {"fault": "recovered"}}) == "info"
    assert severity({"kind": "runaway", "detail": {}}) == "error"
    assert severity({"kind": "milestone", "detail": {}}) == "info"


def test_events_log_highlights_faults_and_filters_to_them(qtbot):
    from agelab.gui.events_log import BACKGROUNDS, EventsLog

    log = EventsLog()
    qtbot.addWidget(log)
    events = tuple(dict(e, id=i + 1, wall=1.8e9 + i, severity=severity(e)) for i, e in enumerate([
        {"kind": "checkpoint", "channel": "a", "t_h": 0.0, "detail": {"index": 0}},
        {"kind": "fault", "channel": "a", "t_h": 1.0,
         "detail": {"instrument": "smu1", "fault": "timeout", "detail": "no reply"}},
        {"kind": "fault", "channel": "a", "t_h": 1.0,
         "detail": {"instrument": "smu1", "fault": "gave-up", "detail": "3 attempts"}},
        {"kind": "milestone", "channel": "a", "t_h": 2.0,
         "detail": {"name": "T90", "t_cross_h": 2.0}}]))
    log.add(events, {"error": 1, "warning": 1, "info": 2})
    assert log.table.rowCount() == 4
    assert log.problem_rows() == [("fault", "warning"), ("fault", "error")]
    assert log.table.item(2, 0).background().color().name() == BACKGROUNDS["error"]
    assert "smu1: gave-up" in log.table.item(2, 4).text()
    log.problems_only.setChecked(True)
    assert [log.table.isRowHidden(r) for r in range(4)] == [True, False, False, True]
    log.add(events, {"error": 1, "warning": 1, "info": 2})  # the same frame again: no duplicates
    assert log.table.rowCount() == 4
