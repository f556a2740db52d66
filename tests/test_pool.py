"""A search's rounds on one pool of long-lived tasks (``parallel/_pool.py``).

The protocol is tested with threads standing in for Spark tasks; the searches on the
session's ``local[2]``, each compared with the same search without the pool and with
scikit-learn.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from hyperopt import hp
from search_cancel_cases import no_active_job_within
from sklearn.datasets import make_classification
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, KFold

import spark_sklearn_bridge as ssb
from spark_sklearn_bridge._serialization import load_model
from spark_sklearn_bridge._shipping import Shipment
from spark_sklearn_bridge.parallel import _pool, _runner
from spark_sklearn_bridge.parallel._pool import PoolGone, TaskLost, TaskPool, serve_pool
from spark_sklearn_bridge.parallel._queue import QueueClient


# ------------------------------------------------------------------ the protocol
class Died(Exception):
    """A stand-in task's death in the middle of a batch."""


class Tasks:
    """``n`` threads that serve a pool as its Spark tasks would; what each ran."""

    def __init__(self, n, run_batch=None):
        self.n, self.ran, self.seen, self.dead = n, [], [], []
        self.run_batch = run_batch or self.echo

    def echo(self, position, key, payload, *, shipments, tag):
        self.ran.append((tag, payload))
        self.seen.append([s.source for s in shipments])
        return payload.upper(), payload == b"bad"

    def serve(self, client, partition):
        try:
            serve_pool(client, partition, 0, [], self.run_batch)
        except Died:  # the task ends, and its connection with it
            self.dead.append(partition)

    def launch(self, client):
        threads = [threading.Thread(target=self.serve, args=(client, p)) for p in range(self.n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def rows(*payloads):
    return [(10 + i, "", p) for i, p in enumerate(payloads)]


def test_a_pool_runs_rounds_on_the_same_tasks_and_sends_each_shipment_once():
    tasks = Tasks(3)
    pool = TaskPool(3, "127.0.0.1", [], tasks.launch).start()
    first = [Shipment("d1", b"one")]
    assert pool.run(rows(b"a", b"b", b"c", b"d"), first, {"tag": 1}) == [
        (10, b"A"),
        (11, b"B"),
        (12, b"C"),
        (13, b"D"),
    ]
    second = [*first, Shipment("d2", b"two")]
    assert pool.sees(second) and not pool.sees([Shipment("d3", object())])
    assert pool.run(rows(b"e", b"f"), second, {"tag": 2}) == [(10, b"E"), (11, b"F")]
    assert sorted(tasks.ran) == [(1, b"a"), (1, b"b"), (1, b"c"), (1, b"d"), (2, b"e"), (2, b"f")]
    assert all(seen in ([b"one"], [b"one", b"two"]) for seen in tasks.seen)
    assert tasks.seen[-1] == [b"one", b"two"]  # a task's list grows; nothing is sent twice
    assert pool.alive and pool.close(wait=10) and not pool.alive
    with pytest.raises(PoolGone):
        pool.run(rows(b"g"), second, {"tag": 3})


def test_a_failed_batch_stops_the_round_and_the_rest_are_skipped():
    gate = threading.Event()

    def run_batch(position, key, payload, *, shipments):
        if payload != b"bad":
            gate.wait(10)  # the other task is still busy when the bad batch fails
        return payload, payload == b"bad"

    pool = TaskPool(2, "127.0.0.1", [], Tasks(2, run_batch).launch).start()
    timer = threading.Timer(0.5, gate.set)
    timer.start()
    results = dict(pool.run(rows(b"ok", b"bad", b"x", b"y", b"z"), [], {}))
    assert results[10] == b"ok" and results[11] == b"bad"
    assert [load_model(results[i], what="outcome") for i in (12, 13, 14)] == [("skipped",)] * 3
    assert pool.run(rows(b"next"), [], {}) == [(10, b"next")]  # the pool serves on
    pool.close(wait=10)


def test_a_task_run_again_by_spark_first_reruns_what_its_partition_had_not_answered():
    died = []

    def run_batch(position, key, payload, *, shipments):
        if payload == b"die" and not died:
            died.append(position)
            raise Died  # attempt 0 of its partition ends with its connection
        time.sleep(0.05)
        return payload, False

    tasks = Tasks(2, run_batch)

    def launch(client):  # Spark runs the dead task again, as attempt 1 of its partition
        first = threading.Thread(target=tasks.launch, args=(client,))
        first.start()
        while not tasks.dead:
            time.sleep(0.01)
        serve_pool(client, tasks.dead[0], 1, [], run_batch)
        first.join()

    pool = TaskPool(2, "127.0.0.1", [], launch).start()
    payloads = [b"a", b"die", b"b", b"c", b"d", b"e"]
    assert pool.run(rows(*payloads), [], {}) == [(10 + i, p) for i, p in enumerate(payloads)]
    pool.close(wait=10)


def test_a_task_gone_that_spark_does_not_run_again_fails_the_round(monkeypatch):
    monkeypatch.setattr(_pool, "LOST_SECONDS", 0.5)

    def run_batch(position, key, payload, *, shipments):
        if payload == b"die":
            raise Died
        time.sleep(0.05)
        return payload, False

    pool = TaskPool(2, "127.0.0.1", [], Tasks(2, run_batch).launch).start()
    with pytest.raises(TaskLost, match="Python worker exited unexpectedly"):
        pool.run(rows(b"a", b"die", b"b", b"c"), [], {})
    pool.close(wait=10)


def test_an_idle_pool_ends_its_job_and_a_forged_task_gets_nothing(monkeypatch):
    monkeypatch.setattr(_pool, "IDLE_SECONDS", 0.3)
    tasks = Tasks(2)
    pool = TaskPool(2, "127.0.0.1", [], tasks.launch)
    launched = threading.Event()
    real_launch = pool._launch

    def launch(client):
        forged = QueueClient(client.address, b"0" * 32)
        with pytest.raises(ConnectionError):
            serve_pool(forged, 0, 0, [], tasks.run_batch)
        launched.set()
        real_launch(client)

    pool._launch = launch
    pool.start()
    assert launched.wait(10)
    assert pool.run(rows(b"a"), [], {"tag": 1}) == [(10, b"A")]
    deadline = time.monotonic() + 10
    while pool.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pool.alive and pool.close(wait=1)  # the job had ended by itself
    with pytest.raises(PoolGone):
        pool.run(rows(b"b"), [], {"tag": 2})


class CountingCondition(threading.Condition):
    def __init__(self, lock):
        super().__init__(lock)
        self.waits = 0

    def wait(self, timeout=None):
        self.waits += 1
        return super().wait(timeout)


def test_a_task_with_nothing_left_in_a_long_round_sleeps_instead_of_polling(monkeypatch):
    """A round longer than IDLE_SECONDS: the task that has nothing left waits for the next
    round (or the end), not for an idle deadline already past (it polled every 10 ms)."""
    monkeypatch.setattr(_pool, "IDLE_SECONDS", 0.2)

    def run_batch(position, key, payload, *, shipments):
        time.sleep(1.5 if payload == b"long" else 0.0)
        return payload, False

    pool = TaskPool(2, "127.0.0.1", [], Tasks(2, run_batch).launch)
    pool._work = CountingCondition(pool._lock)
    pool.start()
    assert pool.run(rows(b"long", b"short"), [], {}) == [(10, b"long"), (11, b"short")]
    assert pool._work.waits < 20  # about 1.5 s / 0.2 s; polling made it about 150
    pool.close(wait=10)


# ------------------------------------------------------------------ searches on Spark
def data():
    return make_classification(120, 6, random_state=0)


def hyperopt_search(spark):
    return ssb.SparkHyperoptSearchCV(
        LogisticRegression(),
        {"C": hp.loguniform("C", -3, 3)},
        max_evals=8,
        parallelism=2,
        cv=KFold(3),
        random_state=0,
        spark=spark,
    )


def test_a_hyperopt_search_runs_its_rounds_on_one_pool(spark, pool_starts, monkeypatch):
    X, y = data()
    ended = []  # when the search's Parallel context ends, before the refit (joblib's terminate)
    real_end = _runner.TaskRunner.end_pool
    monkeypatch.setattr(
        _runner.TaskRunner,
        "end_pool",
        lambda self: ended.append(bool(self._pool and self._pool.alive)) or real_end(self),
    )
    pooled = hyperopt_search(spark).fit(X, y)
    assert len(pool_starts) == 1 and pooled.n_spark_jobs_ == 4  # 8 candidates, rounds of 2
    assert ended == [True]  # the pool served every round, and was ended once they were over
    assert no_active_job_within(spark, seconds=10)  # the pool's job ended with the fit
    monkeypatch.setattr(_runner, "POOL_TASKS", False)
    plain = hyperopt_search(spark).fit(X, y)
    assert len(pool_starts) == 1 and ended == [True, False]
    np.testing.assert_array_equal(pooled.cv_results_["param_C"], plain.cv_results_["param_C"])
    np.testing.assert_allclose(
        pooled.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
    tried = {"C": list(plain.cv_results_["param_C"])}
    expected = GridSearchCV(LogisticRegression(), tried, cv=KFold(3)).fit(X, y)
    np.testing.assert_allclose(
        pooled.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"]
    )


def test_a_halving_search_on_a_pool_matches_scikit_learn(spark, pool_starts):
    X, y = data()
    grid = {"C": [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]}
    ours = ssb.SparkHalvingGridSearchCV(
        LogisticRegression(), grid, cv=KFold(3), factor=2, random_state=0, spark=spark
    ).fit(X, y)
    theirs = HalvingGridSearchCV(
        LogisticRegression(), grid, cv=KFold(3), factor=2, random_state=0
    ).fit(X, y)
    assert len(pool_starts) == 1 and ours.n_spark_jobs_ == ours.n_iterations_ > 1
    for key in ("mean_test_score", "iter", "n_resources"):
        np.testing.assert_allclose(ours.cv_results_[key], theirs.cv_results_[key])
    assert ours.best_params_ == theirs.best_params_


def test_a_round_the_running_pool_cannot_read_starts_a_new_pool(spark, pool_starts, monkeypatch):
    """A round whose new shared objects are broadcasts (a cluster's, past POOL_INLINE_BYTES:
    ``tests/engines`` runs that for real) cannot go to tasks that started before them."""
    monkeypatch.setattr(TaskPool, "sees", lambda self, shipments: False)
    X, y = data()
    search = hyperopt_search(spark).fit(X, y)
    assert len(pool_starts) == search.n_spark_jobs_ == 4
    monkeypatch.setattr(_runner, "POOL_TASKS", False)
    plain = hyperopt_search(spark).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )


class PausingSearch(ssb.SparkGridSearchCV):
    """Runs a Spark job of its own between two rounds (``_run_search`` is scikit-learn's
    documented extension point): the pool must give the slots back for it."""

    def _run_search(self, evaluate_candidates):
        evaluate_candidates([{"C": 0.1}, {"C": 1.0}])
        self.between_ = self.spark.range(0, 100, 1, 2).count()
        evaluate_candidates([{"C": 10.0}])


def test_a_spark_job_between_rounds_runs_once_the_idle_pool_ends(spark, monkeypatch):
    monkeypatch.setattr(_pool, "IDLE_SECONDS", 0.5)
    X, y = data()
    start = time.monotonic()
    search = PausingSearch(LogisticRegression(), {"C": [1.0]}, cv=KFold(3), spark=spark)
    search.fit(X, y)
    assert search.between_ == 100 and time.monotonic() - start < 60
    expected = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0, 10.0]}, cv=KFold(3)).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"]
    )


def test_a_later_round_ships_only_its_candidates_not_the_splits_again(spark, monkeypatch):
    """scikit-learn computes ``cv.split`` again for every round: new arrays, equal values.
    Shared by value, they are shipped with the first round only."""
    shipped = []
    real_ship = _runner.ship

    def spy(spark, obj, **kwargs):
        if kwargs.get("shared"):
            shipped.append([type(v).__name__ for v in obj.values()])
        return real_ship(spark, obj, **kwargs)

    monkeypatch.setattr(_runner, "ship", spy)
    X, y = data()
    search = hyperopt_search(spark).fit(X, y)
    assert search.n_spark_jobs_ == 4 and len(shipped) == 4
    assert shipped[0].count("ndarray") >= 2 * 3  # X, y and the 3 splits' train and test
    assert all("ndarray" not in later for later in shipped[1:]), shipped
    monkeypatch.setattr(_runner, "POOL_TASKS", False)
    plain = hyperopt_search(spark).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
