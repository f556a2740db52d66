"""The four paradigms on a real engine, equal to scikit-learn on the same data.

Run by ``make test`` twice: ``SSB_ENGINE=cluster`` (a standalone master and two 1-core
workers on 127.0.0.1) and ``SSB_ENGINE=connect`` (a Spark Connect server with Spark's default
settings). Saves go to a path every executor sees. The fault tests kill an executor in the
middle of a grouped fit and of a search (cluster only: a Connect server in local mode has no
executor to lose) and crash Python workers; each counts that nothing was lost.
"""

import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV, cross_val_score
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from spark_sklearn_bridge import (
    GroupedEstimator,
    SparkBatchPredictor,
    SparkGridSearchCV,
    SparkHyperoptSearchCV,
    SparkMLEstimator,
    SparkRandomizedSearchCV,
    predict_udf,
)
from spark_sklearn_bridge.exceptions import GroupFitError

ENGINE = os.environ.get("SSB_ENGINE")
cluster_only = pytest.mark.skipif(ENGINE != "cluster", reason="needs executors to kill")


def diabetes():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


def stores(n_groups=8, n_rows=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_groups * n_rows, 3))
    store = np.repeat(np.arange(n_groups), n_rows)
    coef = rng.normal(size=(n_groups, 3))
    y = np.einsum("ij,ij->i", X, coef[store]) + rng.normal(scale=0.1, size=len(store))
    frame = pd.DataFrame(X, columns=["f0", "f1", "f2"]).assign(store=store, y=y)
    return frame.assign(row=np.arange(len(frame)))


def by_hand(estimator_factory, data, features=("f0", "f1", "f2")):
    """Per-group models and in-order predictions, fitted by a plain pandas loop."""
    models, predictions = {}, np.empty(len(data))
    for key, rows in data.groupby("store"):
        models[key] = estimator_factory().fit(rows[list(features)], rows["y"])
        predictions[rows.index] = models[key].predict(rows[list(features)])
    return models, predictions


# ------------------------------------------------------------------ the four paradigms
def test_spark_ml_estimator_equals_sklearn_and_round_trips(spark, tmp_path):
    X, y = diabetes()
    sdf = spark.createDataFrame(X.assign(target=y))
    model = SparkMLEstimator(LinearRegression(), label_col="target").fit(sdf)
    reference = LinearRegression().fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-8)
    model.save(tmp_path / "linear")
    loaded = SparkMLEstimator.load(tmp_path / "linear", spark=spark)
    np.testing.assert_allclose(loaded.predict(X), reference.predict(X), rtol=1e-8)
    out = loaded.predict(sdf).toPandas()
    np.testing.assert_allclose(np.sort(out["prediction"]), np.sort(reference.predict(X)))

    X, labels = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = SparkMLEstimator(LogisticRegression()).fit(X, labels)
    agree = clf.predict(X) == LogisticRegression().fit(X, labels).predict(X)
    assert agree.mean() >= 0.99


def test_grouped_estimator_equals_sklearn_and_round_trips(spark, tmp_path):
    data = stores()
    sdf = spark.createDataFrame(data)
    model = GroupedEstimator(Ridge(), "store", feature_cols=["f0", "f1", "f2"], label_col="y")
    model.fit(sdf)
    models, expected = by_hand(Ridge, data)
    assert model.n_groups_ == 8 and model.n_failed_groups_ == 0
    for key, reference in models.items():
        np.testing.assert_allclose(model.get_group_model(key).coef_, reference.coef_)
    model.save(tmp_path / "grouped")
    loaded = GroupedEstimator.load(tmp_path / "grouped", spark=spark)
    for candidate in (model, loaded):
        out = candidate.predict(sdf).toPandas().sort_values("row")
        np.testing.assert_allclose(out["prediction"], expected)
        np.testing.assert_allclose(candidate.predict(data), expected)
    # pandas input goes through the same Spark job
    local = GroupedEstimator(Ridge(), "store", feature_cols=["f0", "f1", "f2"])
    local.fit(data.drop(columns="y"), data["y"])
    np.testing.assert_allclose(local.predict(data), expected)


@pytest.mark.parametrize("source", ["spark", "pandas"])
def test_grouped_size_placement_equals_sklearn(spark, source):
    """placement="size", one group 10x the others. Spark input: a counting job
    (mapInArrow), a broadcast plan joined on the keys' hash, then the fit. pandas input:
    planned on the driver, each row's planned partition travelling with it."""
    data = stores(n_groups=9, n_rows=20)
    data = pd.concat([data, stores(n_groups=1, n_rows=200, seed=1).assign(store=100)])
    data = data.reset_index(drop=True)
    features = ["f0", "f1", "f2"]
    if source == "spark":
        model = GroupedEstimator(
            Ridge(), "store", feature_cols=features, label_col="y", placement="size"
        ).fit(spark.createDataFrame(data))
    else:
        model = GroupedEstimator(Ridge(), "store", placement="size").fit(
            data[["store", *features]], data["y"]
        )
    models, expected = by_hand(Ridge, data)
    assert model.n_groups_ == 10 and model.n_failed_groups_ == 0
    for key, reference in models.items():
        np.testing.assert_allclose(model.get_group_model(key).coef_, reference.coef_)
    np.testing.assert_allclose(model.predict(data), expected)


def test_searches_equal_sklearn(spark):
    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.1]}
    ours = SparkGridSearchCV(SVC(), grid, cv=3).fit(X, y)
    theirs = GridSearchCV(SVC(), grid, cv=3).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )
    assert ours.best_params_ == theirs.best_params_

    dist = {"C": [0.01, 0.1, 1.0, 10.0, 100.0]}
    ours = SparkRandomizedSearchCV(SVC(), dist, n_iter=4, cv=3, random_state=0).fit(X, y)
    theirs = RandomizedSearchCV(SVC(), dist, n_iter=4, cv=3, random_state=0).fit(X, y)
    assert ours.cv_results_["params"] == theirs.cv_results_["params"]
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )

    from hyperopt import hp

    space = {"C": hp.loguniform("C", -3, 3)}
    tpe = SparkHyperoptSearchCV(SVC(), space, max_evals=8, cv=3, random_state=0).fit(X, y)
    assert len(tpe.cv_results_["params"]) == 8
    expected = cross_val_score(SVC(**tpe.best_params_), X, y, cv=3).mean()
    assert tpe.best_score_ == pytest.approx(expected)


def test_task_cpus_and_halving_equal_sklearn(spark, tmp_path):
    """task_cpus on the cluster asks for a stage-level task resource profile (1 core: the
    workers have one each); on Connect's local server, ``cores // 2`` fits at once. Halving
    and a checkpoint go through the same backend."""
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    from spark_sklearn_bridge import SparkHalvingGridSearchCV

    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.1]}
    task_cpus = 1 if ENGINE == "cluster" else 2
    ours = SparkGridSearchCV(
        SVC(), grid, cv=3, task_cpus=task_cpus, checkpoint=str(tmp_path / "grid")
    ).fit(X, y)
    theirs = GridSearchCV(SVC(), grid, cv=3).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )
    again = SparkGridSearchCV(SVC(), grid, cv=3, checkpoint=str(tmp_path / "grid")).fit(X, y)
    assert again.n_resumed_fits_ == 18 and again.n_spark_jobs_ == 0
    ours = SparkHalvingGridSearchCV(SVC(), grid, cv=3, random_state=0).fit(X, y)
    theirs = HalvingGridSearchCV(SVC(), grid, cv=3, random_state=0).fit(X, y)
    assert list(ours.cv_results_["iter"]) == list(theirs.cv_results_["iter"])
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )


def test_batch_predictor_equals_sklearn(spark):
    X, y = diabetes()
    model = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    sdf = spark.createDataFrame(X.reset_index(names="row"))
    out = SparkBatchPredictor(model).predict(sdf).toPandas().sort_values("row")
    np.testing.assert_allclose(out["prediction"], model.predict(X))
    udf = predict_udf(model)
    out = sdf.select("row", udf(*X.columns).alias("p")).toPandas().sort_values("row")
    np.testing.assert_allclose(out["p"], model.predict(X))


# ------------------------------------------------------------------ faults
class Slow(RegressorMixin, BaseEstimator):
    """Ridge that takes ``seconds`` to fit; with ``crash_dir`` it kills its own Python worker
    the first time (``once``) or every time it fits ``crash_rows`` rows."""

    def __init__(self, alpha=1.0, seconds=0.0, crash_rows=None, crash_dir=None, once=True):
        self.alpha = alpha
        self.seconds = seconds
        self.crash_rows = crash_rows
        self.crash_dir = crash_dir
        self.once = once

    def fit(self, X, y):
        time.sleep(self.seconds)
        if self.crash_rows is not None and len(X) == self.crash_rows:
            marker = os.path.join(self.crash_dir, f"crashed-{os.getpid()}")
            tried = any(n.startswith("crashed-") for n in os.listdir(self.crash_dir))
            if not (self.once and tried):
                open(marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
        self.model_ = Ridge(alpha=self.alpha).fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


class ExecutorKiller(threading.Thread):
    """Kills the first worker's executor (its JVM and Python workers) once a job has run
    for ``after`` seconds."""

    def __init__(self, spark, cluster, after=1.5):
        super().__init__(daemon=True)
        self.tracker = spark.sparkContext.statusTracker()
        self.cluster, self.after, self.killed = cluster, after, []

    def run(self):
        deadline = time.monotonic() + 120
        while not self.tracker.getActiveStageIds() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(self.after)
        for pid in self.cluster.workers[0].children():
            try:
                os.kill(pid, signal.SIGKILL)
                self.killed.append(pid)
            except ProcessLookupError:
                pass


@cluster_only
def test_an_executor_killed_mid_grouped_fit_loses_no_group(spark, engine):
    data = stores(n_groups=16, n_rows=30)
    killer = ExecutorKiller(spark, engine)
    killer.start()
    model = GroupedEstimator(
        Slow(seconds=0.4), "store", feature_cols=["f0", "f1", "f2"], label_col="y"
    ).fit(spark.createDataFrame(data))
    killer.join()
    assert killer.killed, "no executor was killed: the test proved nothing"
    table = model.model_table_.toPandas()
    assert sorted(table["store"]) == list(range(16)) and (table["status"] == "ok").all()
    _, expected = by_hand(Ridge, data)
    np.testing.assert_allclose(model.predict(data), expected)


@cluster_only
def test_an_executor_killed_mid_search_loses_no_candidate(spark, engine):
    X, y = load_diabetes(return_X_y=True)
    grid = {"alpha": [0.01, 0.1, 1.0, 10.0], "seconds": [0.3]}
    killer = ExecutorKiller(spark, engine)
    killer.start()
    ours = SparkGridSearchCV(Slow(), grid, cv=KFold(4)).fit(X, y)
    killer.join()
    assert killer.killed, "no executor was killed: the test proved nothing"
    theirs = GridSearchCV(Ridge(), {"alpha": grid["alpha"]}, cv=KFold(4)).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )


def test_a_python_worker_that_dies_once_costs_nothing(spark, tmp_path):
    data = stores()
    slow = Slow(crash_rows=40, crash_dir=str(tmp_path), once=True)
    model = GroupedEstimator(slow, "store", feature_cols=["f0", "f1", "f2"], label_col="y")
    import warnings

    with warnings.catch_warnings(record=True):  # local-mode engines retry through isolation
        warnings.simplefilter("always")
        model.fit(spark.createDataFrame(data))
    assert [n for n in os.listdir(tmp_path) if n.startswith("crashed-")]  # it did crash
    table = model.model_table_.toPandas()
    assert len(table) == 8 and (table["status"] == "ok").all()
    _, expected = by_hand(Ridge, data)
    np.testing.assert_allclose(model.predict(data), expected)


def test_a_group_that_kills_its_worker_every_time_is_named_and_the_rest_kept(spark, tmp_path):
    data = stores()
    data = data[~((data["store"] == 3) & (data["row"] % 40 >= 39))]  # store 3 has 39 rows
    slow = Slow(crash_rows=39, crash_dir=str(tmp_path), once=False)
    model = GroupedEstimator(
        slow, "store", feature_cols=["f0", "f1", "f2"], label_col="y", on_error="skip"
    )
    with pytest.warns(RuntimeWarning, match="Python worker died"):
        model.fit(spark.createDataFrame(data))
    table = model.model_table_.toPandas().set_index("store")
    assert len(table) == 8 and list(table.index[table["status"] != "ok"]) == [3]
    assert "group {'store': 3} crashed" in table.loc[3, "error"]
    with pytest.warns(RuntimeWarning), pytest.raises(GroupFitError, match=r"group \{'store': 3\}"):
        GroupedEstimator(slow, "store", feature_cols=["f0", "f1", "f2"], label_col="y").fit(
            spark.createDataFrame(data)
        )


def test_a_grouped_estimator_inside_a_search_fits_in_its_task(spark):
    data = stores(n_groups=3, n_rows=30).sample(frac=1.0, random_state=0)  # stores in every fold
    X, y = data[["store", "f0", "f1", "f2"]].reset_index(drop=True), data["y"].to_numpy()
    grid = {"estimator__alpha": [0.1, 10.0]}
    grouped = GroupedEstimator(Ridge(), "store")
    ours = SparkGridSearchCV(grouped, grid, cv=KFold(2)).fit(X, y)
    theirs = GridSearchCV(grouped, grid, cv=KFold(2)).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )
