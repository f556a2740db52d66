"""Per-group tuning: the base estimator of a GroupedEstimator is a search, run in each group's
task with no session and no nested Spark job, equal to a by-hand loop of the same searches."""

import json

import numpy as np
import pandas as pd
import pytest
from hyperopt import hp
from sklearn.base import clone
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import Ridge
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    KFold,
    TimeSeriesSplit,
)

from spark_sklearn_bridge import (
    GroupedEstimator,
    SparkGridSearchCV,
    SparkHyperoptSearchCV,
    SparkRandomizedSearchCV,
)

FEATURES = ["f0", "f1"]
GRID = {"alpha": [0.01, 1.0, 30.0]}


def series(n_groups=4, n_rows=36, seed=0):
    """Time-ordered rows per store (interleaved), a different noise level per store."""
    rng = np.random.default_rng(seed)
    frames = []
    for g in range(n_groups):
        X = rng.normal(size=(n_rows, 2))
        y = X @ [g + 1.0, -1.0] + rng.normal(scale=0.5 * (g + 1), size=n_rows)
        frames.append(pd.DataFrame(X, columns=FEATURES).assign(store=g, t=np.arange(n_rows), y=y))
    data = pd.concat(frames).sort_values(["t", "store"], kind="stable")
    return data.reset_index(drop=True)


def by_hand(search, data):
    return {g: clone(search).fit(rows[FEATURES], rows["y"]) for g, rows in data.groupby("store")}


SEARCHES = {
    "GridSearchCV": GridSearchCV(Ridge(), GRID, cv=TimeSeriesSplit(3)),
    "HalvingGridSearchCV": HalvingGridSearchCV(
        Ridge(), GRID, cv=KFold(3), min_resources=12, random_state=0
    ),
    "SparkGridSearchCV": SparkGridSearchCV(Ridge(), GRID, cv=TimeSeriesSplit(3)),
    "SparkRandomizedSearchCV": SparkRandomizedSearchCV(
        Ridge(), {"alpha": [0.01, 0.1, 1.0, 30.0]}, n_iter=3, cv=KFold(3), random_state=0
    ),
    "SparkHyperoptSearchCV": SparkHyperoptSearchCV(
        Ridge(),
        {"alpha": hp.loguniform("alpha", -4, 3)},
        max_evals=8,
        cv=3,
        random_state=0,
        parallelism=2,  # rounds of 2 proposals in the group's task as on the driver
    ),
}


@pytest.mark.parametrize("name", list(SEARCHES))
def test_each_group_runs_its_own_search_equal_to_a_loop(spark, name):
    data = series()
    search = SEARCHES[name]
    model = GroupedEstimator(search, "store", feature_cols=FEATURES, label_col="y")
    model.fit(spark.createDataFrame(data))
    expected = by_hand(search, data)
    table = model.model_table_.toPandas().set_index("store").sort_index()
    for g, reference in expected.items():
        fitted = model.get_group_model(g)
        assert type(fitted) is type(search)
        assert fitted.best_params_ == pytest.approx(reference.best_params_)
        assert fitted.best_score_ == pytest.approx(reference.best_score_)
        np.testing.assert_allclose(
            fitted.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"]
        )
        assert json.loads(table.loc[g, "best_params"]) == pytest.approx(reference.best_params_)
        assert table.loc[g, "best_score"] == pytest.approx(reference.best_score_)
    predictions = model.predict(data)
    for g, rows in data.groupby("store"):
        np.testing.assert_allclose(predictions[rows.index], expected[g].predict(rows[FEATURES]))


def test_pandas_input_and_spark_search_report_no_spark_jobs(spark):
    data = series(n_groups=2)
    search = SparkGridSearchCV(Ridge(), GRID, cv=TimeSeriesSplit(3))
    model = GroupedEstimator(search, "store", feature_cols=FEATURES)
    model.fit(data[["store", *FEATURES]], data["y"])
    assert all(model.get_group_model(g).n_spark_jobs_ == 0 for g in (0, 1))
    expected = by_hand(GridSearchCV(Ridge(), GRID, cv=TimeSeriesSplit(3)), data)
    for g, reference in expected.items():
        assert model.get_group_model(g).best_params_ == reference.best_params_


def test_tables_of_plain_estimators_have_null_search_fields_and_a_fit_time(spark):
    data = series(n_groups=2)
    model = GroupedEstimator(Ridge(), "store", feature_cols=FEATURES).fit(
        data[["store", *FEATURES]], data["y"]
    )
    table = model.model_table_.toPandas()
    assert table["best_params"].isna().all() and table["best_score"].isna().all()
    assert table["fitted_at"].notna().all()
