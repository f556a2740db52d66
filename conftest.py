"""Shared fixtures: ONE Spark session for the whole run (a session takes ~10 s to start).

Classic runs build a ``local[2]`` session; with ``SPARK_REMOTE`` set (the Spark Connect run of
``tests/connect``) the session comes from :func:`get_spark`, i.e. Spark Connect.
"""

import os

import pytest

collect_ignore_glob = [] if os.environ.get("SPARK_REMOTE") else ["tests/connect/*"]


def pytest_collection_finish(session):
    # Test modules are not importable on Spark's Python workers: ship their functions and
    # classes by value, through pyspark's cloudpickle (UDFs) and the package's (model blobs).
    import cloudpickle
    from pyspark import cloudpickle as pyspark_cloudpickle

    for module in {item.module for item in session.items if getattr(item, "module", None)}:
        if not module.__name__.startswith("spark_sklearn_bridge"):
            cloudpickle.register_pickle_by_value(module)
            pyspark_cloudpickle.register_pickle_by_value(module)


@pytest.fixture(scope="session", autouse=True)
def spark():
    from spark_sklearn_bridge._session import build_local_session, get_spark

    if os.environ.get("SPARK_REMOTE"):
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


@pytest.fixture(autouse=True)
def _add_doctest_names(doctest_namespace):
    import numpy as np
    import pandas as pd

    doctest_namespace.update(np=np, pd=pd)
