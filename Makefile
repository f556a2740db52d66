# Two commands for a fresh machine (Python 3.10+, Java 17+): `make demo` and `make test`.
# Each creates .venv and installs what it needs by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENV_MIN := .venv-min
STAMP_MIN := $(VENV_MIN)/.installed

.PHONY: demo test test-fast test-connect test-cluster test-min lint docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,docs,connect,demo,bench]"
	touch $(STAMP)

# The oldest versions pyproject.toml admits (.ci/min-versions.txt), in a venv of their own.
$(STAMP_MIN): pyproject.toml .ci/min-versions.txt
	$(PYTHON) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_MIN)/bin/python -m pip install --quiet -c .ci/min-versions.txt -e ".[test]"
	touch $(STAMP_MIN)

# The main job: per-country models, a tuned Pipeline, a million rows scored, a data-parallel
# fit, each against scikit-learn; MLflow store and report.html in demo-output/.
demo: $(STAMP)
	$(BIN)/python -m spark_sklearn_bridge demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Classic local[2] suite (+ doctests); then, each in its own process (one process holds one
# kind of session), the Connect suite and the engine suite against a Spark Connect server and
# against a standalone cluster (master + two 1-core workers), both started on 127.0.0.1 by the
# test harness and stopped by process id, and a smoke run on the oldest versions the package
# admits; then the docs with warnings as errors.
test: lint
	$(BIN)/python -m pytest
	$(MAKE) -j3 --output-sync=target test-connect test-cluster test-min
	$(MAKE) docs

# The tests that need no Spark session (no JVM), for a developer's inner loop: under a
# minute. A test that starts Spark without the `spark` fixture fails here, named.
test-fast: $(STAMP)
	SSB_NO_SPARK=1 $(BIN)/python -m pytest -m "not spark" -q

# The two engine runs wait on JVM start-ups more than on the CPU: run side by side.
test-connect: $(STAMP)
	SSB_ENGINE=connect $(BIN)/python -m pytest tests/connect tests/engines

test-cluster: $(STAMP)
	SSB_ENGINE=cluster $(BIN)/python -m pytest tests/engines

# Every paradigm on the declared lower bounds (.ci/min-versions.txt): each bound is tested.
test-min: $(STAMP_MIN)
	$(VENV_MIN)/bin/python -m pytest -q tests/test_parallel.py tests/test_search.py \
		tests/test_text_and_sparse.py tests/test_spark_ml_preprocessing.py \
		tests/test_grouped.py tests/test_grouped_placement.py tests/test_batch_predict.py \
		tests/test_spark_ml.py tests/test_trust.py tests/test_pool.py

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf docs/_build docs/generated .pytest_cache
