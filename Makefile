# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench describe clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The default study (config.yaml) on the virtual bench; the run file goes to runs/.
run: $(STAMP)
	$(BIN)/agelab run config.yaml --out runs

test: $(STAMP)
	$(BIN)/ruff check .
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

describe: $(STAMP)
	$(BIN)/agelab sim --describe red-cdse
	$(BIN)/agelab sim --describe blue-znsete

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
