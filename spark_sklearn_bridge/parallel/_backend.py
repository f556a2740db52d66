"""``SparkBackend``: the joblib backend registered as ``"spark"``.

joblib drives a backend through a few calls (``configure``, ``submit``, the result callbacks,
``abort_everything``); this one keeps every batch a ``Parallel`` call submits and runs them
all as ONE Spark job (:class:`~._runner.TaskRunner`) when joblib starts waiting for results
(``retrieval_context``, entered once the call has dispatched its batches). For that the call
dispatches everything at once: ``configure`` sets the call's ``pre_dispatch`` to ``"all"``.
"""

from __future__ import annotations

import contextlib
import time
from numbers import Integral, Real

from .._compat import (
    FallbackToBackend,
    ParallelBackendBase,
    SequentialBackend,
    batch_items,
    dispatch_all_at_once,
)
from .._jobs import cluster_cores, is_local_master
from .._session import get_spark
from .._threads import running_in_spark_task
from ._runner import TaskRunner, task_concurrency, task_limit
from ._tasks import TaskKind, describe_call

__all__ = ["SparkBackend"]


class SparkBackend(ParallelBackendBase):
    """joblib backend that runs each ``Parallel`` call as one Spark job.

    Registered as ``"spark"`` when ``spark_sklearn_bridge`` is imported, so scikit-learn's
    ``n_jobs`` (``cross_validate``, ``permutation_importance``, forests, ``GridSearchCV``
    ...) runs on Spark inside ``joblib.parallel_config(backend="spark")`` or
    :func:`~spark_sklearn_bridge.parallel_backend`. Every batch of a call becomes part of
    one Spark job; arguments the batches share (``X``, ``y``, a fitted estimator) are shipped
    once per call; each batch sees its own copy of them, with large arrays read-only, as in
    joblib's process workers.

    Parameters
    ----------
    spark : SparkSession, optional
        Default: :func:`~spark_sklearn_bridge.get_spark`, looked up when a call starts.
    task_cpus : int, optional
        Cores each task gets (a stage-level resource profile on a cluster; in local mode
        ``cores // task_cpus`` tasks at once). Inside a task, BLAS/OpenMP pools get that many
        threads, and a nested ``n_jobs`` that many workers. Default: one core, one thread.
    progress : bool, optional
        A bar of finished items while a call runs (classic Spark). Default: on a terminal
        and not in CI.
    timeout : float, optional
        Seconds each batch may take; ``Parallel(timeout=...)`` wins when given. Each batch
        then runs in its own process of the Spark task, killed when it overruns, and the call
        raises :class:`~spark_sklearn_bridge.exceptions.TaskTimeoutError` naming it.
    mlflow : bool, default=False
        Log one MLflow run per call (function, tasks, seconds, failures) to the active
        tracking URI, nested in the active run if there is one.
    num_cpus_per_spark_task, num_gpus_per_spark_task : optional
        joblibspark's names: the first is ``task_cpus``; the second requests that many
        GPUs per task (the cluster's ``gpu`` resource), so code written for joblibspark runs
        unchanged.
    **backend_kwargs
        Passed on to joblib's ``ParallelBackendBase`` (``nesting_level``).

    Notes
    -----
    ``n_jobs`` is how many batches run at once: ``-1`` (and ``None``, this backend's
    default) is every slot of the cluster (its cores divided by ``task_cpus``), ``k > 1``
    at most ``k``, ``1`` runs the call in the calling process as joblib does. A call
    with shared memory (``require="sharedmem"``) runs in threads of the driver (joblib's
    own rule), a call made inside a Spark task runs there, sequentially, and so does a
    nested call inside one of this backend's tasks.

    Examples
    --------
    >>> from joblib import Parallel, delayed, parallel_config
    >>> import spark_sklearn_bridge  # registers "spark"
    >>> with parallel_config(backend="spark"):
    ...     Parallel()(delayed(pow)(i, 2) for i in range(5))
    [0, 1, 4, 9, 16]
    """

    default_n_jobs = -1
    supports_retrieve_callback = True
    supports_timeout = True
    supports_sharedmem = False
    uses_threads = False

    def __init__(
        self,
        *,
        spark=None,
        task_cpus=None,
        progress=None,
        timeout=None,
        mlflow=False,
        num_cpus_per_spark_task=None,
        num_gpus_per_spark_task=None,
        **backend_kwargs,
    ):
        super().__init__(**backend_kwargs)
        if task_cpus is not None and num_cpus_per_spark_task is not None:
            raise ValueError("Give task_cpus or joblibspark's num_cpus_per_spark_task, not both.")
        self.spark = spark
        self.task_cpus = _check_positive_int(
            "task_cpus", task_cpus if task_cpus is not None else num_cpus_per_spark_task
        )
        self.task_gpus = _check_positive(
            "num_gpus_per_spark_task", num_gpus_per_spark_task, allow_none=True
        )
        if progress not in (None, True, False):
            raise ValueError(f"progress must be None, True or False; got {progress!r}.")
        self.progress = progress
        self.timeout = _check_positive("timeout", timeout, allow_none=True)
        if mlflow not in (True, False):
            raise ValueError(f"mlflow must be True or False; got {mlflow!r}.")
        self.mlflow = mlflow
        self.kind = TaskKind()
        self.parallel = None
        self._runner = None
        self._n_jobs = None

    # ----------------------------------------------------------- joblib's interface
    def configure(self, n_jobs=1, parallel=None, prefer=None, require=None, **kwargs):
        if running_in_spark_task():
            # A call made inside a Spark task (a user's function that opens its own
            # parallel_config): no Spark work from an executor; run it here.
            raise FallbackToBackend(SequentialBackend(nesting_level=self.nesting_level))
        self.parallel = parallel
        self._n_jobs = self.effective_n_jobs(n_jobs)
        if parallel is not None and self._n_jobs > 1:
            dispatch_all_at_once(parallel)  # every batch known up front: one Spark job
        return self._n_jobs

    def effective_n_jobs(self, n_jobs):
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if running_in_spark_task():
            return 1
        if n_jobs is None:
            n_jobs = self.default_n_jobs
        if n_jobs == 1:
            return 1
        if n_jobs < 0:
            # Counted from the cluster's slots as joblib counts from the CPUs; never 1,
            # which would make joblib run the call itself, on the driver.
            return max(2, self._slots() + 1 + n_jobs)
        return n_jobs

    def start_call(self):
        spark = get_spark(self.spark)
        slots = self._slots(spark)
        n_jobs = self._n_jobs or slots
        local_cap = bool(self.task_cpus) and is_local_master(spark)
        self._runner = TaskRunner(
            spark,
            max_tasks=task_limit(n_jobs, slots, local_cap=local_cap),
            concurrency=task_concurrency(n_jobs, slots, local_cap=local_cap),
            task_cpus=self.task_cpus,
            task_gpus=self.task_gpus or 0,
            progress=self.progress,
            kind=self.kind,
        )

    def submit(self, func, callback=None):
        return self._runner.submit(func, callback)

    @contextlib.contextmanager
    def retrieval_context(self):
        # joblib enters this once the call has dispatched its batches (all of them: see
        # configure), before it waits for the first result: the moment to run the job.
        runner = self._runner
        if runner is not None and runner.pending:
            timeout = getattr(self.parallel, "timeout", None) or self.timeout
            self._run(runner, timeout)
        yield

    def retrieve_result_callback(self, out):
        return out.result()

    def stop_call(self):
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def abort_everything(self, ensure_ready=True):
        if self._runner is not None:
            self._runner.pending.clear()

    def terminate(self):
        self.stop_call()

    def get_nested_backend(self):
        # Inside a task: sequential (a task's cores are its own; task_cpus widens them).
        return SequentialBackend(nesting_level=(self.nesting_level or 0) + 1), None

    # ---------------------------------------------------------------------- helpers
    def _slots(self, spark=None) -> int:
        spark = get_spark(self.spark) if spark is None else spark
        return max(1, cluster_cores(spark) // (self.task_cpus or 1))

    def _run(self, runner, timeout):
        if not self.mlflow:
            runner.run_pending(timeout)
            return
        pending = list(runner.pending)
        start, failure = time.perf_counter(), None
        try:
            runner.run_pending(timeout)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            from .._mlflow import log_parallel_call

            errors = [f.error for f in pending if f.error is not None]
            failure = failure if failure is not None else (errors[0] if errors else None)
            log_parallel_call(
                describe_call(batch_items(pending[0].batch)),
                n_batches=len(pending),
                n_items=sum(len(batch_items(f.batch)) for f in pending),
                n_failed=len(errors),
                seconds=time.perf_counter() - start,
                n_jobs=self._n_jobs,
                task_cpus=self.task_cpus,
                failure=failure,
            )


def _check_positive_int(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None; got {value!r}.")
    return int(value)


def _check_positive(name, value, *, allow_none):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number or None; got {value!r}.")
    return value
