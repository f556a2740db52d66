"""The estimator contract on Spark Connect (SPARK_REMOTE=local[2]): an explicit Connect
session, saves, mixed-type features, empty and non-numeric input. Compared with scikit-learn."""

import datetime
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from spark_sklearn_bridge import (
    GroupedEstimator,
    SparkBatchPredictor,
    SparkGridSearchCV,
    SparkMLEstimator,
)
from spark_sklearn_bridge.exceptions import ColumnError, EmptyInputError


@pytest.fixture(scope="module")
def data():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X = X.iloc[:160].reset_index(drop=True)[["bmi", "bp", "s5", "sex"]]
    return X.assign(store=(X["sex"] > 0).astype(int)).drop(columns="sex"), y.to_numpy()[:160]


def test_explicit_connect_session_clone_pickle_and_cross_val_score(spark, data):
    X, y = data
    features = X[["bmi", "bp", "s5"]]
    for estimator in (
        SparkGridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=2, spark=spark),
        SparkBatchPredictor(Ridge(), spark=spark),
        SparkMLEstimator(Ridge(), spark=spark),
        GroupedEstimator(Ridge(), "store", spark=spark),
    ):
        assert clone(estimator).spark is spark
        assert pickle.loads(pickle.dumps(estimator)).spark is None
    search = SparkGridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=2, spark=spark)
    ours = cross_val_score(search, features, y, cv=KFold(2))
    reference = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=2)
    np.testing.assert_allclose(ours, cross_val_score(reference, features, y, cv=KFold(2)))
    ml = cross_val_score(SparkMLEstimator(Ridge(), spark=spark), features, y, cv=KFold(2))
    np.testing.assert_allclose(ml, cross_val_score(Ridge(), features, y, cv=KFold(2)), rtol=1e-6)


def test_saves_round_trip_on_connect(spark, data, tmp_path):
    X, y = data
    grouped = GroupedEstimator(Ridge(), "store", spark=spark).fit(X, y)
    grouped.save(tmp_path / "g")  # failed with "PlanMetrics is not JSON serializable"
    loaded = GroupedEstimator.load(tmp_path / "g", spark=spark)
    np.testing.assert_array_equal(loaded.predict(X), grouped.predict(X))
    for key, rows in X.groupby("store").groups.items():
        reference = Ridge().fit(X.loc[rows, ["bmi", "bp", "s5"]], y[rows])
        np.testing.assert_allclose(loaded.get_group_model(key).coef_, reference.coef_)
    features = X[["bmi", "bp", "s5"]]
    model = SparkMLEstimator(Ridge(), spark=spark).fit(features, y)
    model.save(tmp_path / "m")
    restored = SparkMLEstimator.load(tmp_path / "m", spark=spark)
    np.testing.assert_allclose(
        restored.predict(features), Ridge().fit(features, y).predict(features), rtol=1e-6
    )


def test_mixed_type_features_reach_a_pipeline_on_connect(spark):
    rng = np.random.default_rng(1)
    n = 120
    frame = pd.DataFrame(
        {
            "island": rng.choice(["Biscoe", "Dream"], n).astype(object),
            "sex": rng.choice(["male", None], n),
            "day": [datetime.date(2024, 1, 1 + i % 2) for i in range(n)],
            "mass": rng.normal(4000, 500, n),
        }
    )
    y = (frame["mass"] > 4000).astype(int).to_numpy()
    encode = make_column_transformer(
        (OneHotEncoder(), ["island", "sex", "day"]), remainder="passthrough"
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(frame, y)
    sdf = spark.createDataFrame(frame.reset_index(names="row"))
    out = SparkBatchPredictor(model).predict_proba(sdf).toPandas().sort_values("row")
    np.testing.assert_allclose(np.vstack(out["prediction"]), model.predict_proba(frame))


def test_empty_and_non_numeric_input_on_connect(spark, data):
    X, y = data
    sdf = spark.createDataFrame(X.assign(y=y, island="Biscoe"))
    with pytest.raises(EmptyInputError, match="no rows"):
        GroupedEstimator(Ridge(), "store", feature_cols=["bmi"], label_col="y").fit(sdf.limit(0))
    with pytest.raises(EmptyInputError, match="no rows"):
        SparkMLEstimator(Ridge(), feature_cols=["bmi"], label_col="y").fit(sdf.limit(0))
    with pytest.raises(ColumnError, match=r"\['island'\] are not numeric"):
        GroupedEstimator(Ridge(), "store", feature_cols=["bmi", "island"], label_col="y").fit(sdf)
