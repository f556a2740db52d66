"""Shared fixtures: ONE Spark session for the whole run (a session takes ~10 s to start).

Classic runs build a ``local[2]`` session. ``SSB_ENGINE`` runs against a real engine started
here from pyspark's own scripts and stopped by process id (``tests/engines/harness.py``):
``cluster`` (a standalone master and two 1-core workers on 127.0.0.1) or ``connect`` (a Spark
Connect server on a free port; ``SPARK_REMOTE`` then points at it). With ``SPARK_REMOTE`` set
by hand the session comes from :func:`get_spark`.
"""

import os
import sys
from pathlib import Path

import pytest

ENGINE = os.environ.get("SSB_ENGINE")  # None, "cluster" or "connect"
TESTS = Path(__file__).parent / "tests"
sys.path.insert(0, str(TESTS))  # helper modules shared by tests/, tests/connect, tests/engines
pytest.register_assert_rewrite("demo_checks")  # its asserts explain their failures too
collect_ignore_glob = []
if not (os.environ.get("SPARK_REMOTE") or ENGINE == "connect"):
    collect_ignore_glob.append("tests/connect/*")
if not ENGINE:
    collect_ignore_glob.append("tests/engines/*")


def pytest_collection_finish(session):
    # Test modules are not importable on Spark's Python workers: ship their functions and
    # classes by value, through pyspark's cloudpickle (UDFs) and the package's (model blobs).
    import cloudpickle
    from pyspark import cloudpickle as pyspark_cloudpickle

    modules = {item.module for item in session.items if getattr(item, "module", None)}
    modules |= {  # and the helper modules under tests/ that they import
        module
        for module in list(sys.modules.values())
        if Path(getattr(module, "__file__", None) or "/").is_relative_to(TESTS)
    }
    for module in modules:
        if not module.__name__.startswith("spark_sklearn_bridge"):
            cloudpickle.register_pickle_by_value(module)
            pyspark_cloudpickle.register_pickle_by_value(module)


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    """The real engine of an ``SSB_ENGINE`` run (None otherwise), stopped at the end."""
    if not ENGINE:
        yield None
        return
    sys.path.insert(0, str(Path(__file__).parent / "tests" / "engines"))
    import harness

    workdir = tmp_path_factory.mktemp(f"engine-{ENGINE}")
    if ENGINE == "cluster":
        running = harness.start_standalone(workdir)
    elif ENGINE == "connect":
        # Spark's defaults, 200 shuffle partitions included: what a user's server has.
        running = harness.start_connect_server(workdir)
        os.environ["SPARK_REMOTE"] = running.url
    else:
        raise ValueError(f"SSB_ENGINE must be 'cluster' or 'connect'; got {ENGINE!r}")
    try:
        yield running
    finally:
        running.stop()


def pytest_collection_modifyitems(config, items):
    """Mark every test that uses the Spark session (doctests start it too): ``make
    test-fast`` runs the others, ``-m "not spark"``, without a JVM."""
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()) or isinstance(item, pytest.DoctestItem):
            item.add_marker(pytest.mark.spark)


if os.environ.get("SSB_NO_SPARK"):  # make test-fast: a test that starts Spark fails, named

    def _no_session(*args, **kwargs):
        raise RuntimeError(
            "This test starts a Spark session: give it the `spark` fixture (it then runs in "
            "`make test`, not `make test-fast`)."
        )

    from pyspark.sql import SparkSession

    SparkSession.Builder.getOrCreate = _no_session


@pytest.fixture(scope="session")
def spark(engine):
    from spark_sklearn_bridge._session import build_local_session, get_spark

    if ENGINE == "cluster":
        session = build_local_session(
            engine.master_url,
            {
                "spark.driver.host": "127.0.0.1",
                "spark.executor.cores": "1",
                "spark.executor.memory": "1g",
                "spark.task.maxFailures": "4",  # Spark's default on a cluster
                "spark.sql.shuffle.partitions": "4",
            },
        )
    elif os.environ.get("SPARK_REMOTE"):
        session = get_spark()
    else:
        session = build_local_session(
            "local[2]",
            {"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2"},
        )
    yield session
    session.stop()


@pytest.fixture
def mlflow_store(tmp_path):
    """A fresh MLflow sqlite store with its own experiment, active for one test."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.set_experiment("spark_sklearn_bridge-tests")
    yield experiment
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def plain_sigint():
    """Python's own Ctrl-C handler instead of pyspark's, which cancels every job of the
    context by itself (it is not installed on Spark Connect, in a session made off the main
    thread, or where a notebook replaces it): so a test sees what the package does."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def pool_starts(monkeypatch):
    """The searches' task pools started during the test (``parallel/_pool.py``): the number
    of shipments each started with."""
    from spark_sklearn_bridge.parallel import _runner

    started = []
    real_start = _runner.TaskRunner._start_pool

    def spy(self, shipments, cores):
        started.append(len(shipments))
        return real_start(self, shipments, cores)

    monkeypatch.setattr(_runner.TaskRunner, "_start_pool", spy)
    return started


@pytest.fixture(autouse=True)
def _add_doctest_names(request, doctest_namespace):
    import numpy as np
    import pandas as pd

    doctest_namespace.update(np=np, pd=pd)
    if isinstance(request.node, pytest.DoctestItem):
        request.getfixturevalue("spark")  # the suite's session, not an embedded one
