"""Keep native thread pools inside a Spark task to the cores the task was given, cheaply."""

from __future__ import annotations

import contextlib
import gc
import os
import sys

from threadpoolctl import ThreadpoolController

__all__ = ["fit_with_cores", "limit_task_threads", "running_in_spark_task", "task_cpus"]


def running_in_spark_task() -> bool:
    """True inside a Spark task's Python worker (where no SparkSession can be used)."""
    try:
        from pyspark import TaskContext
    except ImportError:  # pragma: no cover - pyspark is a dependency
        return False
    return TaskContext.get() is not None


def task_cpus(default: int = 1) -> int:
    """Cores Spark gave the running task (``spark.task.cpus``); ``default`` outside a task."""
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
    except ImportError:  # pragma: no cover - pyspark is a dependency
        ctx = None
    if ctx is None:
        return default
    try:
        return max(1, int(ctx.cpus()))
    except Exception:  # older or unusual runtimes: fall back to one core
        return default


@contextlib.contextmanager
def limit_task_threads(n_threads: int | None = None):
    """Cap BLAS/OpenMP thread pools to ``n_threads`` (default: the task's cores).

    Two tasks on a 2-core executor must not each start a BLAS pool as wide as the machine:
    oversubscription makes numeric code several times slower.

    Examples
    --------
    >>> from threadpoolctl import threadpool_info
    >>> with limit_task_threads(1):
    ...     all(pool["num_threads"] == 1 for pool in threadpool_info())
    True
    """
    n = n_threads or task_cpus()
    if running_in_spark_task():
        _settle_worker_heap()
    # Libraries loaded later (e.g. an estimator's own OpenMP) read these at load time.
    previous = {
        k: os.environ.get(k)
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    for key in previous:
        os.environ[key] = str(n)
    try:
        with _controller().limit(limits=n):
            yield n
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_CONTROLLER: list = [None, -1]  # the process's ThreadpoolController, len(sys.modules) then


def _controller() -> ThreadpoolController:
    """threadpoolctl's view of the loaded native libraries, found again only when modules
    were imported since: finding them reads ``/proc/self/maps`` (12 ms in a Spark worker
    with scikit-learn loaded, measured), once per task otherwise."""
    if _CONTROLLER[1] != len(sys.modules):
        _CONTROLLER[:] = [ThreadpoolController(), len(sys.modules)]
    return _CONTROLLER[0]


def _settle_worker_heap() -> None:
    """Leave what this Python worker holds now out of the garbage collector's full passes.

    pyspark's daemon calls ``gc.collect()`` after every task of a reused worker; with
    scikit-learn, scipy and pandas imported that pass walks their ~150,000 objects: 68 ms
    per task (measured), more than a whole small task costs otherwise. ``gc.freeze()`` moves
    the objects alive at the start of a task (the imported modules, the shipped objects the
    worker caches) to the permanent generation; the task's own garbage is still collected.
    Frozen objects are still freed by reference counting.
    """
    gc.freeze()


@contextlib.contextmanager
def fit_with_cores(n_cores: int):
    """Let the estimators fitted in the block use ``n_cores`` cores, and no more.

    BLAS/OpenMP pools get ``n_cores`` threads (:func:`limit_task_threads`); joblib (what
    scikit-learn's ``n_jobs`` goes through) runs ``n_jobs=None`` as ``n_cores`` workers and
    counts ``n_cores`` CPUs for ``n_jobs=-1`` (``LOKY_MAX_CPU_COUNT``). An explicit
    ``n_jobs=k`` is the estimator's own choice and is left alone.
    """
    from joblib import parallel_config

    previous = os.environ.get("LOKY_MAX_CPU_COUNT")
    os.environ["LOKY_MAX_CPU_COUNT"] = str(n_cores)
    try:
        with limit_task_threads(n_cores), parallel_config(n_jobs=n_cores):
            yield n_cores
    finally:
        if previous is None:
            os.environ.pop("LOKY_MAX_CPU_COUNT", None)
        else:
            os.environ["LOKY_MAX_CPU_COUNT"] = previous
