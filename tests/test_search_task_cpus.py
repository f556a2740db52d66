"""Cores per fit (issue #13, point 4): ``task_cpus=k`` gives every fit k cores and caps its
thread pools to k. In local mode (no stage-level scheduling) the search runs
``cores // k`` fits at once instead of asking Spark for a resource profile."""

import json
import time
import uuid
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_info

from spark_sklearn_bridge import SparkGridSearchCV, SparkHalvingGridSearchCV


class CoreProbe(RegressorMixin, BaseEstimator):
    """Records, per fit, when it ran and what it may use; predicts ``alpha`` x mean."""

    def __init__(self, alpha=1.0, log_dir=None):
        self.alpha = alpha
        self.log_dir = log_dir

    def fit(self, X, y):
        start = time.time()
        time.sleep(0.5)
        record = {
            "start": start,
            "end": time.time(),
            "joblib_n_jobs": joblib.effective_n_jobs(None),
            "joblib_cpus": joblib.cpu_count(),
            "blas_threads": sorted({p["num_threads"] for p in threadpool_info()}),
        }
        Path(self.log_dir, uuid.uuid4().hex).write_text(json.dumps(record))
        self.mean_ = self.alpha * float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def records(log_dir):
    return [json.loads(p.read_text()) for p in Path(log_dir).iterdir()]


def most_at_once(runs):
    events = sorted([(r["start"], 1) for r in runs] + [(r["end"], -1) for r in runs])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


X = np.arange(40, dtype=float).reshape(20, 2)
y = np.arange(20, dtype=float) + 1
GRID = {"alpha": [0.5, 1.0, 1.5, 2.0]}


@pytest.mark.parametrize("task_cpus", [None, 2])
def test_each_fit_gets_task_cpus_cores(spark, tmp_path, task_cpus):
    search = SparkGridSearchCV(
        CoreProbe(log_dir=str(tmp_path)), GRID, cv=2, task_cpus=task_cpus, refit=False
    )
    search.fit(X, y)
    runs = records(tmp_path)
    assert len(runs) == 8
    expected = GridSearchCV(CoreProbe(log_dir=str(tmp_path)), GRID, cv=2).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"]
    )
    if task_cpus is None:  # the default: one core per fit, both cores busy
        assert most_at_once(runs) == 2
        assert {r["joblib_n_jobs"] for r in runs} == {1}
    else:  # local[2] with 2 cores per fit: one fit at a time, each allowed 2 cores
        assert most_at_once(runs) == 1
        assert {r["joblib_n_jobs"] for r in runs} == {2}
        assert {r["joblib_cpus"] for r in runs} == {2}
        assert all(r["blas_threads"] in ([2], []) for r in runs)


def test_task_cpus_is_validated_and_applies_to_halving(spark, tmp_path):
    with pytest.raises(ValueError, match="task_cpus"):
        SparkGridSearchCV(CoreProbe(), GRID, task_cpus=0).fit(X, y)
    search = SparkHalvingGridSearchCV(
        CoreProbe(log_dir=str(tmp_path)), GRID, cv=2, task_cpus=2, random_state=0
    ).fit(X, y)
    assert most_at_once(records(tmp_path)) == 1 and search.n_spark_jobs_ == search.n_iterations_
