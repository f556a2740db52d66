"""Halving, cancellation, resume and a distributed model table on Spark Connect, compared
with scikit-learn on the same data (the classic versions: tests/test_halving_sklearn_port.py,
tests/test_search_cancel.py, tests/test_search_resume.py,
tests/test_grouped_distributed.py)."""

import numpy as np
import pandas as pd
import pytest
from search_cancel_cases import SlowFit, files_in, fits_seen, interrupt_when, seconds_until_quiet
from sklearn.datasets import load_digits
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV
from sklearn.svm import SVC

from spark_sklearn_bridge import GroupedEstimator, SparkGridSearchCV, SparkHalvingGridSearchCV
from spark_sklearn_bridge.grouped import _table

X = np.arange(40, dtype=float).reshape(20, 2)
y = np.arange(20, dtype=float) + 1


def test_halving_grid_search_equals_sklearn_on_connect(spark):
    X_digits, y_digits = load_digits(return_X_y=True)
    grid = {"C": [0.1, 1, 10], "gamma": [1e-4, 1e-3, 1e-2]}
    ours = SparkHalvingGridSearchCV(SVC(), grid, random_state=0).fit(X_digits, y_digits)
    theirs = HalvingGridSearchCV(SVC(), grid, random_state=0).fit(X_digits, y_digits)
    assert ours.n_candidates_ == theirs.n_candidates_ and ours.n_resources_ == theirs.n_resources_
    assert ours.n_spark_jobs_ == ours.n_iterations_
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )
    assert list(ours.cv_results_["iter"]) == list(theirs.cv_results_["iter"])
    assert ours.best_params_ == theirs.best_params_


def test_ctrl_c_cancels_the_search_job_and_the_search_resumes_on_connect(
    spark, tmp_path, plain_sigint
):
    log, checkpoint = tmp_path / "log", tmp_path / "checkpoint"
    log.mkdir()
    grid = {"alpha": [0.5, 0.8, 0.9, 1.0, 1.1, 1.5]}

    def search():
        return SparkGridSearchCV(
            SlowFit(sleep=2.0, log_dir=str(log)), grid, cv=2, checkpoint=str(checkpoint)
        )

    interrupt_when(lambda: files_in(checkpoint / "fits") >= 2, delay=0.3)
    with pytest.raises(KeyboardInterrupt):
        search().fit(X, y)
    assert seconds_until_quiet(log) <= 10  # no executor works on the cancelled search
    seen = fits_seen(log)
    resumed = search().fit(X, y)
    assert 1 <= resumed.n_resumed_fits_ < 12
    # only the unfinished fits ran, and the refit of the best candidate on all the data
    assert fits_seen(log) - seen == 12 - resumed.n_resumed_fits_ + 1
    expected = GridSearchCV(SlowFit(sleep=0), grid, cv=2).fit(X, y)
    np.testing.assert_allclose(
        resumed.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"]
    )


def test_a_distributed_model_table_on_connect(spark, monkeypatch):
    monkeypatch.setattr(_table, "SHIP_LIMIT_BYTES", 0)
    rng = np.random.default_rng(0)
    data = pd.DataFrame(rng.normal(size=(60, 2)), columns=["f0", "f1"])
    data = data.assign(g=np.arange(60) % 3, y=lambda d: d["f0"] * (d["g"] + 1) - d["f1"])
    model = GroupedEstimator(Ridge(), "g", feature_cols=["f0", "f1"], label_col="y")
    model.fit(spark.createDataFrame(data))
    assert model._table.distributed is not None
    scored = model.predict(spark.createDataFrame(data.reset_index(names="i"))).toPandas()
    scored = scored.sort_values("i")["prediction"].to_numpy()
    for g, part in data.groupby("g"):
        reference = Ridge().fit(part[["f0", "f1"]], part["y"])
        np.testing.assert_allclose(scored[part.index], reference.predict(part[["f0", "f1"]]))
        np.testing.assert_allclose(model.get_group_model(g).coef_, reference.coef_)

    before = model.model_table_.toPandas().set_index("g")
    for _ in range(2):  # kept groups keep their record, however often others are refitted
        model.refit_groups(spark.createDataFrame(data[data["g"] == 1]))
    after = model.model_table_.toPandas().set_index("g")
    for g in (0, 2):
        assert after.loc[g, "model"] == before.loc[g, "model"]
        assert after.loc[g, "fitted_at"] == before.loc[g, "fitted_at"]
    assert after.loc[1, "fitted_at"] > before.loc[1, "fitted_at"]
