# Each target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED_DATA ?= ../shared/data

.PHONY: demo test bench check lint typecheck clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python scripts/demo.py --data $(SHARED_DATA)

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed
	$(BIN)/python scripts/bench.py --data $(SHARED_DATA)

lint: $(VENV)/.installed
	$(BIN)/ruff check kis_fetch tests scripts
	$(BIN)/ruff format --check kis_fetch tests scripts

typecheck: $(VENV)/.installed
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
