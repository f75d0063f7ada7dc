# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test browser lint bench soak describe screenshot dashboard-screenshots gui clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The default study (config.yaml) on the virtual bench; the run file goes to runs/.
run: $(STAMP)
	$(BIN)/agelab run config.yaml --out runs

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -n 2 --dist loadfile

# The dashboard's tests drive a real headless Chromium: Debian's chromium and its chromedriver,
# installed when missing.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    chromium chromium-driver; }

# The dashboard's fleet and compare pages, as the browser tests see them, saved to docs/.
dashboard-screenshots: $(STAMP) browser
	AGELAB_SCREENSHOTS=$(CURDIR)/docs $(BIN)/python -m pytest -q tests/test_dashboard_browser.py

# The window on the default study.
gui: $(STAMP)
	$(BIN)/agelab gui config.yaml

# The window in a real X server (Xvfb) mid-study, saved as docs/screenshot.png. Installs Debian's
# xvfb and the X libraries Qt's xcb platform needs when they are missing.
XCB_LIBS := xvfb xauth libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
	libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xkb1 libxcb-shape0 libxcb-xfixes0 \
	libgl1 libegl1 libfontconfig1 libdbus-1-3
screenshot: $(STAMP)
	@XCB=$$($(BIN)/python -c "import PyQt5.QtCore as q; print(q.QLibraryInfo.location(q.QLibraryInfo.PluginsPath))")/platforms/libqxcb.so; \
	command -v xvfb-run >/dev/null && ! ldd "$$XCB" | grep -q "not found" || { \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(XCB_LIBS); }
	QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" \
	  $(BIN)/python -m agelab.gui.screenshot config.yaml docs/screenshot.png --after 40 --channel red-100 \
	  --out runs/screenshot

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# Reliability: 16 channels x 1000 device-h with 1 % of transactions faulted against a fault-free
# twin, then 20 kill -9 + agelab resume against an uninterrupted twin (~30 min; runs/soak/).
soak: $(STAMP)
	$(BIN)/agelab soak --out runs/soak; a=$$?; \
	$(BIN)/agelab soak --crash 20 --out runs/soak; b=$$?; exit $$((a || b))

describe: $(STAMP)
	$(BIN)/agelab sim --describe red-cdse
	$(BIN)/agelab sim --describe blue-znsete

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
