"""The "spark" joblib backend (issue #21): any scikit-learn call that fans out through joblib.

Every case of tests/joblib_cases.py runs under joblib's default backend and under this one,
and must give the same result; the other tests cover how calls are run (one Spark job, data
shipped once, copies per task), where they must not go to Spark (shared memory, nested calls,
calls inside an executor), and failures (exceptions, crashes, hangs, Ctrl-C).
"""

import io
import os
import signal
import socket
import threading
import time
import warnings

import cloudpickle
import joblib
import numpy as np
import pytest
from joblib import Parallel, delayed, parallel_config
from joblib_cases import CASES, assert_same
from search_cancel_cases import no_active_job_within
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from threadpoolctl import threadpool_info

import spark_sklearn_bridge as ssb
from spark_sklearn_bridge.exceptions import (
    RemoteTraceback,
    TaskCrashedError,
    TaskError,
    TaskTimeoutError,
)
from spark_sklearn_bridge.parallel import _runner, _tasks
from spark_sklearn_bridge.parallel._queue import BatchQueue, QueueClient, QueueUnreachableError


def spark_job_ids(spark):
    return set(spark.sparkContext.statusTracker().getJobIdsForGroup())


class JobCounter:
    """How many Spark jobs (without a job group) started in the block."""

    def __init__(self, spark):
        self.spark = spark

    def __enter__(self):
        self.before = spark_job_ids(self.spark)
        return self

    def __exit__(self, *exc_info):
        self.count = len(spark_job_ids(self.spark) - self.before)


# ---------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_call_equals_joblibs_default_backend(spark, case):
    expected = CASES[case]()  # joblib's default backend (loky processes), n_jobs=2
    with JobCounter(spark) as jobs, ssb.parallel_backend():
        result = CASES[case]()
    assert_same(result, expected)
    assert jobs.count >= 1  # the work ran on Spark, not on the driver


def test_parallel_config_and_parallel_backend_by_name(spark):
    """Code written for joblibspark: the backend by its name, with backend parameters."""
    X, y = load_iris(return_X_y=True)
    expected = cross_val_score(LogisticRegression(max_iter=500), X, y, cv=5)
    ssb.register_spark()  # joblibspark's name; registered on import already
    with JobCounter(spark) as jobs, joblib.parallel_backend("spark", n_jobs=2):
        by_name = cross_val_score(LogisticRegression(max_iter=500), X, y, cv=5)
    assert jobs.count == 1
    with parallel_config(backend="spark", num_cpus_per_spark_task=1, spark=spark):
        by_config = cross_val_score(LogisticRegression(max_iter=500), X, y, cv=5)
    np.testing.assert_array_equal(by_name, expected)
    np.testing.assert_array_equal(by_config, expected)


def test_every_return_as_and_a_call_of_many_items_is_one_job(spark):
    with JobCounter(spark) as jobs, ssb.parallel_backend(spark=spark):
        squares = Parallel(pre_dispatch="2*n_jobs")(delayed(pow)(i, 2) for i in range(40))
    assert squares == [i * i for i in range(40)]
    assert jobs.count == 1  # all 40 batches, not waves of 2 * n_jobs
    with ssb.parallel_backend():
        ordered = list(Parallel(return_as="generator")(delayed(pow)(i, 2) for i in range(7)))
        unordered = Parallel(return_as="generator_unordered")(delayed(pow)(i, 2) for i in range(7))
        assert ordered == [i * i for i in range(7)]
        assert sorted(unordered) == ordered


def test_n_jobs_1_runs_on_the_driver_and_n_jobs_none_uses_the_cluster(spark):
    with JobCounter(spark) as jobs, ssb.parallel_backend():
        pids = Parallel(n_jobs=1)(delayed(os.getpid)() for _ in range(3))
    assert set(pids) == {os.getpid()} and jobs.count == 0
    with parallel_config(backend="spark"):  # n_jobs left unset: the backend's default, -1
        assert joblib.effective_n_jobs() == spark.sparkContext.defaultParallelism
        assert joblib.effective_n_jobs(-2) == 2  # never 1: that would run on the driver
        assert joblib.effective_n_jobs(5) == 5


# ------------------------------------------------------------------- data once per call
def test_shared_arguments_are_shipped_once_per_call(spark, monkeypatch):
    X = np.random.default_rng(0).normal(size=(20_000, 50))  # 8 MB
    shipped, payloads = [], []
    real_ship, real_collect = _runner.ship, _runner.TaskRunner._collect

    def spy_ship(spark, obj, **kwargs):
        shipment = real_ship(spark, obj, **kwargs)
        if not kwargs["what"].endswith(" batches"):  # not the payloads of a pulled job
            shipped.append(obj)
        return shipment

    def spy_collect(self, rows, options, tag):
        payloads.extend(len(p) for _, _, p in rows)
        return real_collect(self, rows, options, tag)

    monkeypatch.setattr(_runner, "ship", spy_ship)
    monkeypatch.setattr(_runner.TaskRunner, "_collect", spy_collect)
    with ssb.parallel_backend():
        sums = Parallel()(delayed(np.sum)(X[:, :k]) for k in range(1, 30))
        means = Parallel()(delayed(np.mean)(X, axis=a) for a in (0, 1, None))
    np.testing.assert_allclose(sums, [X[:, :k].sum() for k in range(1, 30)])
    np.testing.assert_allclose(means[2], X.mean())
    # The slices are each their own argument; X itself is shared by the second call only.
    assert len(shipped) == 1 and any(v is X for v in shipped[0].values())
    assert max(payloads[29:]) < 10_000  # each batch of the second call refers to X


def test_each_task_gets_its_own_copy_and_large_arrays_are_read_only(spark):
    """As in joblib's process workers: a task that mutates an argument cannot change what
    another task sees; arrays of 1 MiB or more are shared read-only views."""
    counter = {"calls": 0}
    big = np.zeros(200_000)  # 1.6 MB

    def count(state, i):
        state["calls"] += 1
        return state["calls"]

    def write(array):
        try:
            array[0] = 1.0
        except ValueError as exc:
            return str(exc)
        return "written"

    with ssb.parallel_backend():
        seen = Parallel()(delayed(count)(counter, i) for i in range(12))
        writes = Parallel()(delayed(write)(a) for a in (big, big, np.zeros(10), np.zeros(10)))
    assert seen == [1] * 12 and counter == {"calls": 0}
    assert writes[:2] == ["assignment destination is read-only"] * 2
    assert writes[2:] == ["written", "written"]
    with parallel_config(backend="loky", n_jobs=2):  # joblib's own process workers agree
        assert Parallel()(delayed(write)(a) for a in (big, big))[0] == writes[0]


def test_a_definition_pickled_by_value_is_shipped_once_not_with_every_batch(spark, monkeypatch):
    """A notebook's function or class (cloudpickle pickles it by value) is pickled once per
    call: its definition cost 0.4-1 ms to pickle with each batch, and made each payload
    larger than the definition itself."""
    shipped, payloads = [], []
    real_ship, real_collect = _runner.ship, _runner.TaskRunner._collect

    def spy_ship(spark, obj, **kwargs):
        if not kwargs["what"].endswith(" batches"):  # not the payloads of a pulled job
            shipped.append(obj)
        return real_ship(spark, obj, **kwargs)

    def spy_collect(self, rows, options, tag):
        payloads.append([len(p) for _, _, p in rows])
        return real_collect(self, rows, options, tag)

    offset = 3.0

    def shifted(i):  # defined here: pickled by value, with the closure over ``offset``
        return float(np.sqrt(i)) + offset

    class Scaled:  # defined here, used by each batch through an argument of its own
        def __init__(self, k):
            self.k = k

        def value(self):
            return float(np.sqrt(self.k)) * 2

    def apply(scaled):
        return scaled.value()

    monkeypatch.setattr(_runner, "ship", spy_ship)
    monkeypatch.setattr(_runner.TaskRunner, "_collect", spy_collect)
    with ssb.parallel_backend():
        values = Parallel()(delayed(shifted)(i) for i in range(40))
        doubled = Parallel()(delayed(apply)(Scaled(i)) for i in range(40))
    assert values == [float(np.sqrt(i)) + offset for i in range(40)]
    assert doubled == [float(np.sqrt(i)) * 2 for i in range(40)]
    assert [list(bundle.values()) for bundle in shipped] == [[shifted], [apply, Scaled]]
    definition = len(cloudpickle.dumps(Scaled))
    assert max(payloads[0] + payloads[1]) < min(200, definition), (payloads, definition)


def test_a_job_whose_batches_fail_to_pickle_keeps_nothing_of_its_bundle(monkeypatch):
    """A token refers to a bundle shipped after the batches are pickled: if pickling fails,
    no later job may refer to that bundle."""
    monkeypatch.setattr(_runner, "ship", lambda spark, obj, **kwargs: dict(obj))
    shared = _runner.SharedBundles()

    def local(value):
        return value

    with pytest.raises(TypeError, match="lock"), shared.job(None, "objects") as pickle:
        pickle([(local, (1,), {})])
        pickle([(local, (threading.Lock(),), {})])
    assert shared.shipments == []
    with shared.job(None, "objects") as pickle:
        payload = pickle([(local, (1,), {})])
    assert shared.shipments == [{0: local}, None]  # a copied bundle, no links
    loaded = _tasks.SharedUnpickler(io.BytesIO(payload), [_Bundle({0: local})]).load()
    assert loaded[0][0] is local and loaded[0][1] == (1,)


class _Bundle:
    """A shipment stand-in: ``load().copy()`` gives the bundle's objects."""

    shared = True

    def __init__(self, objects):
        self.objects = objects

    def load(self):
        return self

    def copy(self, resolve=None):
        return dict(self.objects)


def test_links_are_one_copy_per_worker_and_other_shared_arguments_one_per_batch(
    spark, monkeypatch
):
    """Shared arguments are copied for each batch, as joblib's process workers unpickle
    their own; what links the batches to their caller (scikit-learn's callback contexts) is
    unpickled once per worker, the same object in all its batches, also inside the copies
    of arguments that refer to it."""
    link = LogisticRegression(C=0.5)  # a callback context's stand-in: not a builtin type
    monkeypatch.setattr(_runner, "_linked_contexts", lambda v: [link] if v is link else [])
    shared = _runner.SharedBundles()
    data, holder = np.arange(3.0), {"link": link}
    batches = [[(max, (data, link, holder), {})] for _ in range(3)]
    try:
        with shared.job(spark, "objects") as pickle:
            shared.add_arguments(batches)
            payloads = [pickle(batch) for batch in batches]
        copied, links = shared.shipments
        assert copied.shared and not links.shared
        loaded = [
            _tasks.SharedUnpickler(io.BytesIO(payload), shared.shipments).load()[0][1]
            for payload in payloads
        ]
        datas, links_loaded, holders = zip(*loaded)
        assert all(d is not data and np.array_equal(d, data) for d in datas)
        assert datas[0] is not datas[1] and holders[0] is not holders[1]
        assert links_loaded[0].C == 0.5 and links_loaded[0] is not link
        assert all(other is links_loaded[0] for other in links_loaded)
        assert all(h["link"] is links_loaded[0] for h in holders)
    finally:
        shared.close()


def test_definitions_are_told_apart_by_cloudpickles_own_rule():
    """Fails if cloudpickle's pickler hook stops telling the definitions it pickles by value
    from those it pickles by name."""
    import colorsys

    def local():
        return None

    class Local:
        pass

    by_reference = _runner._pickled_by_reference
    assert by_reference(np.sum) and by_reference(LogisticRegression) and by_reference(len)
    assert by_reference(colorsys.rgb_to_hsv)
    assert not by_reference(local) and not by_reference(Local)
    cloudpickle.register_pickle_by_value(colorsys)  # as conftest.py does for the tests
    try:
        assert not by_reference(colorsys.rgb_to_hsv)
    finally:
        cloudpickle.unregister_pickle_by_value(colorsys)
    assert by_reference(colorsys.rgb_to_hsv)


# ------------------------------------------------------ where a call must not go to Spark
def test_sharedmem_calls_run_in_threads_of_the_driver(spark):
    found = []
    with JobCounter(spark) as jobs, ssb.parallel_backend():
        Parallel(require="sharedmem")(delayed(found.append)(i) for i in range(5))
    assert sorted(found) == [0, 1, 2, 3, 4] and jobs.count == 0


def nested(i):
    inner = Parallel(n_jobs=2)(delayed(pow)(i, k) for k in range(3))
    return inner, type(joblib.parallel.get_active_backend()[0]).__name__


def opens_its_own_spark_backend(i):
    with parallel_config(backend="spark"):
        inner = Parallel(n_jobs=4)(delayed(os.getpid)() for _ in range(3))
    return set(inner) == {os.getpid()}


def test_nested_calls_and_calls_inside_a_task_run_in_the_task(spark):
    with ssb.parallel_backend():
        results = Parallel()(delayed(nested)(i) for i in range(4))
        local = Parallel()(delayed(opens_its_own_spark_backend)(i) for i in range(2))
    assert [r[0] for r in results] == [[1, i, i * i] for i in range(4)]
    assert {r[1] for r in results} == {"SequentialBackend"}
    assert local == [True, True]


def probe_cores(_):
    return joblib.effective_n_jobs(None), sorted({p["num_threads"] for p in threadpool_info()})


def test_task_cpus_caps_thread_pools_and_widens_nested_calls(spark):
    with ssb.parallel_backend():
        one = Parallel()(delayed(probe_cores)(i) for i in range(2))
    with ssb.parallel_backend(task_cpus=2):
        assert joblib.effective_n_jobs() == 2  # local[2]: one 2-core task at a time
        two = Parallel()(delayed(probe_cores)(i) for i in range(2))
    assert {r[0] for r in one} == {1} and {tuple(r[1]) for r in one} == {(1,)}
    assert {r[0] for r in two} == {2} and {tuple(r[1]) for r in two} == {(2,)}


def test_bad_backend_parameters_are_refused_by_name():
    with pytest.raises(ValueError, match="task_cpus must be a positive integer"):
        ssb.SparkBackend(task_cpus=0)
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        ssb.parallel_backend(timeout=-1)
    with pytest.raises(ValueError, match="not both"):
        ssb.SparkBackend(task_cpus=2, num_cpus_per_spark_task=2)
    with pytest.raises(ValueError, match="mlflow must be True or False"):
        ssb.SparkBackend(mlflow="yes")


# ------------------------------------------------------------------------------ failures
class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("this exception does not pickle")


def fail_on(i, bad, kind=ValueError):
    if i == bad:
        raise kind(f"item {i} is bad")
    return i


def test_an_exception_is_reraised_as_itself_naming_the_task(spark):
    with pytest.raises(KeyError, match="item 3 is bad") as info, ssb.parallel_backend():
        Parallel()(delayed(fail_on)(i, 3, KeyError) for i in range(6))
    assert "task 4 of 6 (fail_on(3, 3, ...))" in "\n".join(info.value.__notes__)
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "in fail_on" in str(info.value.__cause__)  # the executor's traceback
    with pytest.raises(TaskError, match="task 2 of 3") as info, ssb.parallel_backend():
        Parallel()(delayed(fail_on)(i, 1, Unpicklable) for i in range(3))
    assert "item 1 is bad" in info.value.remote_traceback


def die_on(i, bad, once_dir=None):
    if i == bad:
        marker = os.path.join(once_dir, "died") if once_dir else None
        if marker is None or not os.path.exists(marker):
            if marker:
                open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
    return i


def test_a_worker_that_dies_is_retried_isolated_then_named(spark, tmp_path):
    with pytest.warns(RuntimeWarning, match="Python worker died"), ssb.parallel_backend():
        once = Parallel()(delayed(die_on)(i, 2, str(tmp_path)) for i in range(5))
    assert once == [0, 1, 2, 3, 4]  # died once: the isolated retry completed it
    with (
        pytest.warns(RuntimeWarning, match="Python worker died"),
        pytest.raises(TaskCrashedError, match=r"task 3 of 5 \(die_on\(2, 2\)\) crashed") as info,
        ssb.parallel_backend(),
    ):
        Parallel()(delayed(die_on)(i, 2) for i in range(5))
    assert "signal 9" in str(info.value) and info.value.task.startswith("task 3 of 5")


def sleep_on(i, bad, seconds):
    if i == bad:
        time.sleep(seconds)
    return i


@pytest.mark.parametrize("where", ["parallel", "backend"])
def test_a_hanging_task_is_killed_at_its_timeout_and_named(spark, where):
    start = time.monotonic()
    options = {"timeout": 3} if where == "backend" else {}
    with (
        pytest.raises(TaskTimeoutError, match=r"task 2 of 4 \(sleep_on\(1, 1, 600\)\)") as info,
        ssb.parallel_backend(**options),
    ):
        Parallel(timeout=3 if where == "parallel" else None)(
            delayed(sleep_on)(i, 1, 600) for i in range(4)
        )
    assert isinstance(info.value, TimeoutError) and "3 s time limit" in str(info.value)
    assert time.monotonic() - start < 30
    assert no_active_job_within(spark, seconds=10)


def test_ctrl_c_cancels_the_running_job(spark, plain_sigint):
    def interrupt():
        time.sleep(3)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt), ssb.parallel_backend():
        Parallel()(delayed(sleep_on)(i, i, 60) for i in range(4))
    assert time.monotonic() - start < 20
    assert no_active_job_within(spark, seconds=10)


# ------------------------------------------------------------------ pulled batches
def test_the_batch_queue_hands_each_position_once_and_a_retry_what_its_partition_had():
    with BatchQueue(5, "127.0.0.1") as queue:
        with queue.client.connect(0, 0) as first, queue.client.connect(1, 0) as other:
            assert [first.next(), other.next(), first.next()] == [0, 1, 2]
            # partition 0 runs again (its attempt 0 failed): its outcomes were lost with it
            with queue.client.connect(0, 1) as retry:
                got = [retry.next(), first.next(), retry.next(), retry.next(), other.next()]
                got.append(retry.next())
        assert got == [0, None, 2, 3, 4, None]  # the older attempt got nothing more
        assert not queue.stopped


def test_the_batch_queue_hands_nothing_after_a_failure_or_once_the_job_is_over():
    with BatchQueue(10, "127.0.0.1") as queue:
        with queue.client.connect(0, 0) as first, queue.client.connect(1, 0) as other:
            assert [first.next(), other.next()] == [0, 1]
            assert first.next(failed=True) is None and other.next() is None
        assert queue.stopped
    with BatchQueue(10, "127.0.0.1") as queue:
        late = queue.client.connect(0, 0)
        assert late.next() == 0
    with late:  # a cancelled job's task, still asking
        assert late.next() is None


def test_the_batch_queue_answers_only_its_job_and_names_an_unreachable_driver():
    with BatchQueue(3, "127.0.0.1") as queue:
        forged = QueueClient(queue.client.address, b"0" * 32)
        with forged.connect(0, 0) as pull, pytest.raises(ConnectionError):
            pull.next()
        with queue.client.connect(0, 0) as pull:
            assert pull.next() == 0  # the forged client got nothing
        address = queue.client.address
    with pytest.raises(QueueUnreachableError, match=QueueUnreachableError.MARKER):
        QueueClient(address, b"0" * 32).connect(0, 0)  # nothing listens there any more
    with pytest.raises(QueueUnreachableError, match="cannot listen on host.invalid"):
        BatchQueue(3, "host.invalid").__enter__()  # a driver host that does not resolve


def run_where(i, seconds):
    from pyspark import TaskContext

    time.sleep(seconds)
    return TaskContext.get().partitionId()


def test_more_batches_than_slots_are_pulled_by_one_task_per_slot(spark):
    """local[2]: two tasks. The one that pulls the long batch first runs nothing else: the
    other task pulls every short one meanwhile (dealt, 8 tasks would share them)."""
    seconds = [3.0] + [0.05] * 11
    with ssb.parallel_backend():
        where = Parallel(batch_size=1)(delayed(run_where)(i, s) for i, s in enumerate(seconds))
    assert set(where) == {0, 1}
    assert where.count(where[0]) == 1, where


def log_and_fail_on(i, bad, log_dir):
    open(os.path.join(log_dir, str(i)), "w").close()
    if i == bad:
        raise ValueError(f"item {i} is bad")
    time.sleep(0.05)
    return i


def test_a_failed_pulled_batch_stops_every_task_of_the_job(spark, tmp_path):
    """Dealt, only the failed task's remaining batches were skipped (36 of these 40 would
    run); pulled, no task gets another batch once one failed."""
    with pytest.raises(ValueError, match="item 0 is bad"), ssb.parallel_backend():
        Parallel(batch_size=1)(delayed(log_and_fail_on)(i, 0, str(tmp_path)) for i in range(40))
    assert len(os.listdir(tmp_path)) < 10


def test_executors_that_cannot_reach_the_driver_get_their_batches_dealt(spark, monkeypatch):
    real_enter, dealt = BatchQueue.__enter__, []

    def unreachable(self):  # the tasks are told an address nothing listens on
        real_enter(self)
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            address = closed.getsockname()
        self.client = QueueClient(address, b"0" * 32)
        return self

    real_dealt = _runner.TaskRunner._collect_dealt

    def spy_dealt(self, rows, options, tag):
        dealt.append(len(rows))
        return real_dealt(self, rows, options, tag)

    monkeypatch.setattr(BatchQueue, "__enter__", unreachable)
    monkeypatch.setattr(_runner.TaskRunner, "_collect_dealt", spy_dealt)
    monkeypatch.setattr(_runner, "_UNREACHABLE", set())
    with pytest.warns(RuntimeWarning, match="cannot reach the driver"), ssb.parallel_backend():
        first = Parallel()(delayed(abs)(-i) for i in range(20))
    with warnings.catch_warnings(), ssb.parallel_backend():
        warnings.simplefilter("error")  # said once per session
        second = Parallel()(delayed(abs)(-i) for i in range(20))
    assert first == second == list(range(20))
    assert dealt == [20, 20]
    unreachable = _runner._UNREACHABLE
    assert unreachable == {spark.sparkContext.applicationId}


def test_a_driver_host_the_queue_cannot_listen_on_makes_the_runner_deal(spark, monkeypatch):
    monkeypatch.setattr(_runner, "driver_host", lambda spark: "host.invalid")
    monkeypatch.setattr(_runner, "_UNREACHABLE", set())
    warned = pytest.warns(RuntimeWarning, match="cannot listen on host.invalid")
    with warned, ssb.parallel_backend():
        assert Parallel()(delayed(abs)(-i) for i in range(20)) == list(range(20))
    unreachable = _runner._UNREACHABLE
    assert unreachable == {spark.sparkContext.applicationId}


def test_batches_no_pulled_task_returned_run_again_dealt(spark, monkeypatch):
    """A stale attempt's output that Spark keeps lacks what a newer attempt pulled: here the
    queue never hands out the last two positions, which the runner then runs dealt."""
    real_init, dealt = BatchQueue.__init__, []

    def short(self, n, host="127.0.0.1"):
        real_init(self, n - 2, host)

    real_dealt = _runner.TaskRunner._collect_dealt

    def spy_dealt(self, rows, options, tag):
        dealt.append([index for index, _, _ in rows])
        return real_dealt(self, rows, options, tag)

    monkeypatch.setattr(BatchQueue, "__init__", short)
    monkeypatch.setattr(_runner.TaskRunner, "_collect_dealt", spy_dealt)
    with ssb.parallel_backend():
        squares = Parallel(batch_size=1)(delayed(pow)(i, 2) for i in range(10))
    assert squares == [i**2 for i in range(10)] and dealt == [[8, 9]]


def test_pulled_and_dealt_searches_agree_with_scikit_learn(spark, monkeypatch):
    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.01, 0.1, 1.0, 10.0]}
    expected = cross_val_score(LogisticRegression(C=1.0, max_iter=500), X, y, cv=5)
    for pull in (True, False):
        monkeypatch.setattr(_runner, "PULL_BATCHES", pull)
        search = ssb.SparkGridSearchCV(LogisticRegression(max_iter=500), grid, cv=5).fit(X, y)
        np.testing.assert_allclose(
            [search.cv_results_[f"split{k}_test_score"][2] for k in range(5)], expected
        )


# ------------------------------------------------------------------ progress and MLflow
def test_progress_bar_counts_the_items(spark, capsys, monkeypatch):
    from spark_sklearn_bridge import _progress

    counted = []
    real_exit = _progress.TaskProgress.__exit__

    def spy_exit(self, *exc_info):
        counted.append(self.received)  # what the tasks reported, before the bar closes
        return real_exit(self, *exc_info)

    monkeypatch.setattr(_progress.TaskProgress, "__exit__", spy_exit)
    with ssb.parallel_backend(progress=True):
        Parallel()(delayed(sleep_on)(i, i, 0.3) for i in range(6))
    assert counted == [6]
    assert "tasks:" in capsys.readouterr().err  # the bar was drawn
    with ssb.parallel_backend(progress=False):
        Parallel()(delayed(pow)(i, 2) for i in range(3))
    assert counted == [6, 0] and "tasks:" not in capsys.readouterr().err


def test_mlflow_logs_one_run_per_call(spark, mlflow_store):
    import mlflow

    with ssb.parallel_backend(mlflow=True):
        Parallel()(delayed(pow)(i, 2) for i in range(6))
        with pytest.raises(ValueError):
            Parallel()(delayed(fail_on)(i, 1) for i in range(3))
    runs = mlflow.search_runs(experiment_ids=[mlflow_store.experiment_id])
    assert len(runs) == 2
    by_items = runs.set_index("metrics.n_items")
    assert by_items.loc[6, "tags.mlflow.runName"] == "joblib pow"
    assert by_items.loc[3, "metrics.n_failed"] >= 1
    assert "ValueError" in by_items.loc[3, "tags.failure"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ssb.parallel_backend():  # off by default: no new run
            Parallel()(delayed(pow)(i, 2) for i in range(3))
    assert len(mlflow.search_runs(experiment_ids=[mlflow_store.experiment_id])) == 2


def test_in_local_mode_shared_arguments_travel_as_one_file_removed_after_the_call(
    spark, tmp_path, monkeypatch
):
    """Every local-mode worker maps the same file (no broadcast in the JVM's heap)."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    X = np.arange(400_000, dtype=float).reshape(-1, 4)  # 3.2 MB: shared read-only
    seen = []
    real = _runner.ship

    def spy(spark, obj, **kwargs):
        shipment = real(spark, obj, **kwargs)
        seen.append((type(shipment.source).__name__, list(tmp_path.iterdir())))
        return shipment

    monkeypatch.setattr(_runner, "ship", spy)
    with ssb.parallel_backend():
        sums = Parallel()(delayed(np.sum)(X, axis=a) for a in (0, 1))
    np.testing.assert_allclose(sums[0], X.sum(axis=0))
    assert seen[0][0] == "LocalFile" and len(seen[0][1]) == 1
    assert not list(tmp_path.iterdir())  # removed when the call ended
