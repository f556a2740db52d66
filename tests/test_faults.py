"""Faults inside one group or one candidate: a crash, the out-of-memory killer, a MemoryError,
a hang. Each test counts that nothing else is lost and compares the survivors with
scikit-learn fitted by hand on the same rows.

The faulty estimator decides what to do from the number of rows it is given, so one group (or
one candidate) misbehaves and the others are ordinary regressors.
"""

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold

from spark_sklearn_bridge import GroupedEstimator, SparkGridSearchCV
from spark_sklearn_bridge._isolation import run_isolated
from spark_sklearn_bridge.exceptions import CandidateFitError, GroupFitError


class Faulty(RegressorMixin, BaseEstimator):
    """Ridge, except when ``fault`` is set and the fit gets ``when_rows`` rows (or, for a
    search, when ``alpha == when_alpha``): then it crashes, is killed, runs out of memory or
    hangs. With ``once_dir`` the fault happens on the first attempt only."""

    def __init__(self, alpha=1.0, fault=None, when_rows=None, when_alpha=None, once_dir=None):
        self.alpha = alpha
        self.fault = fault
        self.when_rows = when_rows
        self.when_alpha = when_alpha
        self.once_dir = once_dir

    def fit(self, X, y):
        hit = len(X) == self.when_rows or (
            self.when_alpha is not None and self.alpha == self.when_alpha
        )
        if hit and self.fault and self._first_time():
            _misbehave(self.fault)
        self.model_ = Ridge(alpha=self.alpha).fit(X, y)
        return self

    def _first_time(self):
        if self.once_dir is None:
            return True
        marker = os.path.join(self.once_dir, "tried")
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True

    def predict(self, X):
        return self.model_.predict(X)


def _misbehave(fault):
    if fault == "crash":
        os._exit(7)
    if fault == "killed":  # what the kernel's out-of-memory killer does
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "memory":
        np.ones(2**44)  # 128 TiB: numpy raises MemoryError
    if fault == "hang":
        time.sleep(3600)


def grouped_data(sizes=(20, 21, 22, 23, 24, 25)):
    rng = np.random.default_rng(0)
    frames = []
    for g, n in enumerate(sizes):
        X = rng.normal(size=(n, 2))
        frames.append(pd.DataFrame(X, columns=["a", "b"]).assign(g=g, y=X @ [g + 1.0, -1.0]))
    return pd.concat(frames, ignore_index=True)


def assert_survivors_equal_sklearn(model, data, failed):
    ok = data[~data["g"].isin(failed)]
    for g, rows in ok.groupby("g"):
        expected = Ridge().fit(rows[["a", "b"]], rows["y"]).coef_
        np.testing.assert_allclose(model.get_group_model(g).model_.coef_, expected)
    np.testing.assert_allclose(
        model.predict(ok[["g", "a", "b"]]),
        np.concatenate(
            [Ridge().fit(r[["a", "b"]], r["y"]).predict(r[["a", "b"]]) for _, r in ok.groupby("g")]
        )[np.argsort(np.argsort(ok.sort_values("g", kind="stable").index))],
    )


def table(model):
    return model.model_table_.toPandas().set_index("g").sort_index()


# ------------------------------------------------------------------ isolation unit
@pytest.mark.parametrize(
    "fault, message",
    [
        ("crash", "exited with code 7"),
        ("killed", "killed by signal 9 SIGKILL"),
        ("memory", "MemoryError"),
        ("hang", "did not finish within the 0.5 s time limit"),
    ],
)
def test_isolated_work_reports_how_it_ended(fault, message):
    outcome = run_isolated(lambda: _misbehave(fault), timeout=0.5, name="The work")
    assert outcome.failure is not None and message in outcome.failure
    assert run_isolated(lambda: {"value": 42}).value == {"value": 42}


# ------------------------------------------------------------------ grouped
@pytest.mark.parametrize("fault", ["crash", "killed"])
def test_a_group_whose_worker_dies_on_every_attempt_is_named_and_the_rest_kept(spark, fault):
    data = grouped_data()
    model = GroupedEstimator(
        Faulty(fault=fault, when_rows=22), "g", feature_cols=["a", "b"], on_error="skip"
    )
    with pytest.warns(RuntimeWarning, match="Python worker died"):
        model.fit(data[["g", "a", "b"]], data["y"])
    rows = table(model)
    assert len(rows) == 6 and model.n_groups_ == 6  # nothing lost
    assert list(rows.index[rows["status"] != "ok"]) == [2]
    assert "crashed" in rows.loc[2, "error"] and "group {'g': 2}" in rows.loc[2, "error"]
    assert_survivors_equal_sklearn(model, data, failed=[2])


def test_a_crashing_group_with_on_error_raise_names_the_group(spark):
    data = grouped_data()
    model = GroupedEstimator(Faulty(fault="crash", when_rows=24), "g", feature_cols=["a", "b"])
    with pytest.warns(RuntimeWarning), pytest.raises(GroupFitError, match=r"group \{'g': 4\}"):
        model.fit(data[["g", "a", "b"]], data["y"])
    assert not hasattr(model, "n_groups_")


def test_a_group_that_crashes_once_gives_the_complete_and_equal_result(spark, tmp_path):
    data = grouped_data()
    faulty = Faulty(fault="crash", when_rows=21, once_dir=str(tmp_path))
    model = GroupedEstimator(faulty, "g", feature_cols=["a", "b"])
    with pytest.warns(RuntimeWarning, match="Python worker died"):
        model.fit(data[["g", "a", "b"]], data["y"])
    assert (tmp_path / "tried").exists()  # the fault did happen
    assert (table(model)["status"] == "ok").all() and model.n_groups_ == 6
    assert_survivors_equal_sklearn(model, data, failed=[])


def test_out_of_memory_in_one_group_is_recorded(spark):
    data = grouped_data()
    model = GroupedEstimator(
        Faulty(fault="memory", when_rows=25), "g", feature_cols=["a", "b"], on_error="skip"
    ).fit(data[["g", "a", "b"]], data["y"])
    rows = table(model)
    assert list(rows.index[rows["status"] != "ok"]) == [5]
    assert "MemoryError" in rows.loc[5, "error"]
    assert_survivors_equal_sklearn(model, data, failed=[5])


def test_a_hanging_group_is_ended_by_group_timeout_and_recorded(spark):
    data = grouped_data()
    model = GroupedEstimator(
        Faulty(fault="hang", when_rows=20),
        "g",
        feature_cols=["a", "b"],
        on_error="skip",
        group_timeout=5,
    )
    start = time.perf_counter()
    model.fit(data[["g", "a", "b"]], data["y"])
    assert time.perf_counter() - start < 60
    rows = table(model)
    assert list(rows.index[rows["status"] != "ok"]) == [0]
    assert "did not finish within the 5 s time limit" in rows.loc[0, "error"]
    assert_survivors_equal_sklearn(model, data, failed=[0])


# ------------------------------------------------------------------ search
def search_data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    return X, X @ [1.0, 2.0, -1.0] + rng.normal(scale=0.1, size=60)


GRID = {"alpha": [0.1, 1.0, 3.0, 10.0]}


def sklearn_scores(X, y):
    reference = GridSearchCV(Faulty(), GRID, cv=KFold(3)).fit(X, y)
    return reference.cv_results_["mean_test_score"]


@pytest.mark.parametrize("fault", ["killed", "hang"])  # "crash": the error_score="raise" test
def test_a_candidate_that_dies_or_hangs_gets_error_score_and_the_others_complete(spark, fault):
    X, y = search_data()
    search = SparkGridSearchCV(
        Faulty(fault=fault, when_alpha=3.0),
        GRID,
        cv=KFold(3),
        candidate_timeout=5 if fault == "hang" else None,
    )
    with pytest.warns(Warning) as record:
        search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.isnan(scores[2])  # every candidate is recorded
    np.testing.assert_allclose(np.delete(scores, 2), np.delete(sklearn_scores(X, y), 2))
    messages = " ".join(str(w.message) for w in record)
    assert "candidate {'alpha': 3.0}" in messages
    assert "3 fits failed" in messages  # scikit-learn's FitFailedWarning, one per split
    assert ("time limit" if fault == "hang" else "crashed") in messages
    assert ("Python worker died" in messages) == (fault != "hang")


def test_a_crashing_candidate_with_error_score_raise_is_named(spark):
    X, y = search_data()
    search = SparkGridSearchCV(
        Faulty(fault="crash", when_alpha=10.0), GRID, cv=KFold(3), error_score="raise"
    )
    with pytest.warns(RuntimeWarning), pytest.raises(CandidateFitError, match="'alpha': 10.0"):
        search.fit(X, y)


def test_a_candidate_that_crashes_once_gives_sklearns_results(spark, tmp_path):
    X, y = search_data()
    faulty = Faulty(fault="crash", when_alpha=0.1, once_dir=str(tmp_path))
    search = SparkGridSearchCV(faulty, GRID, cv=KFold(3))
    with pytest.warns(RuntimeWarning, match="Python worker died"):
        search.fit(X, y)
    assert (tmp_path / "tried").exists()
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], sklearn_scores(X, y))
    assert (
        search.best_params_
        == clone(GridSearchCV(Faulty(), GRID, cv=KFold(3))).fit(X, y).best_params_
    )
