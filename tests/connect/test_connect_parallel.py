"""The "spark" joblib backend on Spark Connect: every case of tests/joblib_cases.py against
joblib's default backend, and the failures a call can meet (as in tests/test_parallel.py)."""

import os
import signal
import time

import numpy as np
import pytest
from joblib import Parallel, delayed, parallel_config
from joblib_cases import CASES, assert_same

import spark_sklearn_bridge as ssb
from spark_sklearn_bridge.exceptions import RemoteTraceback, TaskCrashedError, TaskTimeoutError


def in_spark_task(_):
    from pyspark import TaskContext

    return TaskContext.get() is not None, os.getpid()


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_call_equals_joblibs_default_backend_on_connect(spark, case):
    expected = CASES[case]()
    with ssb.parallel_backend():
        result = CASES[case]()
    assert_same(result, expected)


def test_calls_run_in_spark_tasks_on_connect(spark):
    assert ssb.is_spark_connect(spark)
    with parallel_config(backend="spark"):
        where = Parallel()(delayed(in_spark_task)(i) for i in range(4))
    assert all(in_task for in_task, _ in where)
    assert os.getpid() not in {pid for _, pid in where}


def fail_on(i, bad):
    if i == bad:
        raise ValueError(f"item {i} is bad")
    return i


def die_on(i, bad):
    if i == bad:
        os.kill(os.getpid(), signal.SIGKILL)
    return i


def test_failures_are_named_on_connect(spark):
    with pytest.raises(ValueError, match="item 2 is bad") as info, ssb.parallel_backend():
        Parallel()(delayed(fail_on)(i, 2) for i in range(4))
    assert "task 3 of 4" in "\n".join(info.value.__notes__)
    assert isinstance(info.value.__cause__, RemoteTraceback)
    with (
        pytest.warns(RuntimeWarning, match="Python worker died"),
        pytest.raises(TaskCrashedError, match=r"task 2 of 3 \(die_on\(1, 1\)\)"),
        ssb.parallel_backend(),
    ):
        Parallel()(delayed(die_on)(i, 1) for i in range(3))


def sleep_on(i, bad):
    if i == bad:
        time.sleep(600)
    return i


def test_a_hanging_task_times_out_on_connect(spark):
    start = time.monotonic()
    with pytest.raises(TaskTimeoutError, match="task 2 of 3"), ssb.parallel_backend(timeout=3):
        Parallel()(delayed(sleep_on)(i, 1) for i in range(3))
    assert time.monotonic() - start < 40


def test_shared_arguments_on_connect(spark):
    X = np.random.default_rng(0).normal(size=(50_000, 20))  # 8 MB, read-only in the tasks
    with ssb.parallel_backend():
        sums = Parallel()(delayed(np.sum)(X, axis=a) for a in (0, 1, None))
    np.testing.assert_allclose(sums[2], X.sum())
    np.testing.assert_allclose(sums[0], X.sum(axis=0))
