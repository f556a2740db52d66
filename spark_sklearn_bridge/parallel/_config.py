"""How users turn the backend on: ``parallel_backend(...)`` and the ``"spark"`` registration."""

from __future__ import annotations

from joblib import parallel_config, register_parallel_backend

from ._backend import SparkBackend

__all__ = ["parallel_backend", "register_spark"]


def register_spark() -> None:
    """Register :class:`SparkBackend` with joblib under the name ``"spark"``.

    ``import spark_sklearn_bridge`` does this already; the function exists so that code
    written for joblibspark (``from joblibspark import register_spark``) runs after changing
    that one import. Registering again is harmless.
    """
    register_parallel_backend("spark", SparkBackend)


def parallel_backend(
    n_jobs=-1,
    *,
    spark=None,
    task_cpus=None,
    progress=None,
    timeout=None,
    mlflow=False,
    **config,
):
    """Run every joblib call in the block on Spark: scikit-learn's ``n_jobs`` included.

    ``cross_validate``, ``permutation_importance``, ``RFECV``, forests, ``OneVsRestClassifier``,
    ``StackingClassifier``, scikit-learn's own ``GridSearchCV`` and any
    ``joblib.Parallel`` call of your own then run each call as one Spark job, with the
    arguments the tasks share shipped once. The same as
    ``joblib.parallel_config(backend="spark", n_jobs=n_jobs)`` with this package's options.

    Parameters
    ----------
    n_jobs : int, default=-1
        Batches run at once: -1 is every slot of the cluster (its cores divided by
        ``task_cpus``); the default of calls that pass ``n_jobs=None``.
    spark : SparkSession, optional
        Default: :func:`~spark_sklearn_bridge.get_spark`.
    task_cpus : int, optional
        Cores per task, for work that uses several (a forest's ``n_jobs``, BLAS).
    progress : bool, optional
        A bar of finished items while a call runs. Default: on a terminal, not in CI.
    timeout : float, optional
        Seconds each task may take; one that runs longer is killed and the call raises
        :class:`~spark_sklearn_bridge.exceptions.TaskTimeoutError` naming it.
    mlflow : bool, default=False
        Log one MLflow run per call.
    **config
        Passed to ``joblib.parallel_config`` (``verbose``, ``prefer``, ``require`` ...).

    Returns
    -------
    joblib.parallel_config
        A context manager; the backend is active until the ``with`` block ends.

    See Also
    --------
    SparkBackend : the backend, with the details of each option.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_val_score
    >>> import spark_sklearn_bridge as ssb
    >>> X, y = load_iris(return_X_y=True)
    >>> with ssb.parallel_backend():
    ...     scores = cross_val_score(LogisticRegression(max_iter=500), X, y, cv=5)
    >>> scores.round(2).tolist()
    [0.97, 1.0, 0.93, 0.97, 1.0]
    """
    backend = SparkBackend(
        spark=spark, task_cpus=task_cpus, progress=progress, timeout=timeout, mlflow=mlflow
    )
    return parallel_config(backend=backend, n_jobs=n_jobs, **config)
