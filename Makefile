# One entry point. `make test` works on a fresh clone: it creates .venv, installs the project
# with its test extras, checks lint, format and types, and runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
SCALE ?= 1
PORT ?= 8000

.PHONY: test demo lint typecheck format bench golden clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP) $(DEMO_STAMP)

# The demo needs only the default install (DuckDB and the server), not the test tools.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@echo "make demo: installing sluice (DuckDB and the server) into $(VENV); about a minute the first time"
	$(BIN)/python -m pip install --progress-bar on --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -e .
	touch $(DEMO_STAMP)

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest

demo: $(DEMO_STAMP)
	$(BIN)/sluice demo --scale $(SCALE) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

golden: $(STAMP)
	$(BIN)/python -m pytest tests/compiler/test_golden.py --update-golden

bench: $(STAMP)
	$(BIN)/python bench/compile.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
