"""Keep native thread pools inside a Spark task to the cores the task was given."""

from __future__ import annotations

import contextlib
import os

from threadpoolctl import threadpool_limits

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
    # Libraries loaded later (e.g. an estimator's own OpenMP) read these at load time.
    previous = {
        k: os.environ.get(k)
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    for key in previous:
        os.environ[key] = str(n)
    try:
        with threadpool_limits(limits=n):
            yield n
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
