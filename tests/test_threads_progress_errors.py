import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from threadpoolctl import threadpool_info

from spark_sklearn_bridge import exceptions
from spark_sklearn_bridge._jobs import task_progress
from spark_sklearn_bridge._progress import (
    ProgressReporter,
    TaskProgress,
    progress_bar,
    progress_enabled,
)
from spark_sklearn_bridge._threads import limit_task_threads, task_cpus


def _pool_widths(batches):
    import numpy as np
    from threadpoolctl import threadpool_info as info

    from spark_sklearn_bridge._threads import limit_task_threads as limit

    for _ in batches:
        with limit():
            np.dot(np.ones((50, 50)), np.ones((50, 50)))  # make sure BLAS is loaded
            widths = [pool["num_threads"] for pool in info()]
        yield pd.DataFrame({"max_width": [max(widths)], "n_pools": [len(widths)]})


def test_tasks_use_no_more_threads_than_their_cores(spark):
    rows = (
        spark.range(2, numPartitions=2)
        .mapInPandas(_pool_widths, "max_width long, n_pools long")
        .collect()
    )
    assert all(r.n_pools >= 1 for r in rows)
    assert all(r.max_width == 1 for r in rows)  # spark.task.cpus defaults to 1


def test_limit_is_undone_after_the_block():
    before = [p["num_threads"] for p in threadpool_info()]
    with limit_task_threads(1):
        pass
    assert [p["num_threads"] for p in threadpool_info()] == before


def test_task_cpus_outside_a_task():
    assert task_cpus(default=7) == 7


def test_progress_is_off_in_ci_and_when_asked(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert not progress_enabled(None)
    assert progress_enabled(True)
    monkeypatch.delenv("CI")
    monkeypatch.delenv("SPARK_SKLEARN_BRIDGE_NO_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert progress_enabled(None)
    assert not progress_enabled(False)


def test_disabled_progress_bar_is_silent(capsys):
    with progress_bar(5, "groups", progress=False) as bar:
        bar.update(5)
    assert capsys.readouterr().err == ""


def _report_rows(reporter):
    def report(batches):
        for batch in batches:
            for _ in range(len(batch)):
                reporter.add(1)
            reporter.flush()
            yield batch

    return report


def test_tasks_report_progress_to_the_driver_while_the_job_runs(spark):
    with task_progress(spark, 40, "rows", "row", progress=True) as bar:
        job = spark.range(40, numPartitions=4).mapInPandas(_report_rows(bar.reporter), "id long")
        assert job.count() == 40
        assert bar.wait_for(40)
    assert bar.received == 40


def test_disabled_task_progress_listens_to_nothing(spark):
    with task_progress(spark, 3, "rows", "row", progress=False) as bar:
        assert bar.reporter is None
        assert bar.wait_for(3) is False  # returns at once


def test_reporter_pickles_without_its_socket_and_never_raises():
    import pickle

    reporter = ProgressReporter(("127.0.0.1", 9), "token", interval=0.0)
    reporter.add(2)  # port 9 (discard): nobody listens; nothing is raised
    restored = pickle.loads(pickle.dumps(reporter))
    assert restored.address == ("127.0.0.1", 9) and restored._socket is None
    unreachable = ProgressReporter(("256.0.0.1", 1), "token", interval=0.0)
    unreachable.add(1)  # invalid address: swallowed


def test_an_unusable_driver_address_disables_the_bar_instead_of_failing():
    with TaskProgress(5, "rows", progress=True, host="no-such-host.invalid") as bar:
        assert bar.reporter is None and not bar.enabled
        assert bar.wait_for(5) is False


def test_stray_datagrams_are_ignored():
    import socket

    with TaskProgress(None, "rows", progress=True) as bar:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.sendto(b"wrong-token 5", bar.reporter.address)
        sender.sendto(b"garbage", bar.reporter.address)
        bar.reporter.add(2)
        assert bar.wait_for(2)
        sender.close()
    assert bar.received == 2


@pytest.mark.parametrize("name", exceptions.__all__)
def test_every_error_derives_from_the_root(name):
    assert issubclass(getattr(exceptions, name), exceptions.SparkSklearnBridgeError)


def test_not_fitted_error_is_sklearns_too():
    assert issubclass(exceptions.NotFittedError, SklearnNotFittedError)
    err = exceptions.GroupFitError("boom", group={"g": 1}, remote_traceback="tb")
    assert err.group == {"g": 1} and err.remote_traceback == "tb"
