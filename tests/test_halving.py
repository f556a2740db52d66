"""SparkHalvingGridSearchCV / SparkHalvingRandomSearchCV against scikit-learn's halving
searches, for the three scikit-learn tests that cannot run as they are on Spark
(see ``SKIPPED`` in tests/test_halving_sklearn_port.py)."""

import json
import uuid
import zlib
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import randint
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV

from spark_sklearn_bridge import SparkHalvingGridSearchCV, SparkHalvingRandomSearchCV
from spark_sklearn_bridge.exceptions import EmptyInputError

X, y = make_classification(n_samples=400, random_state=0)
GRID = {"a": ["l1", "l2"], "b": list(range(12))}
PAIRS = [
    (SparkHalvingGridSearchCV, HalvingGridSearchCV, GRID),
    (SparkHalvingRandomSearchCV, HalvingRandomSearchCV, {"a": ["l1", "l2"], "b": randint(0, 50)}),
]


class Recorder(ClassifierMixin, BaseEstimator):
    """Predicts the majority class; each fit writes its sample count and parameters to a file
    of ``log_dir`` (the process that runs it may be an executor)."""

    def __init__(self, a="l1", b=0, log_dir=None):
        self.a = a
        self.b = b
        self.log_dir = log_dir

    def fit(self, X, y):
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[np.argmax(counts)]
        if self.log_dir is not None:
            record = {"n": len(X), "a": self.a, "b": int(self.b)}
            Path(self.log_dir, uuid.uuid4().hex).write_text(json.dumps(record))
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def fits(log_dir):
    records = [json.loads(p.read_text()) for p in Path(log_dir).iterdir()]
    return sorted((r["n"], r["a"], r["b"]) for r in records)


def tie_free_score(estimator, X, y):
    """A score that depends only on the candidate and the resources, never repeats, and is
    the same in every process (so both searches run the same tournament)."""
    key = f"{estimator.a}-{estimator.b}-{len(X)}".encode()
    return zlib.crc32(key) / 2**32


@pytest.mark.parametrize(("Ours", "Theirs", "space"), PAIRS)
def test_each_fit_gets_the_samples_scikit_learn_gives_it(spark, tmp_path, Ours, Theirs, space):
    kwargs = dict(factor=2, cv=2, refit=False, random_state=0, scoring=tie_free_score)
    if Ours is SparkHalvingRandomSearchCV:
        kwargs.update(n_candidates=24)
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    ours = Ours(Recorder(log_dir=str(tmp_path / "ours")), space, **kwargs).fit(X, y)
    Theirs(Recorder(log_dir=str(tmp_path / "theirs")), space, **kwargs).fit(X, y)
    assert fits(tmp_path / "ours") == fits(tmp_path / "theirs")
    assert ours.n_spark_jobs_ == ours.n_iterations_ >= 3  # one Spark job per iteration


@pytest.mark.parametrize(("Ours", "Theirs", "space"), PAIRS)
def test_cv_results_equal_scikit_learns_tournament(spark, Ours, Theirs, space):
    kwargs = dict(factor=2, cv=3, random_state=0, scoring=tie_free_score)
    if Ours is SparkHalvingRandomSearchCV:
        kwargs.update(n_candidates=24)
    ours = Ours(Recorder(), space, **kwargs).fit(X, y)
    theirs = Theirs(Recorder(), space, **kwargs).fit(X, y)
    for key in ("iter", "n_resources", "params", "rank_test_score"):
        assert list(ours.cv_results_[key]) == list(theirs.cv_results_[key]), key
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )
    assert ours.n_candidates_ == theirs.n_candidates_
    assert ours.n_resources_ == theirs.n_resources_
    assert ours.best_params_ == theirs.best_params_
    assert ours.best_index_ == theirs.best_index_


@pytest.mark.parametrize("Ours", [SparkHalvingGridSearchCV, SparkHalvingRandomSearchCV])
def test_empty_input_is_refused_before_any_job(spark, Ours):
    with pytest.raises(EmptyInputError, match="no rows"):
        Ours(Recorder(), GRID).fit(np.empty((0, 3)), np.empty(0))
