"""What the three Spark search classes share: ``fit`` on Spark, Spark input, MLflow logging.

All bookkeeping (scoring, ``cv_results_``, ranking, refit, ``error_score``) is scikit-learn's
own ``BaseSearchCV``; :class:`SparkSearchMixin` only makes the fits run on Spark, through the
package's joblib backend (:mod:`._backend`, :mod:`spark_sklearn_bridge.parallel`). The
override point of a search is scikit-learn's: ``_run_search``.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

from joblib import parallel_config

from .._base import SPARK_CONSTRAINT, SparkEstimatorMixin
from .._compat import Interval
from .._inputs import (
    check_feature_types,
    collect_features,
    is_spark_dataframe,
    resolve_columns,
    spark_column_kinds,
)
from .._jobs import cancel_on_exit, cluster_cores
from .._session import get_spark
from .._threads import running_in_spark_task
from ._backend import SearchBackend
from ._checkpoint import Checkpoint

__all__ = ["EXTRA_CONSTRAINTS", "EXTRA_DOC", "SparkSearchMixin"]

EXTRA_DOC = """
    spark : SparkSession, optional
        Default: :func:`get_spark`. Shared (never copied) by ``clone``; left out of pickles.
    parallelism : int, optional
        How many fits Spark runs at once (a Bayesian search proposes this many candidates per
        round, also when it runs inside another job's task, e.g. per group). Default: the
        cluster's cores (``defaultParallelism``) divided by ``task_cpus``; 1 inside a task.
    feature_cols, label_col : optional
        Columns of a Spark DataFrame passed to ``fit`` (collected to the driver). Default
        features: every column but the label, of any type (the estimator decides). A single
        name (a string) passes that column 1-D (texts for a ``TfidfVectorizer`` pipeline); a
        ``pyspark.ml`` Vector column becomes a matrix, a CSR matrix when its vectors are
        sparse.
    mlflow : bool, default=False
        Log one parent run with one child run per candidate (params, fold scores) and the
        best estimator. Uses the active MLflow tracking URI.
    progress : bool, optional
        Progress bar of finished Spark tasks. Default: on a terminal and not in CI.
    candidate_timeout : float, optional
        Seconds one candidate x fold fit may take. When set, every fit runs in its own child
        process of the Spark task (forked: tens of milliseconds each); one that runs longer is
        killed and handled like a failed fit: ``error_score`` is recorded with a message
        naming the candidate, or ``error_score="raise"`` raises :class:`CandidateFitError`.
        Without it, a Python worker that dies (a crash in native code, the out-of-memory
        killer) makes the search run that batch again with every fit isolated, so the
        candidate responsible is handled the same way instead of the search failing.
    checkpoint : str or path-like, optional
        A directory (local path or pyarrow file system URI: ``s3://``, ``hdfs://`` ...) that
        the driver and every executor can reach. Each finished candidate x fold fit is
        written there by its task as soon as it is done; running the same search on the
        same data with the same checkpoint again (after Ctrl-C, a crash, a lost cluster, a
        timeout) reuses those fits instead of running them, and gives the same
        ``cv_results_``. Searches that draw candidates at random resume only with a fixed
        ``random_state``. A checkpoint of another search or other data is refused.
    task_cpus : int, optional
        Cores each fit gets, for estimators that use several (``n_jobs``, BLAS). On a cluster
        (standalone, YARN, Kubernetes) every fit task requests ``task_cpus`` cores through a
        stage-level resource profile; executors need at least that many cores. In local mode,
        which has no stage-level scheduling, the search runs ``cores // task_cpus`` fits at
        once instead. Either way, inside a fit BLAS/OpenMP pools get ``task_cpus`` threads,
        and joblib runs ``n_jobs=None`` with ``task_cpus`` workers and counts ``task_cpus``
        CPUs for ``n_jobs=-1``. Default ``parallelism``: the cluster's cores // ``task_cpus``.
"""

EXTRA_CONSTRAINTS = {
    "spark": SPARK_CONSTRAINT,
    "parallelism": [None, Interval(Integral, 1, None, closed="left")],
    "feature_cols": [None, list, str],
    "label_col": [None, str],
    "mlflow": ["boolean"],
    "progress": [None, "boolean"],
    "candidate_timeout": [None, Interval(Real, 0, None, closed="neither")],
    "checkpoint": [None, str, os.PathLike],
    "task_cpus": [None, Interval(Integral, 1, None, closed="left")],
}


class SparkSearchMixin(SparkEstimatorMixin):
    """Spark plumbing around ``BaseSearchCV.fit``, shared by the search classes.

    Subclasses propose candidates in ``_run_search(evaluate_candidates, callback_ctx=None)``
    exactly as for scikit-learn; do not override ``fit``, which runs the fits on Spark.
    """

    _driver_only_state = ("_backend",)

    def fit(self, X, y=None, **params):
        """Run the search: candidate x fold fits as Spark tasks, then refit on the driver.

        Parameters
        ----------
        X : array-like, pandas DataFrame or Spark DataFrame
            Spark input is collected to the driver (a search needs the data on one node);
            ``feature_cols`` / ``label_col`` select its columns.
        y : array-like, optional
            Target for local input.
        **params
            Passed on as scikit-learn does (fit parameters, ``groups`` for group splitters).

        Returns
        -------
        self : object
            The fitted search.
        """
        self._validate_params()  # before the collect job of Spark input
        if running_in_spark_task() and not is_spark_dataframe(X):
            # A search inside another job's task (e.g. each group's search of a
            # GroupedEstimator): no session here, so the fits run in this task, one by one.
            with parallel_config(backend="sequential"):
                super().fit(X, y, **params)
            self.n_spark_jobs_ = self.n_resumed_fits_ = 0
            return self
        if is_spark_dataframe(X):  # strings for a numbers-only model: refused before the job
            kinds = spark_column_kinds(X.schema)
            features = resolve_columns(
                kinds,
                feature_cols=self.feature_cols,
                label_col=self.label_col,
                allow_vector=True,
                allow_other=True,
                default_any_type=True,
            )
            one_column = isinstance(self.feature_cols, str)
            check_feature_types(self.estimator, X, kinds, features, one_column)
        X, y = collect_features(
            X, y, feature_cols=self.feature_cols, label_col=self.label_col, what="The data"
        )
        spark = get_spark(self.spark)
        parallelism = self.parallelism or max(1, cluster_cores(spark) // (self.task_cpus or 1))
        backend = SearchBackend(
            spark,
            self,
            parallelism=parallelism,
            progress=self.progress,
            task_cpus=self.task_cpus,
            candidate_timeout=self.candidate_timeout,
            keyed=self.checkpoint is not None,
        )
        backend.fit_data = (X, y, params)
        runner = backend.runner
        if self.checkpoint is not None:
            runner.checkpoint = Checkpoint(self.checkpoint, self, (X, y))
        self._backend = backend
        try:
            # Ctrl-C or any exception here cancels the search's running Spark job.
            with (
                cancel_on_exit(spark) as runner.tag,
                parallel_config(backend=backend, n_jobs=-1),
            ):
                super().fit(X, y, **params)
            self.n_spark_jobs_ = runner.n_jobs_run
            self.n_resumed_fits_ = runner.checkpoint.n_resumed if runner.checkpoint else 0
        finally:
            backend.close()
            del self._backend
        if self.mlflow:
            self._log_to_mlflow()
        return self

    def __reduce_ex__(self, protocol):
        # The executors' stand-in for this search (see _backend._executor_stand_in) comes back
        # to the driver in callback messages as the live search itself.
        token = self.__dict__.get("_driver_token")
        if token is None:
            return super().__reduce_ex__(protocol)
        from ._backend import resolve_search

        return resolve_search, (type(self), token, self.__getstate__())

    def _log_to_mlflow(self):
        from .._mlflow import log_best_search_result, log_candidates, parent_run

        tags = {"estimator": type(self.estimator).__name__}
        with parent_run(type(self).__name__, tags):
            log_candidates(self.cv_results_, 0, self.n_splits_)
            log_best_search_result(self)
