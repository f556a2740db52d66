"""Cancellation: a search nobody waits for leaves no Spark job working (issue #13, point 3).

Ctrl-C (SIGINT) and an exception in the driver cancel the running job through its job tag;
SparkHyperoptSearchCV's ``timeout`` cancels a round that runs past it. Each test fails
without the feature: the slow fits would go on for 30 s.
"""

import signal
import time

import numpy as np
import pytest
from hyperopt import hp
from search_cancel_cases import (
    SlowFit,
    fits_seen,
    interrupt_when,
    last_beat,
    no_active_job_within,
    seconds_until_quiet,
)
from sklearn.model_selection import GridSearchCV

from spark_sklearn_bridge import SparkGridSearchCV, SparkHyperoptSearchCV
from spark_sklearn_bridge.exceptions import SearchTimeoutError

X = np.arange(40, dtype=float).reshape(20, 2)
y = np.arange(20, dtype=float)


def test_ctrl_c_cancels_the_running_search_job(spark, tmp_path, plain_sigint):
    search = SparkGridSearchCV(
        SlowFit(log_dir=str(tmp_path)), {"alpha": [1.0, 2.0, 3.0, 4.0]}, cv=2
    )
    interrupt_when(lambda: fits_seen(tmp_path) >= 1)  # Ctrl-C a second into the fits
    with pytest.raises(KeyboardInterrupt):
        search.fit(X, y)
    interrupted = time.time()
    assert last_beat(tmp_path) - interrupted < 15  # the 30 s fits were not waited for
    assert seconds_until_quiet(tmp_path) <= 10
    assert no_active_job_within(spark, seconds=10)


def test_sigterm_turned_into_an_exception_cancels_the_running_job(spark, tmp_path):
    """Any exception that reaches the search while its job runs cancels the job: here a
    SIGTERM handler that raises, as service wrappers install."""
    import os
    import threading

    class Terminated(Exception):
        pass

    def handler(signum, frame):
        raise Terminated

    def terminate_when_fitting():
        while fits_seen(tmp_path) < 1:
            time.sleep(0.1)
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        threading.Thread(target=terminate_when_fitting, daemon=True).start()
        search = SparkGridSearchCV(SlowFit(log_dir=str(tmp_path)), {"alpha": [1.0, 2.0]}, cv=2)
        with pytest.raises(Terminated):
            search.fit(X, y)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert fits_seen(tmp_path) >= 1
    assert seconds_until_quiet(tmp_path) <= 10
    assert no_active_job_within(spark, seconds=10)


def test_hyperopt_timeout_cancels_the_round_that_runs_past_it(spark, tmp_path):
    space = {"alpha": hp.uniform("alpha", 0, 1)}
    SparkHyperoptSearchCV(SlowFit(sleep=0), space, max_evals=2, cv=2).fit(X, y)  # warm
    slow_after = time.time() + 4.0  # fast rounds first, then 30 s fits
    search = SparkHyperoptSearchCV(
        SlowFit(log_dir=str(tmp_path), slow_after=slow_after),
        space,
        # More than 4 s of fast rounds can finish (200 once took 4 s warm, then no round
        # was left to run past the timeout)
        max_evals=2000,
        timeout=7,
        cv=2,
        parallelism=2,
        random_state=0,
        refit=False,  # a refit of the best candidate would be a 30 s fit on the driver
    )
    start = time.monotonic()
    search.fit(X, y)
    assert time.monotonic() - start < 15
    assert seconds_until_quiet(tmp_path) <= 10
    assert no_active_job_within(spark, seconds=10)
    # The round cut short is in trials_, as failed trials marked cancelled.
    cancelled = [t for t in search.trials_.trials if t["result"].get("cancelled")]
    assert len(cancelled) == 2 and {t["result"]["status"] for t in cancelled} == {"fail"}
    done = len(search.cv_results_["params"])
    assert done == len(search.trials_.trials) - 2 >= 2  # the finished rounds: cv_results_
    # The finished candidates' scores are scikit-learn's.
    params = {"alpha": list(search.cv_results_["param_alpha"])}
    expected = GridSearchCV(SlowFit(sleep=0), params, cv=2).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"]
    )


def test_hyperopt_timeout_cancels_a_first_round_that_hangs(spark, tmp_path):
    """No round finished in time: this package's error names the timeout (it used to wait
    for the hang, then surface a bare Py4J error)."""
    search = SparkHyperoptSearchCV(
        SlowFit(log_dir=str(tmp_path), sleep=600),
        {"alpha": hp.uniform("alpha", 0, 1)},
        max_evals=4,
        timeout=5,
        cv=2,
        parallelism=2,
        random_state=0,
    )
    start = time.monotonic()
    with pytest.raises(SearchTimeoutError, match="timeout of 5 s passed before any candidate"):
        search.fit(X, y)
    assert time.monotonic() - start < 20
    assert seconds_until_quiet(tmp_path) <= 10
    assert no_active_job_within(spark, seconds=10)
    assert [t["result"]["cancelled"] for t in search.trials_.trials] == [True, True]
    assert not hasattr(search, "best_estimator_")
