"""Odd names, refused names, timeouts and skops saves on Spark Connect, compared with
scikit-learn on the same data (the classic versions: tests/test_hostile_inputs.py,
tests/test_faults.py, tests/test_persistence.py)."""

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold

from spark_sklearn_bridge import GroupedEstimator, SparkGridSearchCV, SparkMLEstimator
from spark_sklearn_bridge.exceptions import ColumnError

DOTTED = ["a.b", "c d", "e`f"]


def frame(n=36, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    data = pd.DataFrame(X, columns=DOTTED).assign(**{"y.y": X @ [1.5, -2.0, 0.5] + 0.3})
    return data.assign(**{"g.g": np.arange(n) % 3, "row": np.arange(n)})


def test_dotted_names_in_spark_ml_and_grouped_on_connect(spark):
    data = frame()
    sdf = spark.createDataFrame(data)
    model = SparkMLEstimator(LinearRegression(), feature_cols=DOTTED, label_col="y.y").fit(sdf)
    reference = LinearRegression().fit(data[DOTTED], data["y.y"])
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-9)
    grouped = GroupedEstimator(LinearRegression(), "g.g", feature_cols=DOTTED, label_col="y.y")
    out = grouped.fit(sdf).predict(sdf).toPandas().sort_values("row")
    expected = np.empty(len(data))
    for _, part in data.groupby("g.g"):
        fitted = LinearRegression().fit(part[DOTTED], part["y.y"])
        expected[part.index] = fitted.predict(part[DOTTED])
    np.testing.assert_allclose(out["prediction"], expected)


def test_reserved_and_duplicate_names_are_refused_on_connect(spark):
    sdf = spark.createDataFrame(frame())
    with pytest.raises(ColumnError, match="reserved"):
        SparkMLEstimator(Ridge(), label_col="y.y").fit(sdf.withColumnRenamed("a.b", "__ssb_x"))
    with pytest.raises(ColumnError, match=r"more than one column named \['row'\]"):
        GroupedEstimator(Ridge(), "g.g", label_col="y.y").fit(sdf.select("*", "row"))


class Sleepy(RegressorMixin, BaseEstimator):
    """Ridge that hangs when it gets ``hang_rows`` rows or ``alpha == hang_alpha``."""

    def __init__(self, alpha=1.0, hang_rows=None, hang_alpha=None):
        self.alpha = alpha
        self.hang_rows = hang_rows
        self.hang_alpha = hang_alpha

    def fit(self, X, y):
        if len(X) == self.hang_rows or self.alpha == self.hang_alpha:
            time.sleep(3600)
        self.model_ = Ridge(alpha=self.alpha).fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_group_and_candidate_timeouts_on_connect(spark):
    data = frame().iloc[:-1]  # group 2 has 11 rows: it hangs
    model = GroupedEstimator(
        Sleepy(hang_rows=11), "g.g", feature_cols=DOTTED, on_error="skip", group_timeout=5
    ).fit(data[["g.g", *DOTTED]], data["y.y"])
    table = model.model_table_.toPandas().set_index("g.g")
    assert list(table.index[table["status"] != "ok"]) == [2]
    assert "did not finish within the 5 s time limit" in table.loc[2, "error"]

    X, y = frame()[DOTTED].to_numpy(), frame()["y.y"].to_numpy()
    grid = {"alpha": [0.1, 1.0, 3.0]}
    search = SparkGridSearchCV(Sleepy(hang_alpha=3.0), grid, cv=KFold(3), candidate_timeout=5)
    with pytest.warns(Warning) as record:
        search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    reference = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=KFold(3)).fit(X, y)
    np.testing.assert_allclose(scores[:2], reference.cv_results_["mean_test_score"])
    assert np.isnan(scores[2])
    assert "time limit" in " ".join(str(w.message) for w in record)


def test_skops_saves_on_connect(spark, tmp_path):
    data = frame()
    model = GroupedEstimator(Ridge(), "g.g", feature_cols=DOTTED, label_col="y.y")
    model.fit(spark.createDataFrame(data))
    model.save(tmp_path / "skops", serializer="skops")
    loaded = GroupedEstimator.load(tmp_path / "skops")
    np.testing.assert_allclose(loaded.predict(data), model.predict(data))
