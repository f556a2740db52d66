"""Per-group tuning, the fallback model, refit_groups and the pyfunc model on Spark Connect,
each compared with scikit-learn fitted by hand on the same rows."""

import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit

from spark_sklearn_bridge import GroupedEstimator, SparkBatchPredictor, SparkGridSearchCV

FEATURES = ["f0", "f1"]


def rows(groups, n=24, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for g in groups:
        X = rng.normal(size=(n, 2))
        y = X @ [g + 1.0, -1.0] + rng.normal(scale=0.3 * (g + 1), size=n)
        frames.append(pd.DataFrame(X, columns=FEATURES).assign(g=g, y=y))
    return pd.concat(frames, ignore_index=True).assign(row=lambda d: np.arange(len(d)))


def test_per_group_search_on_connect(spark):
    data = rows([0, 1, 2])
    grid = {"alpha": [0.01, 1.0, 30.0]}
    search = SparkGridSearchCV(Ridge(), grid, cv=TimeSeriesSplit(3))
    model = GroupedEstimator(search, "g", feature_cols=FEATURES, label_col="y")
    model.fit(spark.createDataFrame(data))
    table = model.model_table_.toPandas().set_index("g")
    for g, part in data.groupby("g"):
        reference = GridSearchCV(Ridge(), grid, cv=TimeSeriesSplit(3)).fit(
            part[FEATURES], part["y"]
        )
        assert model.get_group_model(g).best_params_ == reference.best_params_
        assert table.loc[g, "best_score"] == pytest.approx(reference.best_score_)


def test_fallback_refit_and_pyfunc_on_connect(spark, mlflow_store):
    train = rows([0, 1, 2])
    model = GroupedEstimator(
        Ridge(),
        "g",
        feature_cols=FEATURES,
        label_col="y",
        fallback="global",
        unseen_groups="fallback",
    ).fit(spark.createDataFrame(train))
    new = rows([1, 5], n=5, seed=4)  # group 5 is unseen
    global_model = Ridge().fit(train[FEATURES], train["y"])
    own = train[train["g"] == 1]
    expected = np.where(
        new["g"] == 5,
        global_model.predict(new[FEATURES]),
        Ridge().fit(own[FEATURES], own["y"]).predict(new[FEATURES]),
    )
    with pytest.warns(UserWarning, match="fallback model predicted 5 rows"):
        out = model.predict(spark.createDataFrame(new)).toPandas().sort_values("row")
    np.testing.assert_allclose(out["prediction"], expected)
    assert list(out["model_source"]) == ["group"] * 5 + ["fallback"] * 5

    before = model.model_table_.toPandas().set_index("g")
    model.refit_groups(spark.createDataFrame(new[new["g"] == 1]))
    after = model.model_table_.toPandas().set_index("g")
    assert after.loc[0, "model"] == before.loc[0, "model"]
    part = new[new["g"] == 1]
    np.testing.assert_allclose(
        model.get_group_model(1).coef_, Ridge().fit(part[FEATURES], part["y"]).coef_
    )

    with mlflow.start_run():  # in mlflow_store's fresh store and experiment
        uri = model.log_to_mlflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = model.predict(new[["g", *FEATURES]])
        local = mlflow.pyfunc.load_model(uri).predict(new[["g", *FEATURES]])
    np.testing.assert_allclose(local, expected)
    out = SparkBatchPredictor.from_mlflow(uri).predict(spark.createDataFrame(new))
    np.testing.assert_allclose(out.toPandas().sort_values("row")["prediction"], expected)


def test_linear_sql_predictions_and_their_errors_on_connect(spark):
    """Linear group models are predicted in Spark SQL on Connect too: equal to by hand, and a
    NaN feature fails the job naming the column and the group."""
    from pyspark.errors import PySparkException

    data = rows([0, 1, 2])
    model = GroupedEstimator(Ridge(), "g", feature_cols=FEATURES, label_col="y")
    model.fit(spark.createDataFrame(data))
    assert model._table.all_linear()
    out = model.predict(spark.createDataFrame(data)).toPandas().sort_values("row")
    for g, part in data.groupby("g"):
        at = (out["g"] == g).to_numpy()
        reference = Ridge().fit(part[FEATURES], part["y"])
        np.testing.assert_allclose(
            out["prediction"][at], reference.predict(part[FEATURES]), rtol=1e-12
        )
    bad = data.copy()
    bad.loc[bad.index[bad["g"] == 2][0], "f1"] = np.nan
    with pytest.raises(PySparkException, match=r"Feature column 'f1' .* group \{\"g\":2\}"):
        model.predict(spark.createDataFrame(bad)).collect()
