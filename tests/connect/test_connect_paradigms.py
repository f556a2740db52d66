"""The default paths of every paradigm on Spark Connect (SPARK_REMOTE=local[2])."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

from spark_sklearn_bridge import GroupedEstimator, SparkBatchPredictor, predict_udf


def diabetes_frame():
    data = load_diabetes(as_frame=True)
    return data.data.reset_index(names="row"), data.target.to_numpy()


def test_grouped_estimator_on_connect(spark):
    X, y = diabetes_frame()
    X["sex_group"] = (X["sex"] > 0).astype(int)
    features = [c for c in X.columns if c not in ("row", "sex_group", "sex")]
    sdf = spark.createDataFrame(X.assign(target=y))
    model = GroupedEstimator(Ridge(), "sex_group", feature_cols=features, label_col="target")
    model.fit(sdf)
    for key, frame in X.assign(target=y).groupby("sex_group"):
        reference = Ridge().fit(frame[features], frame["target"])
        np.testing.assert_allclose(model.get_group_model(key).coef_, reference.coef_)
    out = model.predict(sdf).select("row", "prediction").toPandas().sort_values("row")
    expected = model.predict(X[["sex_group", *features]])
    np.testing.assert_allclose(out["prediction"], expected, rtol=1e-12)
    assert model.model_table_.count() == 2


def test_grouped_non_linear_predictions_on_connect(spark):
    """Two groups of trees: the model path, each partition predicted as it is (no shuffle)."""
    from sklearn.tree import DecisionTreeRegressor

    X, y = diabetes_frame()
    X["sex_group"] = (X["sex"] > 0).astype(int)
    features = [c for c in X.columns if c not in ("row", "sex_group", "sex")]
    sdf = spark.createDataFrame(X.assign(target=y))
    base = DecisionTreeRegressor(max_depth=4, random_state=0)
    model = GroupedEstimator(base, "sex_group", feature_cols=features, label_col="target")
    model.fit(sdf)
    out = model.predict(sdf.repartition(3)).select("row", "prediction").toPandas()
    expected = np.empty(len(X))
    for _, frame in X.groupby("sex_group"):
        by_hand = clone(base).fit(frame[features], y[frame.index])
        expected[frame.index] = by_hand.predict(frame[features])
    np.testing.assert_array_equal(out.sort_values("row")["prediction"], expected)


def test_batch_predictor_on_connect(spark):
    X, y = diabetes_frame()
    features = [c for c in X.columns if c != "row"]
    model = LinearRegression().fit(X[features], y)
    sdf = spark.createDataFrame(X)
    out = SparkBatchPredictor(model).predict(sdf).toPandas().sort_values("row")
    np.testing.assert_allclose(out["prediction"], model.predict(X[features]), rtol=1e-12)

    labels = (y > np.median(y)).astype(int)
    clf = LogisticRegression(max_iter=1000).fit(X[features], labels)
    proba = SparkBatchPredictor(clf).predict_proba(sdf).toPandas().sort_values("row")
    np.testing.assert_allclose(np.vstack(proba["prediction"]), clf.predict_proba(X[features]))

    score = predict_udf(model)
    selected = sdf.select("row", score(*features).alias("p")).toPandas().sort_values("row")
    np.testing.assert_allclose(selected["p"], model.predict(X[features]), rtol=1e-12)
    assert isinstance(out, pd.DataFrame)


def test_search_default_path_on_connect(spark):
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    from spark_sklearn_bridge import SparkGridSearchCV

    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.1, 1, 10]}
    ours = SparkGridSearchCV(SVC(), grid, cv=3).fit(X, y)
    theirs = GridSearchCV(SVC(), grid, cv=3).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )
    assert ours.best_params_ == theirs.best_params_


def test_hyperopt_on_connect_and_spark_trials_refused(spark):
    import pytest
    from hyperopt import hp
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC

    from spark_sklearn_bridge import SparkHyperoptSearchCV
    from spark_sklearn_bridge.exceptions import SparkConnectUnsupportedError

    X, y = load_iris(return_X_y=True)
    space = {"C": hp.loguniform("C", -2, 2)}
    search = SparkHyperoptSearchCV(
        SVC(), space, max_evals=4, parallelism=2, cv=3, random_state=0
    ).fit(X, y)
    assert len(search.trials_.trials) == 4 and search.n_spark_jobs_ == 2
    with pytest.raises(SparkConnectUnsupportedError, match="backend='spark'"):
        SparkHyperoptSearchCV(SVC(), space, backend="spark_trials").fit(X, y)


def test_spark_ml_estimator_on_connect(spark):
    from sklearn.linear_model import LogisticRegression

    from spark_sklearn_bridge import SparkMLEstimator

    X, y = diabetes_frame()
    features = [c for c in X.columns if c != "row"]
    model = SparkMLEstimator(Ridge(alpha=1.0)).fit(X[features], y)
    reference = Ridge(alpha=1.0).fit(X[features], y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-6)
    sdf = spark.createDataFrame(X.assign(target=y))
    on_spark = SparkMLEstimator(Ridge(alpha=1.0), feature_cols=features, label_col="target")
    out = on_spark.fit(sdf).predict(sdf).select("row", "prediction").toPandas()
    np.testing.assert_allclose(
        out.sort_values("row")["prediction"], reference.predict(X[features]), rtol=1e-6
    )
    labels = (y > np.median(y)).astype(int)
    clf = SparkMLEstimator(LogisticRegression(C=1.0)).fit(X[features], labels)
    assert (
        clf.predict(X[features])
        == LogisticRegression(C=1.0, max_iter=5000).fit(X[features], labels).predict(X[features])
    ).mean() >= 0.99


def test_linear_batch_predictions_in_sql_on_connect(spark, capsys):
    X, y = diabetes_frame()
    features = [c for c in X.columns if c != "row"]
    model = Ridge(alpha=2.0).fit(X[features], y)
    sdf = spark.createDataFrame(X)
    out = SparkBatchPredictor(model).predict(sdf)
    capsys.readouterr()
    out.explain()
    assert "Python" not in capsys.readouterr().out  # computed by the server's JVM
    scored = out.toPandas().sort_values("row")
    np.testing.assert_allclose(scored["prediction"], model.predict(X[features]), rtol=1e-12)

    from pyspark.sql import functions as F

    holed = sdf.withColumn("bmi", F.when(F.col("row") == 3, None).otherwise(F.col("bmi")))
    with pytest.raises(Exception, match="Feature column 'bmi' is null, NaN or infinite"):
        SparkBatchPredictor(model).predict(holed).collect()
