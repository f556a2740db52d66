# Two commands for a fresh machine (Python 3.10+, Java 17+): `make demo` and `make test`.
# Each creates .venv and installs what it needs by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,docs,connect]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Classic local[2] suite (+ doctests), then the Spark Connect suite in its own process (one
# process cannot hold both kinds of session), then the docs with warnings as errors.
test: lint
	$(BIN)/python -m pytest
	SPARK_REMOTE="local[2]" $(BIN)/python -m pytest tests/connect
	$(MAKE) docs

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf docs/_build docs/generated .pytest_cache
