"""The dashboard in a real headless Chromium, against Central with two virtual stations running.

Two `agelab run --central` stations (six blue pixels each, batches A and B) ship to Central on
a real PostgreSQL. A browser logs in, watches both stations' tiles move without a reload, opens
a channel's page and finds its plots drawn; an operator stops a channel and the station ramps
it down (its run file records who asked); a viewer finds no stop control and gets 403 from the
API; once the runs end, the compare page groups them by batch and draws the pooled fit. No page
may log a JavaScript error. With AGELAB_SCREENSHOTS=DIR the fleet and compare pages are saved
there (``make dashboard-screenshots`` writes the README's).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from central_helpers import add_token, central_in_thread
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from agelab.protocols.central.database import Database
from agelab.protocols.ship.client import read_token
from agelab.protocols.store import RunFile

CURRENTS = (20, 40, 80)  # mA/cm²: T90 from ~1 h to ~10 h of the virtual blue device
SHOTS = os.environ.get("AGELAB_SCREENSHOTS")


def station_config(seed: int) -> dict:
    channels = [{"name": f"J{j}-{k}", "pixel": 3 * k + n + 1,
                 "stress": {"current_density": f"{j} mA/cm^2"},
                 "sample": {"batch": "A" if k == 0 else "B"}}
                for k in range(2) for n, j in enumerate(CURRENTS)]
    return {
        "study": f"browser-{seed}",
        "station": {"virtual": {"pixels": 6, "preset": "blue-znsete", "speedup": 1000,
                                "seed": seed, "timeout_ms": 3000}},
        "safety": {"max_current_density": "250 mA/cm^2", "max_voltage": "10 V"},
        "measurements": {"jvl": {"kind": "jv", "start": "0 V", "stop": "5 V", "points": 11},
                         "cv": {"kind": "cv", "start": "-1 V", "stop": "3 V", "points": 9},
                         "el": {"kind": "el", "integration": "10 ms"},
                         "pl": {"kind": "pl", "time_constant": "1 ms"}},
        "defaults": {"area": "4 mm^2", "cd_m2_per_A": 8.54e7, "sampling": "1 min",
                     "log_sampling": {"first": "5 s", "per_decade": 50},
                     "settle": "1 min", "stress": {"compliance": "8 V", "ramp_dwell": "1 ms"},
                     "checkpoints": {"at": ["0 h", "0.3 h", "2 h"],
                                     "measure": ["jvl", "cv", "el", "pl"]},
                     "stop": {"at": "T90", "max_time": "14 h"}},
        "channels": channels,
    }


def chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.fail("the browser tests need Debian's chromium and chromium-driver: "
                    "`make test` installs them (or apt-get install chromium chromium-driver)")
    return browser, driver


@pytest.fixture(scope="module")
def lab(postgres_server, tmp_path_factory):
    """Central on a fresh database, two stations running, and a headless Chromium."""
    import psycopg

    tmp = tmp_path_factory.mktemp("lab")
    admin = postgres_server.url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as pg:
        pg.execute("CREATE DATABASE browser_lab")
    db = Database(postgres_server.url.rsplit("/", 1)[0] + "/browser_lab")
    tokens = {name: add_token(db, name, role, tmp) for name, role in
              (("st1", "station"), ("st2", "station"), ("viewer", "viewer"),
               ("boss", "operator"))}
    browser_path, driver_path = chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with central_in_thread(db) as url:
        runs = {}
        for name, seed in (("st1", 21), ("st2", 22)):
            (tmp / f"{name}.yaml").write_text(yaml.safe_dump(station_config(seed)))
            runs[name] = subprocess.Popen(
                [sys.executable, "-m", "agelab.protocols.cli", "run", str(tmp / f"{name}.yaml"),
                 "--out", str(tmp / name), "--central", url, "--token-file",
                 str(tokens[name])], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True)
        driver = webdriver.Chrome(service=webdriver.ChromeService(driver_path),
                                  options=options)
        try:
            yield {"url": url, "db": db, "tokens": tokens, "runs": runs, "tmp": tmp,
                   "driver": driver}
        finally:
            driver.quit()
            for run in runs.values():
                if run.poll() is None:
                    run.kill()
                    run.wait(30)
    db.close()
    with psycopg.connect(admin, autocommit=True) as pg:
        pg.execute("DROP DATABASE IF EXISTS browser_lab WITH (FORCE)")


def wait(driver, condition, timeout_s: float = 30, message: str = ""):
    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.2).until(condition, message)
    except TimeoutException:  # say what the page said
        shown = driver.execute_script("const e = document.getElementById('error'); "
                                      "return e ? e.textContent : null")
        raise AssertionError(f"{message}; the page showed {shown!r}; its log: "
                             f"{driver.get_log('browser')[-5:]}") from None


def log_in(lab: dict, who: str, path: str = "/") -> None:
    driver = lab["driver"]
    driver.delete_all_cookies()
    driver.get(lab["url"] + "/login?next=" + quote(path))
    driver.find_element(By.ID, "token").send_keys(read_token(lab["tokens"][who]))
    driver.find_element(By.ID, "submit").click()
    wait(driver, lambda d: d.execute_script("return document.getElementById('nav') && "
                                            "document.getElementById('who') !== null"),
         message="the page did not load after logging in")


def no_javascript_errors(driver, expected: str = "") -> None:
    """No script error and no failed load, but the one the test caused on purpose."""
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
              and "favicon" not in e["message"]
              and not (expected and expected in e["message"])]
    assert severe == [], severe
    assert driver.find_element(By.ID, "error").get_attribute("hidden") is not None, \
        driver.find_element(By.ID, "error").text


def tile_times(driver) -> dict[str, float]:
    """Each station's largest stress time shown on its tiles."""
    return driver.execute_script("""
        const out = {};
        for (const s of document.querySelectorAll('.station')) {
          const ts = [...s.querySelectorAll('.tile .t')].map(e => parseFloat(e.dataset.t))
            .filter(isFinite);
          out[s.dataset.station] = ts.length ? Math.max(...ts) : -1;
        }
        return out;""")


@pytest.mark.timeout(300)
def test_the_fleet_page_shows_both_stations_tiles_moving_live(lab):
    driver = lab["driver"]
    log_in(lab, "viewer")
    wait(driver, lambda d: len(tile_times(d)) == 2 and min(tile_times(d).values()) > 0,
         60, "both stations' tiles did not appear")
    loaded = driver.execute_script("return document.body.dataset.loaded")
    before = tile_times(driver)
    wait(driver, lambda d: all(tile_times(d)[s] > before[s] for s in before), 30,
         "the tiles did not move")
    # Moved by the feed, not by reloading the page or fetching the fleet again.
    assert driver.execute_script("return document.body.dataset.loaded") == loaded
    assert driver.execute_script("return performance.getEntriesByType('navigation').length") == 1
    reachable = driver.execute_script(
        "return [...document.querySelectorAll('.station')].map(s => s.dataset.reachable)")
    assert reachable == ["1", "1"]
    def sparks(d) -> list[int]:
        return d.execute_script("return [...document.querySelectorAll('.tile canvas')]"
                                ".map(c => Number(c.dataset.points || 0))")

    wait(driver, lambda d: len(sparks(d)) == 12 and min(sparks(d)) >= 2, 30,
         "not every tile's sparkline was drawn")
    no_javascript_errors(driver)


@pytest.mark.timeout(120)
def test_a_channel_page_draws_its_plots(lab):
    driver = lab["driver"]
    driver.find_element(By.CSS_SELECTOR, ".station[data-station='st1'] .tile").click()
    wait(driver, lambda d: d.execute_script("return document.body.dataset.channelLoaded"),
         30, "the channel page did not load")
    # Curves of samples have many points; a checkpoint trend may have one checkpoint so far.
    for plot, least in (("plot-l", 2), ("plot-v", 2), ("plot-jv", 2), ("plot-cv", 2),
                        ("plot-el", 2), ("plot-elpl", 1)):
        wait(driver, lambda d, p=plot: d.find_element(By.ID, p).get_attribute("data-drawn"),
             30, f"{plot} was not drawn")
        box = driver.find_element(By.ID, plot)
        assert box.find_elements(By.CSS_SELECTOR, "canvas"), plot
        assert int(box.get_attribute("data-points")) >= least, plot
    # Never more points than the plot is wide.
    width = driver.execute_script("return document.getElementById('plot-l').clientWidth")
    assert int(driver.find_element(By.ID, "plot-l").get_attribute("data-points")) <= 2 * width
    assert driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")
    assert driver.execute_script("return document.getElementById('heat').height") >= 1
    no_javascript_errors(driver)
    if SHOTS:
        driver.set_window_size(1400, 1500)
        driver.save_screenshot(str(Path(SHOTS) / "dashboard-channel.png"))
        driver.set_window_size(1400, 1000)


def running_channel(lab: dict, station: str) -> tuple[str, str, Path]:
    (path,) = (lab["tmp"] / station).glob("*.sqlite")
    with RunFile(path) as run:
        uid = run.uid
        running = [c.name for c in run.channels() if c.state.get("status") == "running"]
    assert running, "every channel ended before the operator could stop one"
    return uid, sorted(running)[0], path


@pytest.mark.timeout(120)
def test_an_operator_stops_a_channel_and_the_station_ramps_it_down(lab):
    driver = lab["driver"]
    uid, channel, path = running_channel(lab, "st2")
    log_in(lab, "boss", f"/run/{uid}?channel={channel}")
    wait(driver, lambda d: d.execute_script("return document.body.dataset.channelLoaded"), 30)
    stop = driver.find_element(By.ID, "stop-channel")
    stop.click()
    assert "Confirm" in stop.text  # one click arms it, the second sends
    stop.click()
    lab["stopped"] = "st2"
    wait(driver, lambda d: any(word in d.find_element(By.ID, "command-state").text
                               for word in ("queued", "handed", "carried out")), 15,
         "the page did not show the stop")

    def recorded() -> list[dict]:
        with RunFile(path) as run:
            return [e for e in run.events(channel, "operator")
                    if e["detail"].get("by") == "boss"]

    deadline = time.monotonic() + 30
    while not recorded() and time.monotonic() < deadline:
        time.sleep(0.3)
    [event] = recorded()
    assert event["detail"]["action"] == "abort" and event["detail"]["via"] == "central"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with RunFile(path) as run:
            state = run.channel(channel).state
            off = run.events(channel, "output-off")
        if state.get("status") not in ("running", "paused") and off:
            break
        time.sleep(0.3)
    assert state.get("status") == "aborted" and "boss" in (state.get("stop_reason") or ""), state
    assert off and off[-1]["wall"] >= event["wall"]  # ramped down and switched off after it
    wait(driver, lambda d: "carried out" in d.find_element(By.ID, "command-state").text, 30,
         "Central did not see the stop carried out")
    no_javascript_errors(driver)


@pytest.mark.timeout(120)
def test_a_viewer_sees_no_stop_control_and_the_api_refuses_it(lab):
    driver = lab["driver"]
    uid, channel, _ = running_channel(lab, "st1")
    log_in(lab, "viewer", f"/run/{uid}?channel={channel}")
    wait(driver, lambda d: d.execute_script("return document.body.dataset.channelLoaded"), 30)
    assert driver.find_elements(By.ID, "stop-channel") == []
    assert driver.find_elements(By.ID, "stop-run") == []
    status = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/api/v1/runs/' + arguments[0] + '/stop', {method: 'POST', credentials:
          'same-origin', headers: {'X-AgeLab-CSRF': '1', 'Content-Type': 'application/json'},
          body: JSON.stringify({channel: arguments[1]})}).then(r => done(r.status));""",
                                          uid, channel)
    assert status == 403
    no_javascript_errors(driver, expected="/stop - Failed to load resource: the server "
                                          "responded with a status of 403")


@pytest.mark.timeout(300)
def test_the_compare_page_groups_two_runs_by_batch(lab):
    for name, run in lab["runs"].items():
        out, _ = run.communicate(timeout=240)
        # a run with a channel the operator stopped says so with exit 1
        assert run.returncode == (1 if lab.get("stopped") == name else 0), (name, out[-2000:])
        assert "every row and the run file are at Central" in out, (name, out[-2000:])
    driver = lab["driver"]
    log_in(lab, "viewer", "/compare?by=batch&level=T90")
    wait(driver, lambda d: d.execute_script("return document.body.dataset.compared"), 60,
         "the comparison did not load")
    groups = {row.get_attribute("data-group") for row in
              driver.find_elements(By.CSS_SELECTOR, "#lifetimes tbody tr")}
    assert groups == {"A", "B"}
    assert "n = " in driver.find_element(By.ID, "fit-text").text
    assert driver.find_element(By.ID, "plot-fit").get_attribute("data-drawn") == "1"
    assert driver.find_element(By.ID, "plot-overlay").get_attribute("data-drawn") == "1"
    # The permalink carries the selection: opened afresh, it shows the same table.
    link = driver.find_element(By.ID, "permalink").get_attribute("href")
    assert "by=batch" in link and "level=T90" in link
    if SHOTS:
        driver.save_screenshot(str(Path(SHOTS) / "dashboard-compare.png"))
    driver.get(link)
    wait(driver, lambda d: d.execute_script("return document.body.dataset.compared"), 30)
    assert {row.get_attribute("data-group") for row in
            driver.find_elements(By.CSS_SELECTOR, "#lifetimes tbody tr")} == {"A", "B"}
    no_javascript_errors(driver)
    if SHOTS:  # the fleet at the runs' end: every tile's whole trace
        driver.get(lab["url"] + "/")
        wait(driver, lambda d: d.execute_script("return document.body.dataset.loaded"), 30)
        driver.save_screenshot(str(Path(SHOTS) / "dashboard-fleet.png"))
