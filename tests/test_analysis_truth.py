"""Issue 6's acceptance on the default study (config.yaml): figures recovered from the run, scored
against the model's ground truth at the moment each was measured (a noise-free twin replayed through
the bench's drive history), and the report, summary and exports of that run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from agelab.protocols.analysis.l0 import L0_AT_H
from agelab.protocols.analysis.study import analyse
from agelab.protocols.cli import main as agelab
from agelab.protocols.store import RunFile
from tests.engine_helpers import run_in_thread
from tests.truth import crossing, device_time, peak_and_fwhm_exact, sweep_starts, twins_at

ROOT = Path(__file__).resolve().parents[1]
CLOCK_STEP_S = 0.005  # 2 device-s at 1500x
DENSITIES = {"blue-50": 50.0, "blue-100": 100.0, "blue-200": 200.0, "red-100": 100.0}
PIXELS = {"blue-50": 0, "blue-100": 1, "blue-200": 2, "red-100": 3}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The default study (config.yaml, as ``make run`` runs it) on an in-process bench, so the
    model's state can be replayed afterwards."""
    data = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert {c["name"] for c in data["channels"]} == set(DENSITIES)
    # The record's wall times are mapped to device hours by the wall clock's offset from the
    # monotonic one; a run during which the system clock stepped is run again, once.
    for attempt in range(2):
        path = tmp_path_factory.mktemp("truth") / "run.sqlite"
        offset = time.time() - time.monotonic()
        engine, thread, result = run_in_thread(data, path)
        thread.join(240)
        assert not thread.is_alive() and "error" not in result, result
        assert set(result["statuses"].values()) == {"finished"}
        step = time.time() - time.monotonic() - offset
        if abs(step) < CLOCK_STEP_S:
            break
        assert attempt == 0, f"the system clock stepped {step:+.3f} s during both runs"
    to_h = device_time(engine.virtual_bench, offset)
    with RunFile(path) as run:
        analysis = analyse(run)
        walls = {ch: [r[0] for r in run._db.execute(
            "SELECT s.wall FROM samples s JOIN channels c ON s.channel = c.id WHERE c.name = ? "
            "ORDER BY s.t_h", (ch,))] for ch in DENSITIES}
    return engine.virtual_bench, path, analysis, walls, to_h


def _channel(analysis, name):
    return next(c for c in analysis.channels if c.name == name)


def _truth_l0(bench, to_h, pixel, name, walls, t) -> float:
    """The noise-free photodiode's reading ``L0_AT_H`` into the stress, where the analysis
    reads L0: the first sample's device time less its stress time, plus that (nothing
    interrupts the stress before the first sample)."""
    (px,) = twins_at(bench, pixel, [to_h(walls[name][0]) - t[0] + L0_AT_H])
    return px.photodiode_current(DENSITIES[name])


def _truth_trace(bench, to_h, pixel, name, walls, t, extend_h=2.0):
    """What a noise-free photodiode reads at every sample of the channel (its stress J); the run
    stops at its own, noisy, crossing, so the twin is aged on at that J for ``extend_h`` more
    hours of 1-minute samples, to find the true crossing wherever it falls."""
    j = DENSITIES[name]
    twins = twins_at(bench, pixel, [to_h(w) for w in walls[name]])
    values = [px.photodiode_current(j) for px in twins]
    times = list(t)
    px = twins[-1]
    for _ in range(round(extend_h * 60)):
        px.advance(1 / 60, j)
        times.append(times[-1] + 1 / 60)
        values.append(px.photodiode_current(j))
    return np.array(times), np.array(values)


# L0 is one reading through the photodiode meter's repeat filter (100 integrations, ~0.01 %
# noise). A sample is stamped where the meter took its light reading: within the reading's own
# query, narrowed by the meter's TIME stamp against the round trips of earlier readings (the dark
# readings before the stress, for L0). It was stamped before the V-I read, and its wall time
# after both, which under CPU load put a T90 at 200 mA/cm², 11 device-minutes in, up to 5 % off
# the truth at 1500x; at the middle of the query alone, blue-200's L0 (8 device-seconds in,
# where that pixel loses 0.04 % a device-second) was up to 1.7 ms (2.5 device-seconds) off, and
# its T97 off by −1.6 to +2.6 % over 11 runs; placed by the meter's clock it is within 0.12 ms,
# and that T97 within +0.1 to +0.6 % over 5 runs. A full garbage collection in this process
# (50-90 ms) once stopped every channel's sampling for 2 device-minutes right after L0; the
# engine now freezes the startup heap. The blue T97/T95 were noise-limited at 1-min sampling
# and one 0.13 % reading a sample (σ 1.0–2.4 % over 100 simulated noise draws); the default
# study samples from every 5 s at the start and averages 20 readings a sample: σ 0.4–0.6 % in
# the same simulation (docs/NOTES.md).
ALL_LEVELS = [(f, m) for f in (0.97, 0.95, 0.9, 0.8, 0.7, 0.5) for m in (False, True)]


@pytest.mark.parametrize("name, pixel, levels", [
    ("blue-50", 0, ALL_LEVELS),
    ("blue-100", 1, ALL_LEVELS),
    ("blue-200", 2, ALL_LEVELS),
    ("red-100", 3, [(0.97, True), (0.95, True)]),
])
def test_t_values_within_2_percent_of_truth(finished, name, pixel, levels):
    bench, _, analysis, walls, to_h = finished
    ch = _channel(analysis, name)
    t, truth = _truth_trace(bench, to_h, pixel, name, walls, ch.samples[:, 0])
    # L0 as the analysis takes it: at L0_AT_H into the stress, read off the early trace of a
    # decay (blue), or the first sample (red's turn-on dip and rise is no such decay).
    read_back = ch.lifetimes.l0_fit is not None
    assert read_back == (name != "red-100"), ch.lifetimes.l0_kept
    l0 = _truth_l0(bench, to_h, pixel, name, walls, t) if read_back else truth[0]
    peak = int(np.argmax(truth))
    # Brightest at its start, a trace's maximum is its L0 (so the analysis defines it).
    l_max = l0 if peak == 0 else truth[peak]
    for fraction, from_max in levels:
        ref = l_max if from_max else l0
        expected = crossing(t, truth, fraction * ref, peak)
        measured = ch.t_value(fraction, from_max)
        assert expected is not None and measured is not None, (fraction, from_max)
        # 2 %, or 6 device-seconds (4 ms of host time at 1500x) for the earliest levels:
        # blue-200's T97 falls 2.7 device-minutes in, and one fresh-clone run of six placed
        # it 5 device-seconds (3 %) early.
        assert measured == pytest.approx(expected, rel=0.02, abs=6 / 3600), (
            name, fraction, from_max)
    if name == "red-100":  # the elevation itself: Lmax/L0 and when it peaks
        lt = ch.lifetimes
        assert lt.l_max / lt.l0 == pytest.approx(l_max / l0, rel=0.01)
    else:  # never brighter than at the start: the maximum is L0, as the trace read it
        assert ch.lifetimes.l_max == ch.lifetimes.l0 and ch.lifetimes.t_peak_h == ch.samples[0, 0]
        # Against the first sample, whose noise is 0.01 % (100 integrations).
        assert ch.lifetimes.l0 / ch.samples[0, 3] == pytest.approx(l0 / truth[0], abs=4e-4)


@pytest.mark.parametrize("name", ["blue-50", "blue-200", "red-100"])
def test_ideality_onset_and_spectra_match_truth(finished, name):
    """Every J–V, C–V and EL spectrum of the channel, against the model at that moment."""
    bench, path, analysis, _, to_h = finished
    ch, pixel = _channel(analysis, name), PIXELS[name]
    with RunFile(path) as run:
        cv_walls = [s["wall"] for s in run.sweeps(name, "cv")]
        el_walls = [s["wall"] for s in run.spectra(name, "el")]
    starts = sweep_starts(bench, pixel, points=61)  # a C–V is on the drive history too
    assert len(starts) == len(ch.jv) >= 3
    for fig, px in zip(ch.jv, twins_at(bench, pixel, starts), strict=True):
        assert fig.ideality_min == pytest.approx(px.truth().ideality, abs=0.1)
    for fig, px in zip(ch.cv, twins_at(bench, pixel, [to_h(w) for w in cv_walls]), strict=True):
        assert fig.onset_v == pytest.approx(px.truth().cv_onset_v, abs=0.05)
    for fig, px in zip(ch.el, twins_at(bench, pixel, [to_h(w) for w in el_walls]), strict=True):
        peak, fwhm = peak_and_fwhm_exact(px, DENSITIES[name])
        assert fig.peak_nm == pytest.approx(peak, abs=0.5)
        assert fig.fwhm_nm == pytest.approx(fwhm, abs=1.0)
    # The figures moved as the device aged (so the checks above compare different states).
    assert abs(ch.jv[-1].ideality_min - ch.jv[0].ideality_min) > 0.2
    if name == "red-100":
        assert len(ch.cv) >= 10 and ch.cv[-1].onset_v - ch.cv[0].onset_v > 0.4


def test_replayed_twin_is_the_bench_pixel(finished):
    """The ground truth is only as good as the replay: at the end, twin and pixel agree."""
    bench, *_ = finished
    for pixel in range(4):
        real = bench.rig.sites[pixel].sync()
        (twin,) = twins_at(bench, pixel, [bench.rig.clock.hours()])
        assert twin.dose == pytest.approx(real.dose, rel=1e-2)


def test_acceleration_fit_recovers_the_model_law(finished):
    _, _, analysis, _, _ = finished
    fit = analysis.fits["T50"]
    assert [p.channel for p in fit.points] == ["blue-50", "blue-100", "blue-200"]
    assert analysis.group == "blue-znsete"
    assert fit.n == pytest.approx(1.8, abs=0.1)
    assert fit.t_at(100.0) == pytest.approx(16683.0, rel=0.05)
    low, high = fit.n_ci
    assert low < fit.n < high
    assert analysis.fixed["T50"].t_at(100.0) == pytest.approx(16683.0, rel=0.05)


SUMMARY_CHANNEL_KEYS = {
    "name", "L0_cd_m2", "Lmax_cd_m2", "t_peak_h", "T95_h", "T90_h", "T50_h", "T95_from_max_h",
    "T90_from_max_h", "T50_from_max_h", "ideality_min_first", "ideality_min_last",
    "cv_onset_first_V", "cv_onset_last_V", "el_peak_first_nm", "el_peak_last_nm",
    "el_fwhm_first_nm", "el_fwhm_last_nm", "el_rel_last", "pl_rel_last", "stress_duty_cycle"}
SUMMARY_STUDY_KEYS = {"acceleration_n", "acceleration_n_ci", "T50_at_100_cd_m2_h",
                      "T50_at_1000_cd_m2_h"}


def test_report_command_writes_html_pngs_and_summary(finished, tmp_path, capsys):
    _, path, analysis, _, _ = finished
    out = tmp_path / "report"
    assert agelab(["report", str(path), "--to", str(out)]) == 0
    assert "acceleration n = " in capsys.readouterr().out
    data = json.loads((out / "summary.json").read_text())
    assert set(data["study"]) >= SUMMARY_STUDY_KEYS
    by_name = {c["name"]: c for c in data["channels"]}
    for c in by_name.values():
        assert set(c) >= SUMMARY_CHANNEL_KEYS
    red, blue = by_name["red-100"], by_name["blue-50"]
    assert red["T50_h"] is None and "T50_h" in red["censored"]  # not reached: null, not a number
    assert red["T95_from_max_h"] == pytest.approx(
        _channel(analysis, "red-100").t_value(0.95, True), rel=1e-5)
    assert blue["pl_rel_last"] is None  # no PL on the blue pixels: null
    assert blue["cv_onset_last_V"] is None  # the default study takes no C–V on the blue pixels
    assert "C–V: no sweep taken" in blue["missing"]
    assert red["pl_rel_last"] is not None and red["cv_onset_last_V"] is not None
    assert data["study"]["acceleration_n"] == pytest.approx(1.8, abs=0.1)
    pngs = sorted(p.name for p in out.glob("*.png"))
    for name in ("lifetime.png", "voltage.png", "ideality.png", "cv_onset.png",
                 "el_peak_fwhm.png", "acceleration.png", "jvl_blue-50.png", "cv_red-100.png",
                 "el_spectra_red-100.png", "el_pl_red-100.png"):
        assert name in pngs
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(pngs)  # self-contained
    assert "cv_blue-50.png" not in pngs and "C–V family" in html  # said missing, not drawn
    assert "&gt; " in html  # a censored value is printed as "> t_end"


def test_hdf5_export_and_dataframes(finished, tmp_path):
    import h5py

    from agelab.protocols.notebook import open_run

    _, path, analysis, _, _ = finished
    target = tmp_path / "run.h5"
    assert agelab(["export", str(path), "--hdf5", str(target)]) == 0
    with h5py.File(target) as h5, open_run(path) as frames:
        assert set(h5) >= set(DENSITIES)
        lum = h5["red-100/samples/L"]
        assert lum.attrs["units"] == "cd/m^2"
        samples = frames.samples("red-100")
        assert np.array_equal(lum[:], samples["L_cd_m2"].to_numpy())
        assert h5["red-100/jv/0000/J"].attrs["units"] == "mA/cm^2"
        assert len(h5["red-100/spectra"]) == len(frames.spectra("red-100")["spectrum"].unique())
        assert "channels" in h5.attrs["config_yaml"]
        summary = frames.summary()
        assert summary.loc["blue-50", "T50_h"] == pytest.approx(
            _channel(analysis, "blue-50").t_value(0.5), rel=1e-5)
        assert np.isnan(summary.loc["red-100", "T50_h"])  # censored: missing, not a number
        assert list(frames.jv("red-100").columns) == ["sweep", "label", "t_h", "V_V",
                                                      "J_mA_cm2", "L_cd_m2"]
