"""Spark Connect's ML cache limits (issue #24, point 5): a model too big for the server's
cap, and a session cache that is full, surface as ConnectMLLimitError naming the estimator,
the limit and the setting, on a real Connect server."""

import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge

from spark_sklearn_bridge import SparkMLEstimator
from spark_sklearn_bridge.exceptions import ConnectMLLimitError

MEMORY = "spark.connect.session.connectML.mlCache.memoryControl."


@pytest.fixture
def limit(spark):
    changed = []

    def set_limit(name, value):
        spark.conf.set(MEMORY + name, value)
        changed.append(MEMORY + name)

    yield set_limit
    for key in changed:
        spark.conf.unset(key)


def test_a_model_over_the_size_cap_is_named(spark, limit):
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    limit("maxModelSize", "1000")
    forest = RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0)
    with pytest.raises(
        ConnectMLLimitError,
        match=r"RandomForestRegressor.*the size one model may have.*maxModelSize \(now 1000\)",
    ):
        SparkMLEstimator(forest, spark=spark).fit(X, y)


def test_a_full_model_cache_is_named(spark, limit):
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    limit("maxStorageSize", "4000")
    models = []
    with pytest.raises(ConnectMLLimitError, match=r"Ridge.*model cache.*maxStorageSize"):
        for alpha in range(1, 40):  # each fitted model stays cached while referenced
            models.append(SparkMLEstimator(Ridge(alpha=alpha), spark=spark).fit(X, y))
