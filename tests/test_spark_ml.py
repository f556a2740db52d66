"""Parity of every registered estimator with scikit-learn, on data shipped with scikit-learn."""

import numpy as np
import pandas as pd
import pytest
from sklearn import cluster, decomposition, ensemble, linear_model, preprocessing, svm, tree
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.metrics import accuracy_score, adjusted_rand_score, r2_score
from sklearn.pipeline import make_pipeline

from spark_sklearn_bridge import SparkMLEstimator, supported_estimators
from spark_sklearn_bridge.exceptions import NotFittedError, UnsupportedEstimatorError


def frame(loader, standardize=False):
    X, y = loader(return_X_y=True, as_frame=True)
    X.columns = [f"f{i}" for i in range(X.shape[1])]
    if standardize:
        X = (X - X.mean()) / X.std(ddof=0)
        X = X.loc[:, X.notna().all()]
    return X, np.asarray(y)


@pytest.fixture(scope="module")
def diabetes():
    return frame(load_diabetes)


@pytest.fixture(scope="module")
def cancer():
    return frame(load_breast_cancer, standardize=True)


@pytest.fixture(scope="module")
def iris():
    return frame(load_iris)


LINEAR_REGRESSORS = [
    linear_model.LinearRegression(),
    linear_model.Ridge(alpha=1.0),
    linear_model.Ridge(alpha=10.0, fit_intercept=False),
    linear_model.Lasso(alpha=0.1),
    linear_model.ElasticNet(alpha=0.1, l1_ratio=0.5),
]


@pytest.mark.parametrize("estimator", LINEAR_REGRESSORS, ids=repr)
def test_linear_regressors_match_coefficients(spark, diabetes, estimator):
    X, y = diabetes
    reference = type(estimator)(**estimator.get_params())
    if isinstance(reference, (linear_model.Lasso, linear_model.ElasticNet)):
        reference.set_params(tol=1e-12, max_iter=100_000)  # converge as tightly as Spark does
    reference.fit(X, y)
    model = SparkMLEstimator(estimator).fit(X, y)
    np.testing.assert_allclose(
        model.coef_, reference.coef_, rtol=1e-4, atol=1e-4 * np.abs(reference.coef_).max()
    )
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-4)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), rtol=1e-4)
    exported = model.to_sklearn()
    np.testing.assert_allclose(exported.predict(X), model.predict(X), rtol=1e-12)


@pytest.mark.parametrize("C", [0.1, 1.0])
def test_logistic_regression_binary_and_multinomial(spark, cancer, iris, C):
    for X, y in (cancer, iris):
        reference = linear_model.LogisticRegression(C=C, max_iter=5000, tol=1e-10).fit(X, y)
        model = SparkMLEstimator(linear_model.LogisticRegression(C=C)).fit(X, y)
        agreement = accuracy_score(reference.predict(X), model.predict(X))
        assert agreement >= 0.99
        np.testing.assert_allclose(
            model.coef_, reference.coef_, rtol=0.05, atol=0.05 * np.abs(reference.coef_).max()
        )
        np.testing.assert_array_equal(model.classes_, reference.classes_)
        proba = model.predict_proba(X)
        np.testing.assert_allclose(proba, reference.predict_proba(X), atol=0.02)
        np.testing.assert_array_equal(model.to_sklearn().predict(X), model.predict(X))


def test_linear_svc_binary(spark, cancer):
    X, y = cancer
    reference = svm.LinearSVC(C=1.0, loss="hinge", max_iter=100_000).fit(X, y)
    model = SparkMLEstimator(svm.LinearSVC(C=1.0, loss="hinge")).fit(X, y)
    # scikit-learn's liblinear also penalises the intercept, Spark does not: predictions agree
    assert accuracy_score(reference.predict(X), model.predict(X)) >= 0.99
    with pytest.raises(UnsupportedEstimatorError, match="loss='squared_hinge'.*hinge loss"):
        SparkMLEstimator(svm.LinearSVC()).fit(X, y)


TREES = [
    (tree.DecisionTreeClassifier(max_depth=4, random_state=0), "cancer", 0.03),
    (
        ensemble.RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0),
        "cancer",
        0.03,
    ),
    (
        ensemble.GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0),
        "cancer",
        0.03,
    ),
    (tree.DecisionTreeRegressor(max_depth=4, random_state=0), "diabetes", 0.08),
    (
        ensemble.RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0),
        "diabetes",
        0.08,
    ),
    (
        ensemble.GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0),
        "diabetes",
        0.08,
    ),
]


@pytest.mark.parametrize(("estimator", "data", "margin"), TREES, ids=lambda p: repr(p)[:40])
def test_trees_within_a_stated_margin(spark, cancer, diabetes, estimator, data, margin):
    """Spark bins features (maxBins) and draws its own bootstrap: training-set quality must
    match scikit-learn's within ``margin`` (accuracy for classifiers, R^2 for regressors)."""
    X, y = cancer if data == "cancer" else diabetes
    reference = estimator.fit(X, y)
    model = SparkMLEstimator(estimator).fit(X, y)
    metric = accuracy_score if data == "cancer" else r2_score
    assert abs(metric(y, model.predict(X)) - metric(y, reference.predict(X))) <= margin
    assert model.feature_importances_.shape == (X.shape[1],)
    assert model.feature_importances_.sum() == pytest.approx(1.0)
    with pytest.raises(UnsupportedEstimatorError, match="no faithful scikit-learn export"):
        model.to_sklearn()


def test_kmeans_clusters_agree(spark, iris):
    X, _ = iris
    reference = cluster.KMeans(n_clusters=3, n_init=10, random_state=0).fit(X)
    model = SparkMLEstimator(cluster.KMeans(n_clusters=3, random_state=0)).fit(X)
    assert adjusted_rand_score(reference.labels_, model.predict(X)) >= 0.95
    np.testing.assert_array_equal(model.to_sklearn().predict(X), model.predict(X))
    assert model.cluster_centers_.shape == (3, 4)


def test_scalers_and_pca_transform_equal(spark, diabetes):
    X, _ = diabetes
    for estimator in (preprocessing.StandardScaler(), preprocessing.MinMaxScaler((-1, 2))):
        reference = estimator.fit(X)
        model = SparkMLEstimator(estimator).fit(X)
        np.testing.assert_allclose(model.transform(X), reference.transform(X), atol=1e-10)
        np.testing.assert_allclose(
            model.to_sklearn().transform(X),
            reference.transform(X),
            atol=1e-10,
        )
    reference = decomposition.PCA(n_components=3).fit(X)
    model = SparkMLEstimator(decomposition.PCA(n_components=3)).fit(X)
    ours, theirs = model.transform(X), reference.transform(X)
    signs = np.sign((ours * theirs).sum(axis=0))
    np.testing.assert_allclose(ours * signs, theirs, atol=1e-8)
    np.testing.assert_allclose(np.abs(model.components_), np.abs(reference.components_), atol=1e-8)
    exported = model.to_sklearn()
    np.testing.assert_allclose(exported.explained_variance_, reference.explained_variance_)
    np.testing.assert_allclose(np.abs(exported.transform(X)), np.abs(theirs), atol=1e-8)


def test_pipeline_of_supported_steps(spark, cancer):
    X, y = cancer
    pipe = make_pipeline(
        preprocessing.StandardScaler(),
        decomposition.PCA(n_components=5),
        linear_model.LogisticRegression(C=1.0),
    )
    reference = make_pipeline(
        preprocessing.StandardScaler(),
        decomposition.PCA(n_components=5),
        linear_model.LogisticRegression(C=1.0, tol=1e-10, max_iter=5000),
    ).fit(X, y)
    model = SparkMLEstimator(pipe).fit(X, y)
    assert accuracy_score(reference.predict(X), model.predict(X)) >= 0.99
    exported = model.to_sklearn()
    np.testing.assert_array_equal(exported.predict(X), model.predict(X))


def test_spark_dataframe_in_and_out(spark, diabetes):
    X, y = diabetes
    sdf = spark.createDataFrame(X.assign(target=y).reset_index(names="row"))
    model = SparkMLEstimator(
        linear_model.Ridge(alpha=1.0), label_col="target", feature_cols=list(X.columns)
    ).fit(sdf)
    out = model.predict(sdf).select("row", "prediction").toPandas().sort_values("row")
    reference = linear_model.Ridge(alpha=1.0).fit(X, y)
    np.testing.assert_allclose(out["prediction"], reference.predict(X), rtol=1e-6)


def test_save_load_and_mlflow(spark, diabetes, tmp_path, mlflow_store):
    import mlflow

    X, y = diabetes
    model = SparkMLEstimator(linear_model.Ridge(alpha=2.0)).fit(X, y)
    model.save(tmp_path / "m")
    loaded = SparkMLEstimator.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.coef_, model.coef_)
    with mlflow.start_run():
        uri = model.log_to_mlflow()
    local = mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "dl"))
    np.testing.assert_allclose(SparkMLEstimator.load(local).predict(X), model.predict(X))


def test_unsupported_things_are_named(spark, diabetes):
    X, y = diabetes
    with pytest.raises(
        UnsupportedEstimatorError, match="SVR has no pyspark.ml counterpart.*LinearRegression"
    ):
        SparkMLEstimator(svm.SVR()).fit(X, y)
    with pytest.raises(UnsupportedEstimatorError, match=r"max_depth=40.*at most 30 deep"):
        SparkMLEstimator(ensemble.RandomForestRegressor(max_depth=40)).fit(X, y)
    with pytest.raises(UnsupportedEstimatorError, match=r"loss='squared_hinge'.*hinge loss"):
        SparkMLEstimator(svm.LinearSVC()).fit(X, y > 150)
    with pytest.raises(UnsupportedEstimatorError, match=r"min_samples_split=4"):
        SparkMLEstimator(tree.DecisionTreeRegressor(min_samples_split=4)).fit(X, y)
    with pytest.raises(UnsupportedEstimatorError, match=r"positive=True"):
        SparkMLEstimator(linear_model.LinearRegression(positive=True)).fit(X, y)
    with pytest.raises(UnsupportedEstimatorError, match="Only the last step"):
        SparkMLEstimator(make_pipeline(linear_model.Ridge(), preprocessing.StandardScaler())).fit(
            X, y
        )
    with pytest.raises(NotFittedError):
        SparkMLEstimator(linear_model.Ridge()).predict(X)
    # 16 models and vector transformers, 7 more preprocessing steps, and ColumnTransformer
    assert {"Ridge", "OneHotEncoder", "ColumnTransformer"} <= set(supported_estimators())
    assert len(supported_estimators()) == 24


def test_digits_multinomial_agreement(spark):
    X, y = load_digits(return_X_y=True)
    X = pd.DataFrame(X / 16.0, columns=[f"p{i}" for i in range(64)])
    estimator = linear_model.LogisticRegression(C=0.1, max_iter=5000)
    reference = clone(estimator).fit(X, y)
    model = SparkMLEstimator(estimator).fit(X, y)
    assert accuracy_score(reference.predict(X), model.predict(X)) >= 0.99


def test_string_labels_are_indexed_and_restored(spark, iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    reference = linear_model.LogisticRegression(C=1.0, max_iter=5000).fit(X, names)
    model = SparkMLEstimator(linear_model.LogisticRegression(C=1.0)).fit(X, names)
    np.testing.assert_array_equal(model.classes_, reference.classes_)
    assert accuracy_score(reference.predict(X), model.predict(X)) >= 0.99
    sdf = spark.createDataFrame(X.assign(species=names))
    out = SparkMLEstimator(linear_model.LogisticRegression(C=1.0), label_col="species").fit(sdf)
    assert set(out.predict(sdf).select("prediction").toPandas()["prediction"]) <= set(names)


def test_inside_a_sklearn_pipeline(spark, diabetes):
    X, y = diabetes
    pipe = make_pipeline(
        preprocessing.StandardScaler(), SparkMLEstimator(linear_model.Ridge(alpha=1.0))
    )
    reference = make_pipeline(preprocessing.StandardScaler(), linear_model.Ridge(alpha=1.0))
    np.testing.assert_allclose(
        pipe.fit(X, y).predict(X), reference.fit(X, y).predict(X), rtol=1e-6
    )


def test_a_fitted_model_refuses_pickling_with_directions_but_clones(spark, diabetes):
    import pickle

    X, y = diabetes
    model = SparkMLEstimator(linear_model.Ridge()).fit(X, y)
    with pytest.raises(TypeError, match=r"save\(\) / load\(\), or to_sklearn\(\)"):
        pickle.dumps(model)
    assert not hasattr(clone(model), "spark_model_")
    pickle.loads(pickle.dumps(SparkMLEstimator(linear_model.Ridge())))  # unfitted: fine


def test_missing_feature_columns_of_spark_input_are_a_column_error(spark, diabetes):
    from spark_sklearn_bridge.exceptions import ColumnError

    X, y = diabetes
    frame = pd.DataFrame(np.asarray(X)[:, :3], columns=["a", "b", "c"])
    model = SparkMLEstimator(linear_model.Ridge()).fit(frame, y)
    rows = spark.createDataFrame(frame[["a", "b"]])
    with pytest.raises(ColumnError, match=r"lacks feature columns .*\['c'\]"):
        model.predict(rows)


class _FakeConnectError(Exception):
    """A pyspark error as Spark Connect raises it, with a chosen condition."""

    def __init__(self, condition):
        super().__init__(f"[{condition}] Generic Spark Connect ML error.\nJVM stacktrace: ...")
        self.condition = condition

    def getCondition(self):
        return self.condition


def test_connect_ml_cache_errors_name_estimator_limit_and_setting(monkeypatch):
    from pyspark.errors import PySparkException

    from spark_sklearn_bridge.exceptions import ConnectMLLimitError
    from spark_sklearn_bridge.spark_ml._connect_ml import connect_ml_limits

    class Error(_FakeConnectError, PySparkException):
        pass

    class Conf:
        def get(self, key, default=None):
            return "15min" if key.endswith("offloadingTimeout") else default

    class Session:
        conf = Conf()

    limits = connect_ml_limits(cluster.KMeans(), Session())
    with (
        pytest.raises(ConnectMLLimitError, match=r"KMeans.*idle.*offloadingTimeout \(now 15min\)"),
        limits,
    ):
        raise Error("CONNECT_ML.CACHE_INVALID")
    with pytest.raises(Error), connect_ml_limits(cluster.KMeans(), Session()):
        raise Error("CONNECT_ML.ATTRIBUTE_NOT_ALLOWED")  # anything else passes through
