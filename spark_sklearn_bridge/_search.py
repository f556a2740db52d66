"""Hyperparameter search on Spark: drop-in GridSearchCV / RandomizedSearchCV, and Hyperopt.

All bookkeeping (scoring, ``cv_results_``, ranking, refit, error_score) is scikit-learn's own
``BaseSearchCV``. What changes is where the candidate x fold fits run: scikit-learn hands them
to joblib, and a joblib backend (:class:`_SparkFitBackend`) collects every fit of a batch of
candidates and runs them as the tasks of ONE Spark job. Objects every task uses (the data, the
cross-validation splits, the scorers) are pickled once and shipped once per search as
broadcasts (classic Spark) or inside the job (Spark Connect); tasks refer to them, so nothing
is copied per task or per trial.
"""

from __future__ import annotations

import io
import itertools
import pickle
import tempfile
import time
import traceback
import uuid
import warnings
from functools import partial
from numbers import Integral, Real
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
from joblib import parallel_config
from joblib._parallel_backends import (
    FallbackToBackend,
    ParallelBackendBase,
    SequentialBackend,
)
from joblib.parallel import get_active_backend
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._inputs import is_spark_dataframe, resolve_columns, spark_column_kinds
from ._serialization import dump_model
from ._session import get_spark, is_spark_connect, require_spark_context
from ._spark_jobs import track_job_progress
from ._threads import limit_task_threads
from .exceptions import CandidateFitError

__all__ = [
    "SparkGridSearchCV",
    "SparkHyperoptSearchCV",
    "SparkRandomizedSearchCV",
    "to_hyperopt_space",
]

_SCALARS = (str, bytes, int, float, complex, bool, type(None), np.generic)


# ------------------------------------------------------------------ executors
_shared_cache: dict = {}


def _run_fit_tasks(batches, *, shared_sources):
    """mapInPandas body: run pickled joblib task lists; return pickled outcomes."""
    with limit_task_threads():
        for frame in batches:
            results = [_run_one(payload, shared_sources) for payload in frame["payload"]]
            yield pd.DataFrame({"task": frame["task"].to_numpy(), "result": results})


def _run_one(payload, shared_sources):
    items = _SharedUnpickler(io.BytesIO(payload), shared_sources).load()
    try:
        outcome = ("ok", [func(*args, **kwargs) for func, args, kwargs in items])
    except BaseException as exc:  # every failure goes back to the driver with its traceback
        params = next((kw.get("parameters") for _, _, kw in items), None)
        text = traceback.format_exc()
        try:
            blob = cloudpickle.dumps(exc)
            pickle.loads(blob)
        except Exception:  # an exception that does not survive pickling: text only
            blob = None
        outcome = ("error", blob, text, repr(params))
    return cloudpickle.dumps(outcome)


class _SharedUnpickler(pickle.Unpickler):
    def __init__(self, file, sources):
        super().__init__(file)
        self.sources = sources

    def persistent_load(self, token):
        if token not in _shared_cache:
            source = self.sources[token]
            blob = source if isinstance(source, (bytes, bytearray)) else source.value
            _shared_cache[token] = pickle.loads(blob)
            while len(_shared_cache) > 64:  # bounded: earlier searches' objects go first
                _shared_cache.pop(next(iter(_shared_cache)))
        return _shared_cache[token]


class _SharedPickler(cloudpickle.Pickler):
    """Pickles a task list, writing the objects shared across tasks as references."""

    def __init__(self, file, shared_tokens):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.shared_tokens = shared_tokens

    def persistent_id(self, obj):
        return self.shared_tokens.get(id(obj))


# --------------------------------------------------------------------- driver
class _Pending:
    """Future-like result of one joblib batch, resolved when the runner flushes."""

    def __init__(self, batch, callback):
        self.batch, self.callback = batch, callback
        self.done, self.value, self.error = False, None, None

    def resolve(self, value=None, error=None):
        self.done, self.value, self.error = True, value, error
        self.batch = None


class _SparkTaskRunner:
    """Runs the fits joblib hands to :class:`_SparkFitBackend` as Spark jobs."""

    def __init__(self, spark, *, parallelism, progress=None):
        self.spark = spark
        self.parallelism = parallelism
        self.progress = progress
        self.connect = is_spark_connect(spark)
        self.run_id = uuid.uuid4().hex
        self.armed = False
        self.pending: list[_Pending] = []
        self.fallback = get_active_backend()[0]
        self.fit_data = None
        self._shared: dict = {}  # id(obj) -> (obj, token, source)
        self.n_jobs_run = 0

    def submit(self, batch, callback):
        future = _Pending(batch, callback)
        self.pending.append(future)
        return future

    def result(self, future):
        if not future.done:
            self.flush()
        if future.error is not None:
            raise future.error
        return future.value

    def flush(self):
        """Run every pending batch as a task of one Spark job."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        task_lists = [list(p.batch.items) for p in pending]
        sources, tokens = self._share(task_lists)
        payloads = []
        for items in task_lists:
            buffer = io.BytesIO()
            _SharedPickler(buffer, tokens).dump(items)
            payloads.append(buffer.getvalue())
        frame = pd.DataFrame({"task": np.arange(len(payloads)), "payload": payloads})
        job = (
            self.spark.createDataFrame(frame, "task long, payload binary")
            .repartition(max(1, min(len(payloads), 4 * self.parallelism)))
            .mapInPandas(
                partial(_run_fit_tasks, shared_sources=sources), "task long, result binary"
            )
        )
        with track_job_progress(self.spark, f"fitting {len(payloads)} fits", self.progress):
            rows = job.toPandas()
        self.n_jobs_run += 1
        results = dict(zip(rows["task"], rows["result"]))
        for index, future in enumerate(pending):
            outcome = pickle.loads(results[index])
            if outcome[0] == "ok":
                future.resolve(value=outcome[1])
            else:
                future.resolve(error=_remote_error(*outcome[1:]))
        for future in pending:
            if future.callback is not None:  # lets joblib dispatch more (pre_dispatch != "all")
                future.callback(future.value)

    def _share(self, task_lists):
        """Objects used by several tasks (data, splits, scorers) are shipped once each."""
        counts: dict = {}
        objects: dict = {}
        for items in task_lists:
            for _, args, kwargs in items:
                for value in itertools.chain(args, kwargs.values()):
                    if isinstance(value, _SCALARS) or _is_small_tuple(value):
                        continue
                    counts[id(value)] = counts.get(id(value), 0) + 1
                    objects[id(value)] = value
        tokens, sources = {}, {}
        for key, count in counts.items():
            if count < 2:
                continue
            if key not in self._shared:
                blob = cloudpickle.dumps(objects[key], protocol=pickle.HIGHEST_PROTOCOL)
                token = f"{self.run_id}:{len(self._shared)}"
                source = blob if self.connect else self.spark.sparkContext.broadcast(blob)
                # keep a reference: the id stays valid for the whole search
                self._shared[key] = (objects[key], token, source)
            _, token, source = self._shared[key]
            tokens[key] = token
            sources[token] = source
        return sources, tokens

    def close(self):
        for _, _, source in self._shared.values():
            if not isinstance(source, (bytes, bytearray)):
                source.destroy(blocking=False)
        self._shared.clear()


def _is_small_tuple(value):
    return isinstance(value, tuple) and all(isinstance(v, _SCALARS) for v in value)


def _remote_error(blob, text, params):
    """The executor's exception, re-raised on the driver with the candidate and traceback."""
    exc = None
    if blob is not None:
        try:
            exc = pickle.loads(blob)
        except Exception:  # a class the driver cannot import
            exc = None
    note = f"Raised while fitting candidate {params} on a Spark executor:\n{text}"
    if isinstance(exc, BaseException):
        if hasattr(exc, "add_note"):  # Python 3.11+
            exc.add_note(note)
        return exc
    return CandidateFitError(note, params=params, remote_traceback=text)


class _SparkFitBackend(ParallelBackendBase):
    """joblib backend that defers every submitted batch to one Spark job per flush.

    It serves only the fits of the search it belongs to (while the runner is armed); a joblib
    call made after the search on the driver (the refit of an estimator with ``n_jobs``) falls
    back to the backend that was active before the search started.
    """

    supports_retrieve_callback = False

    def __init__(self, runner, **kwargs):
        super().__init__(**kwargs)
        self.runner = runner

    def configure(self, n_jobs=1, parallel=None, **backend_kwargs):
        if not self.runner.armed:
            raise FallbackToBackend(self.runner.fallback)
        self.parallel = parallel
        return self.effective_n_jobs(n_jobs)

    def effective_n_jobs(self, n_jobs):
        # Never 1: joblib would then run the tasks itself, sequentially, on the driver.
        return max(2, self.runner.parallelism)

    def compute_batch_size(self):
        return 1

    def submit(self, func, callback=None):
        return self.runner.submit(func, callback)

    def retrieve_result(self, out, timeout=None):
        return self.runner.result(out)

    def abort_everything(self, ensure_ready=True):
        self.runner.pending.clear()

    def get_nested_backend(self):
        return SequentialBackend(nesting_level=(self.nesting_level or 0) + 1), None


# -------------------------------------------------------------------- mixin
class _SparkSearchMixin:
    """Spark plumbing around ``BaseSearchCV.fit``, shared by the three search classes.

    Subclasses implement :meth:`_search` (what scikit-learn calls ``_run_search``); do not
    override ``fit`` or ``_run_search``, which arm and disarm the Spark backend.
    """

    def fit(self, X, y=None, **params):
        """Run the search: candidate x fold fits as Spark tasks, then refit on the driver.

        Parameters
        ----------
        X : array-like, pandas DataFrame or Spark DataFrame
            Spark input is collected to the driver (a search needs the data on one node);
            ``feature_cols`` / ``label_col`` select its columns.
        y : array-like, optional
        **params
            Passed on as scikit-learn does (fit parameters, ``groups`` for group splitters).

        Returns
        -------
        self
        """
        X, y = self._collect(X, y)
        spark = get_spark(self.spark)
        runner = _SparkTaskRunner(
            spark, parallelism=self._parallelism(spark), progress=self.progress
        )
        runner.fit_data = (X, y, params)
        self._runner = runner
        mlflow_run = self._start_mlflow()
        try:
            runner.armed = True
            with parallel_config(backend=_SparkFitBackend(runner), n_jobs=-1):
                super().fit(X, y, **params)
            self.n_spark_jobs_ = runner.n_jobs_run
            if mlflow_run is not None:
                self._log_best_to_mlflow()
        finally:
            runner.armed = False
            runner.close()
            del self._runner
            if mlflow_run is not None:
                import mlflow

                mlflow.end_run()
        return self

    def _collect(self, X, y):
        if not is_spark_dataframe(X):
            return X, y
        if y is not None:
            raise ValueError("y must be None for Spark DataFrame input; use label_col.")
        features = resolve_columns(
            spark_column_kinds(X.schema), feature_cols=self.feature_cols, label_col=self.label_col
        )
        frame = X.select(*features, *([self.label_col] if self.label_col else [])).toPandas()
        return frame[features], (frame[self.label_col].to_numpy() if self.label_col else None)

    def _parallelism(self, spark):
        requested = getattr(self, "parallelism", None)
        if requested is not None:
            return int(requested)
        if is_spark_connect(spark):
            return int(spark.conf.get("spark.sql.shuffle.partitions", "2"))
        return spark.sparkContext.defaultParallelism

    def _run_search(self, evaluate_candidates, callback_ctx=None):
        n_logged = 0

        def evaluate(candidate_params, cv=None, more_results=None, **kwargs):
            nonlocal n_logged
            results = evaluate_candidates(candidate_params, cv, more_results, **kwargs)
            if self.mlflow:
                n_logged = _log_candidates_to_mlflow(results, n_logged, self.n_splits_)
            return results

        try:
            self._search(evaluate, callback_ctx)
        finally:
            # The refit and anything else after the search use the ordinary joblib backend.
            self._runner.armed = False

    def _search(self, evaluate_candidates, callback_ctx):
        """Propose and evaluate candidates; the override point of the search classes."""
        if callback_ctx is None:  # scikit-learn < 1.9 has no callback contexts
            super()._run_search(evaluate_candidates)
        else:
            super()._run_search(evaluate_candidates, callback_ctx=callback_ctx)

    def __getstate__(self):
        # During fit, the search object travels to the executors with the tasks (scikit-learn
        # passes it as ``caller``); the Spark handles stay on the driver.
        state = dict(super().__getstate__())  # a copy: the live object keeps its runner
        state.pop("_runner", None)
        for key in ("cv", "_checked_cv_orig"):  # one-shot splitters may hold generators
            try:
                cloudpickle.dumps(state.get(key))
            except Exception:  # the splits were already drawn on the driver
                state[key] = None
        return state

    # ------------------------------------------------------------- MLflow
    def _start_mlflow(self):
        if not self.mlflow:
            return None
        import mlflow

        run = mlflow.start_run(
            run_name=type(self).__name__, nested=mlflow.active_run() is not None
        )
        mlflow.set_tag("estimator", type(self.estimator).__name__)
        return run

    def _log_best_to_mlflow(self):
        import mlflow

        if hasattr(self, "best_params_"):
            mlflow.log_params({f"best__{k}": _param_str(v) for k, v in self.best_params_.items()})
        if hasattr(self, "best_score_"):
            mlflow.log_metric("best_score", float(self.best_score_))
        if hasattr(self, "best_estimator_"):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp, "best_estimator.ssbmodel")
                path.write_bytes(dump_model(self.best_estimator_))
                mlflow.log_artifact(str(path), artifact_path="best_estimator")


def _param_str(value, limit=250):
    text = value if isinstance(value, str) else repr(value)
    return text[:limit]


def _log_candidates_to_mlflow(results, start, n_splits):
    """One child run per candidate evaluated since ``start``; returns the new count."""
    import mlflow

    metric_names = [k[len("mean_test_") :] for k in results if k.startswith("mean_test_")]
    for index in range(start, len(results["params"])):
        with mlflow.start_run(run_name=f"candidate-{index}", nested=True):
            mlflow.log_params({k: _param_str(v) for k, v in results["params"][index].items()})
            metrics = {"mean_fit_time": results["mean_fit_time"][index]}
            for name in metric_names:
                metrics[f"mean_test_{name}"] = results[f"mean_test_{name}"][index]
                metrics[f"std_test_{name}"] = results[f"std_test_{name}"][index]
                for split in range(n_splits):
                    key = f"split{split}_test_{name}"
                    metrics[key] = results[key][index]
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
    return len(results["params"])


_EXTRA_DOC = """
    spark : SparkSession, optional
        Default: :func:`get_spark`.
    parallelism : int, optional
        How many fits Spark runs at once (a Bayesian search proposes this many candidates per
        round). Default: the cluster's cores (``defaultParallelism``).
    feature_cols, label_col : optional
        Columns of a Spark DataFrame passed to ``fit`` (collected to the driver).
    mlflow : bool, default=False
        Log one parent run, one child run per candidate (params, fold scores) as candidates
        finish, and the best estimator. Uses the active MLflow tracking URI.
    progress : bool, optional
        Progress bar of finished Spark tasks. Default: on a terminal and not in CI.
"""

_EXTRA_CONSTRAINTS = {
    "spark": "no_validation",
    "parallelism": [None, Interval(Integral, 1, None, closed="left")],
    "feature_cols": [None, list, str],
    "label_col": [None, str],
    "mlflow": ["boolean"],
    "progress": [None, "boolean"],
}


class SparkGridSearchCV(_SparkSearchMixin, GridSearchCV):
    __doc__ = (
        """Exhaustive search over a parameter grid, candidates fitted as Spark tasks.

    A drop-in replacement for :class:`sklearn.model_selection.GridSearchCV`: same arguments,
    same fitted attributes, same ``cv_results_``. Every candidate x fold fit of the grid runs
    as a task of one Spark job; the data is shipped to the executors once. ``n_jobs`` is
    accepted for compatibility and ignored (Spark's cores decide the parallelism).

    Parameters
    ----------
    estimator, param_grid, scoring, n_jobs, refit, cv, verbose, pre_dispatch, error_score, \
return_train_score :
        As in :class:`sklearn.model_selection.GridSearchCV`, except ``pre_dispatch``
        defaults to ``"all"`` (all fits in one Spark job)."""
        + _EXTRA_DOC
        + """
    Attributes
    ----------
    cv_results_, best_estimator_, best_score_, best_params_, best_index_, scorer_, \
n_splits_, refit_time_, multimetric_, classes_, n_features_in_, feature_names_in_ :
        As in :class:`sklearn.model_selection.GridSearchCV`.
    n_spark_jobs_ : int
        Spark jobs the search ran (one per batch of candidates).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.svm import SVC
    >>> from spark_sklearn_bridge import SparkGridSearchCV
    >>> X, y = load_iris(return_X_y=True)
    >>> search = SparkGridSearchCV(SVC(), {"C": [0.1, 1, 10]}, cv=3).fit(X, y)
    >>> search.best_params_
    {'C': 10}
    >>> search.n_spark_jobs_
    1
    """
    )

    _parameter_constraints = {**GridSearchCV._parameter_constraints, **_EXTRA_CONSTRAINTS}

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="all",
        error_score=np.nan,
        return_train_score=False,
        spark=None,
        parallelism=None,
        feature_cols=None,
        label_col=None,
        mlflow=False,
        progress=None,
    ):
        super().__init__(
            estimator,
            param_grid,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.spark = spark
        self.parallelism = parallelism
        self.feature_cols = feature_cols
        self.label_col = label_col
        self.mlflow = mlflow
        self.progress = progress


class SparkRandomizedSearchCV(_SparkSearchMixin, RandomizedSearchCV):
    __doc__ = (
        """Randomized search, candidates fitted as Spark tasks.

    A drop-in replacement for :class:`sklearn.model_selection.RandomizedSearchCV`: for the same
    ``random_state`` it draws the same candidates (the sampling is scikit-learn's own), and
    every candidate x fold fit runs as a task of one Spark job.

    Parameters
    ----------
    estimator, param_distributions, n_iter, scoring, n_jobs, refit, cv, verbose, \
pre_dispatch, random_state, error_score, return_train_score :
        As in :class:`sklearn.model_selection.RandomizedSearchCV`, except ``pre_dispatch``
        defaults to ``"all"``."""
        + _EXTRA_DOC
        + """
    Attributes
    ----------
    cv_results_, best_estimator_, best_score_, best_params_, best_index_, scorer_, \
n_splits_, refit_time_, multimetric_ :
        As in :class:`sklearn.model_selection.RandomizedSearchCV`.
    n_spark_jobs_ : int
        Spark jobs the search ran.

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from spark_sklearn_bridge import SparkRandomizedSearchCV
    >>> X, y = load_iris(return_X_y=True)
    >>> search = SparkRandomizedSearchCV(
    ...     LogisticRegression(max_iter=500), {"C": loguniform(1e-2, 1e2)}, n_iter=4,
    ...     random_state=0, cv=3).fit(X, y)
    >>> len(search.cv_results_["params"])
    4
    """
    )

    _parameter_constraints = {**RandomizedSearchCV._parameter_constraints, **_EXTRA_CONSTRAINTS}

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_iter=10,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="all",
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
        spark=None,
        parallelism=None,
        feature_cols=None,
        label_col=None,
        mlflow=False,
        progress=None,
    ):
        super().__init__(
            estimator,
            param_distributions,
            n_iter=n_iter,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            random_state=random_state,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.spark = spark
        self.parallelism = parallelism
        self.feature_cols = feature_cols
        self.label_col = label_col
        self.mlflow = mlflow
        self.progress = progress


class SparkHyperoptSearchCV(_SparkSearchMixin, BaseSearchCV):
    __doc__ = (
        """Bayesian (Hyperopt TPE), annealing or random search, candidates fitted on Spark.

    Each round asks Hyperopt for ``parallelism`` candidates, fits all their folds as the tasks
    of one Spark job, and feeds the mean test scores back (loss = -score). The result has the
    same attributes as scikit-learn's searches (``cv_results_`` keys and meaning included),
    plus the Hyperopt history in ``trials_``.

    Parameters
    ----------
    estimator : estimator or Pipeline
    search_space : dict, list of dicts, or Hyperopt space
        A Hyperopt expression (``hp.*``), or a scikit-learn style dict (a list of dicts is a
        choice between sub-spaces): lists become ``hp.choice``; ``scipy.stats`` ``uniform``,
        ``loguniform``, ``randint`` and ``norm`` become ``hp.uniform``, ``hp.loguniform``,
        ``hp.randint`` and ``hp.normal``; other distributions raise a ``ValueError`` naming the
        parameter.
    max_evals : int, default=50
        Candidates to evaluate at most.
    algo : {"tpe", "random", "anneal"} or callable, default="tpe"
        Hyperopt suggest function (``hyperopt.tpe.suggest`` etc. are accepted as well).
    scoring, n_jobs, refit, cv, verbose, pre_dispatch, error_score, return_train_score :
        As in scikit-learn's searches. With several metrics, the one named by ``refit`` is
        optimised.
    random_state : int, RandomState or None
        Seeds Hyperopt's proposals.
    timeout : float, optional
        Seconds after which no new round starts (the running round finishes; the first
        round always runs, so there is a best candidate to refit).
    loss_threshold : float, optional
        Stop once a candidate's loss (-mean test score) is at most this.
    early_stop_fn : callable, optional
        Hyperopt-style ``early_stop_fn(trials, *state) -> (stop, state)``, called after each
        round (e.g. ``hyperopt.early_stop.no_progress_loss(10)``).
    backend : {"spark", "spark_trials"}, default="spark"
        ``"spark"``: rounds of candidates as Spark jobs (works on Spark Connect).
        ``"spark_trials"``: Hyperopt's own ``SparkTrials`` drives the search (one Spark job per
        trial; classic Spark only); ``cv_results_`` then comes from one more batched job, so
        each candidate is fitted twice."""
        + _EXTRA_DOC
        + """
    Attributes
    ----------
    cv_results_, best_estimator_, best_score_, best_params_, best_index_, scorer_, \
n_splits_, refit_time_, multimetric_ :
        As in scikit-learn's searches.
    trials_ : hyperopt.Trials
        The Hyperopt history (``loss`` = -mean test score of the optimised metric).
    n_spark_jobs_ : int
        Spark jobs the search ran itself (one per round with ``backend="spark"``).

    Examples
    --------
    >>> from hyperopt import hp
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.svm import SVC
    >>> from spark_sklearn_bridge import SparkHyperoptSearchCV
    >>> X, y = load_iris(return_X_y=True)
    >>> space = {"C": hp.loguniform("C", -3, 3), "kernel": hp.choice("kernel", ["rbf", "linear"])}
    >>> search = SparkHyperoptSearchCV(SVC(), space, max_evals=6, random_state=0, cv=3)
    >>> len(search.fit(X, y).cv_results_["params"]), len(search.trials_.trials)
    (6, 6)
    """
    )

    _parameter_constraints = {
        **BaseSearchCV._parameter_constraints,
        **_EXTRA_CONSTRAINTS,
        "search_space": "no_validation",
        "max_evals": [Interval(Integral, 1, None, closed="left")],
        "algo": "no_validation",
        "random_state": ["random_state"],
        "timeout": [None, Interval(Real, 0, None, closed="neither")],
        "loss_threshold": [None, Real],
        "early_stop_fn": [None, callable],
        "backend": [StrOptions({"spark", "spark_trials"})],
    }

    def __init__(
        self,
        estimator,
        search_space,
        *,
        max_evals=50,
        algo="tpe",
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=5,
        verbose=0,
        pre_dispatch="all",
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
        timeout=None,
        loss_threshold=None,
        early_stop_fn=None,
        backend="spark",
        spark=None,
        parallelism=None,
        feature_cols=None,
        label_col=None,
        mlflow=False,
        progress=None,
    ):
        super().__init__(
            estimator,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.search_space = search_space
        self.max_evals = max_evals
        self.algo = algo
        self.random_state = random_state
        self.timeout = timeout
        self.loss_threshold = loss_threshold
        self.early_stop_fn = early_stop_fn
        self.backend = backend
        self.spark = spark
        self.parallelism = parallelism
        self.feature_cols = feature_cols
        self.label_col = label_col
        self.mlflow = mlflow
        self.progress = progress

    def fit(self, X, y=None, **params):
        """Run the search (see :class:`SparkHyperoptSearchCV`); returns ``self``."""
        self._validate_params()
        if self.backend == "spark_trials":
            require_spark_context(
                get_spark(self.spark),
                "SparkHyperoptSearchCV(backend='spark_trials') (Hyperopt's SparkTrials)",
                "Use the default backend='spark', which runs on Spark Connect.",
            )
        # Bad spaces, algorithms and metrics fail here, before any Spark job.
        self._space = to_hyperopt_space(self.search_space)
        self._algo = _resolve_algo(self.algo)
        self._metric()
        return super().fit(X, y, **params)

    def _metric(self):
        """Name of the metric whose mean test score the search maximises."""
        if isinstance(self.scoring, (dict, list, tuple)):
            if not isinstance(self.refit, str):
                raise ValueError(
                    "SparkHyperoptSearchCV optimises one metric: with several metrics set "
                    f"refit to the name of the scorer to optimise; got refit={self.refit!r}."
                )
            return self.refit
        return "score"

    def _search(self, evaluate_candidates, callback_ctx):
        import hyperopt
        from hyperopt.base import JOB_STATE_DONE, STATUS_FAIL, STATUS_OK, spec_from_misc

        space, algo, metric = self._space, self._algo, self._metric()
        rng = check_random_state(self.random_state)
        if self.backend == "spark_trials":
            return self._search_with_spark_trials(evaluate_candidates, space, algo, rng)
        domain = hyperopt.Domain(lambda params: 0.0, space)
        trials = hyperopt.Trials()
        self.trials_ = trials
        batch = max(1, self._runner.parallelism)
        start = time.monotonic()
        early_state = []
        while len(trials.trials) < self.max_evals:
            docs = []
            for _ in range(min(batch, self.max_evals - len(trials.trials))):
                # One proposal at a time: TPE proposes one point per call, and sees the
                # earlier proposals of this round as pending (worst-case) trials.
                new = algo(trials.new_trial_ids(1), domain, trials, rng.randint(2**31 - 1))
                trials.insert_trial_docs(new)
                trials.refresh()
                docs.extend(new)
            candidates = [hyperopt.space_eval(space, spec_from_misc(d["misc"])) for d in docs]
            results = evaluate_candidates(candidates)
            if f"mean_test_{metric}" not in results:
                raise ValueError(
                    "The scoring callable returned several metrics; set refit to the name of "
                    "the one SparkHyperoptSearchCV should optimise."
                )
            scores = results[f"mean_test_{metric}"][-len(docs) :]
            for doc, score in zip(docs, scores):
                doc["result"] = (
                    {"loss": -float(score), "status": STATUS_OK}
                    if np.isfinite(score)
                    else {"status": STATUS_FAIL}
                )
                doc["state"] = JOB_STATE_DONE
            trials.refresh()
            losses = [r["loss"] for r in trials.results if r.get("status") == STATUS_OK]
            if self.loss_threshold is not None and losses and min(losses) <= self.loss_threshold:
                break
            if self.early_stop_fn is not None:
                stop, early_state = self.early_stop_fn(trials, *early_state)
                if stop:
                    break
            if self.timeout is not None and time.monotonic() - start >= self.timeout:
                break

    def _search_with_spark_trials(self, evaluate_candidates, space, algo, rng):
        """Hyperopt's own SparkTrials drives the search (one Spark job per trial).

        SparkTrials computes the losses that guide Hyperopt; ``cv_results_`` is then built by
        scikit-learn from one more batched Spark job over the proposed candidates.
        """
        import hyperopt

        warnings.warn(
            "backend='spark_trials' runs one Spark job per trial (Hyperopt's SparkTrials) and "
            "fits each candidate twice; the default backend='spark' is much faster.",
            UserWarning,
            stacklevel=5,
        )
        trials = hyperopt.SparkTrials(
            parallelism=self._runner.parallelism,
            timeout=self.timeout,
            spark_session=get_spark(self.spark),
        )
        with warnings.catch_warnings():
            # SparkTrials' dispatcher thread warns about tag inheritance on every trial; under
            # warnings-as-errors that kills the thread and fmin waits forever.
            warnings.filterwarnings("ignore", "Spark session is not provided", UserWarning)
            hyperopt.fmin(
                _SparkTrialsObjective(self, self._metric()),
                space,
                algo=algo,
                max_evals=self.max_evals,
                trials=trials,
                rstate=np.random.default_rng(rng.randint(2**31 - 1)),
                loss_threshold=self.loss_threshold,
                early_stop_fn=self.early_stop_fn,
                show_progressbar=False,
            )
        # A plain Trials with SparkTrials' history: it pickles (SparkTrials holds the context).
        self.trials_ = hyperopt.Trials()
        self.trials_.insert_trial_docs(trials.trials)
        self.trials_.refresh()
        spec = hyperopt.base.spec_from_misc
        evaluate_candidates([hyperopt.space_eval(space, spec(t["misc"])) for t in trials.trials])


class _SparkTrialsObjective:
    """The objective SparkTrials ships to executors: cross-validated loss of one candidate."""

    def __init__(self, search, metric):
        self.estimator = search.estimator
        self.scoring = search.scoring
        self.cv = search.cv
        self.metric = metric
        self.X, self.y, params = search._runner.fit_data
        self.params = dict(params)
        self.groups = self.params.pop("groups", None)

    def __call__(self, candidate):
        from hyperopt import STATUS_OK
        from sklearn.base import clone
        from sklearn.model_selection import cross_validate

        scores = cross_validate(
            clone(self.estimator).set_params(**candidate),
            self.X,
            self.y,
            groups=self.groups,
            cv=self.cv,
            scoring=self.scoring,
            params=self.params or None,
        )
        key = "test_score" if self.metric == "score" else f"test_{self.metric}"
        return {"loss": -float(np.mean(scores[key])), "status": STATUS_OK}


def _resolve_algo(algo):
    import hyperopt

    if callable(algo):
        return algo
    names = {
        "tpe": hyperopt.tpe.suggest,
        "random": hyperopt.rand.suggest,
        "anneal": hyperopt.anneal.suggest,
    }
    if algo not in names:
        raise ValueError(
            f"algo must be one of {sorted(names)} or a Hyperopt suggest function; got {algo!r}."
        )
    return names[algo]


def to_hyperopt_space(space, prefix=""):
    """Translate a scikit-learn style parameter space into a Hyperopt space.

    Parameters
    ----------
    space : dict, list of dicts, or Hyperopt expression
        Dict values: a list (-> ``hp.choice``), a ``scipy.stats`` distribution (uniform,
        loguniform, randint, norm), or a Hyperopt expression (kept as is).
    prefix : str
        Prefix for Hyperopt labels (used for the sub-spaces of a list of dicts).

    Raises
    ------
    ValueError
        A value cannot be mapped; the message names the parameter.

    Examples
    --------
    >>> import hyperopt
    >>> from scipy.stats import loguniform
    >>> space = to_hyperopt_space({"C": loguniform(1e-3, 1e3), "kernel": ["rbf", "poly"]})
    >>> sorted(hyperopt.pyll.stochastic.sample(space, rng=np.random.default_rng(0)))
    ['C', 'kernel']
    """
    from hyperopt import hp
    from hyperopt.pyll import Apply

    if isinstance(space, Apply):
        return space
    if isinstance(space, (list, tuple)) and space and all(isinstance(s, dict) for s in space):
        options = [to_hyperopt_space(s, prefix=f"{prefix}grid{i}:") for i, s in enumerate(space)]
        return hp.choice(f"{prefix}grid", options)
    if not isinstance(space, dict):
        raise ValueError(
            "search_space must be a dict, a list of dicts, or a Hyperopt expression; got "
            f"{type(space).__name__}."
        )
    return {name: _to_hyperopt(f"{prefix}{name}", name, value) for name, value in space.items()}


def _to_hyperopt(label, name, value):
    from hyperopt import hp
    from hyperopt.pyll import Apply

    if isinstance(value, Apply):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) == 0:
            raise ValueError(f"search_space[{name!r}] is an empty list: nothing to choose.")
        return hp.choice(label, list(value))
    dist = getattr(value, "dist", None)
    if dist is None or not hasattr(value, "rvs"):
        raise ValueError(
            f"search_space[{name!r}] must be a list, a scipy.stats distribution or a Hyperopt "
            f"expression; got {value!r}. Wrap a single value in a list: [{value!r}]."
        )
    kind = dist.name.removesuffix("_gen")
    n_shapes = len(dist.shapes.split(",")) if dist.shapes else 0
    args, kwds = value.args, value.kwds
    loc = kwds.get("loc", args[n_shapes] if len(args) > n_shapes else 0.0)
    scale = kwds.get("scale", args[n_shapes + 1] if len(args) > n_shapes + 1 else 1.0)
    if kind == "uniform":
        return hp.uniform(label, loc, loc + scale)
    if kind in ("loguniform", "reciprocal") and loc == 0 and scale == 1:
        low, high = value.support()
        return hp.loguniform(label, np.log(low), np.log(high))
    if kind == "randint" and scale == 1:
        low, high = value.support()  # inclusive bounds
        return hp.randint(label, int(low), int(high) + 1)
    if kind == "norm":
        return hp.normal(label, loc, scale)
    raise ValueError(
        f"search_space[{name!r}]: scipy.stats.{kind} has no Hyperopt counterpart here "
        "(supported: uniform, loguniform, randint, norm). Use a Hyperopt expression instead, "
        f"e.g. hp.quniform({name!r}, ...)."
    )
