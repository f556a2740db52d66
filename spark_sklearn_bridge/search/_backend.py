"""Where a search's fits run: the package's joblib backend, told that its tasks are fits.

scikit-learn's ``BaseSearchCV`` hands every candidate x fold fit to joblib. While a search
runs, :class:`SearchBackend` (a :class:`~spark_sklearn_bridge.parallel.SparkBackend`) is the
active joblib backend, so each ``evaluate_candidates`` call is one Spark job of the shared
machinery (:mod:`spark_sklearn_bridge.parallel`). What is particular to a search is here:

- :class:`SearchFits` names a batch by its candidate and split, keys it for a checkpoint,
  and replays a fit whose process crashed or overran ``candidate_timeout`` with a stand-in
  estimator that raises, so that scikit-learn's ``error_score`` records it;
- the data, splits and scorers are shipped once per search, not once per call (one runner
  serves every call of the search), and on classic Spark one pool of tasks runs every call
  (:mod:`spark_sklearn_bridge.parallel._pool`), ended when the search's ``Parallel``
  context ends, before the refit;
- the backend serves exactly one ``Parallel`` context, the one ``BaseSearchCV.fit`` opens
  around ``_run_search``; any later joblib call on the driver (the refit of an estimator with
  ``n_jobs``) falls back to the backend that was active before the search, so subclasses may
  override ``_run_search`` (scikit-learn's documented extension point) freely.
"""

from __future__ import annotations

import copy
import uuid
import weakref

import cloudpickle
from sklearn.base import BaseEstimator

from .._compat import FallbackToBackend, checked_cv, get_active_backend, set_checked_cv
from .._jobs import is_local_master
from ..exceptions import CandidateFitError
from ..parallel import SparkBackend
from ..parallel._runner import TaskRunner, task_concurrency, task_limit
from ..parallel._tasks import TaskKind, run_items
from ._checkpoint import fit_key

__all__ = ["SearchBackend", "SearchFits"]


class SearchFits(TaskKind):
    """Batches of ``_fit_and_score(estimator, X, y, ...)`` calls: one candidate x split each.

    Parameters
    ----------
    search : BaseSearchCV, optional
        The search (driver side only: it never travels), whose stand-in replaces the
        ``caller`` argument scikit-learn passes for its callback hooks.
    keyed : bool
        Key every batch for a checkpoint.
    """

    unit = "candidate"

    def __init__(self, search=None, keyed=False):
        self.search = search
        self.keyed = keyed
        self.caller = None

    def __getstate__(self):
        return {"keyed": self.keyed, "search": None, "caller": None}

    def describe(self, items, index, total) -> str:
        kwargs = items[0][2] if items else {}
        split = kwargs.get("split_progress")
        where = f" on split {split[0] + 1} of {split[1]}" if split else ""
        return f"candidate {kwargs.get('parameters')}{where}"

    def key(self, items) -> str:
        return "-".join(fit_key(item) for item in items) if self.keyed else ""

    def recover(self, items, kind, message, printed):
        # Replay the fits with a stand-in estimator whose fit raises the failure:
        # scikit-learn's own error_score handling records it (nan) or raises it ("raise").
        return run_items([_failing(item, message) for item in items])

    def portable(self, item):
        """``caller`` (the search, passed only for scikit-learn's callback hooks) travels as
        a stand-in that pickles (:func:`_executor_stand_in`)."""
        func, args, kwargs = item
        if "caller" not in kwargs:
            return item
        if self.caller is None:
            self.caller = _executor_stand_in(self.search)
        return func, args, {**kwargs, "caller": self.caller}

    def note(self, name, text) -> str:
        return f"Raised while fitting {name} on a Spark executor:\n{text}"

    def unpicklable_error(self, items, name, text):
        params = repr(items[0][2].get("parameters")) if items else None
        return CandidateFitError(self.note(name, text), params=params, remote_traceback=text)

    def close(self) -> None:
        if self.caller is not None:
            _LIVE_SEARCHES.pop(self.caller._driver_token, None)
            self.caller = None


class SearchBackend(SparkBackend):
    """The joblib backend of one search's fit: serves its ``Parallel`` context only.

    Parameters
    ----------
    spark : SparkSession
    search : BaseSearchCV
    parallelism : int
        Fits Spark runs at once (``n_jobs`` of the search is ignored).
    progress, task_cpus :
        As for :class:`SparkBackend`.
    candidate_timeout : float, optional
        Seconds one fit may take (each then runs in a process of its own).
    keyed : bool
        Key the fits for the search's checkpoint.

    Attributes
    ----------
    runner : TaskRunner
        Runs every call of the search (its job tag, deadline and checkpoint are set by the
        search); closed by :meth:`close`.
    fit_data : tuple
        ``(X, y, params)`` as the search fits them (Hyperopt's SparkTrials uses them).
    """

    def __init__(
        self,
        spark,
        search,
        *,
        parallelism,
        progress=None,
        task_cpus=None,
        candidate_timeout=None,
        keyed=False,
    ):
        super().__init__(
            spark=spark, task_cpus=task_cpus, progress=progress, timeout=candidate_timeout
        )
        self.parallelism = parallelism
        self.kind = SearchFits(search, keyed=keyed)
        local_cap = task_cpus is not None and is_local_master(spark)
        slots = self._slots(spark)
        self.runner = TaskRunner(
            spark,
            max_tasks=task_limit(parallelism, slots, local_cap=local_cap),
            concurrency=task_concurrency(parallelism, slots, local_cap=local_cap),
            task_cpus=task_cpus,
            progress=progress,
            kind=self.kind,
        )
        self._runner = self.runner
        self.fallback = get_active_backend()[0]
        self.served = False
        self.fit_data = None

    def configure(self, n_jobs=1, parallel=None, prefer=None, require=None, **kwargs):
        if self.served:
            raise FallbackToBackend(self.fallback)
        self.served = True
        self.parallel = parallel  # the search's own pre_dispatch ("all" by default) stands
        self._n_jobs = self.effective_n_jobs(n_jobs)
        return self._n_jobs

    def effective_n_jobs(self, n_jobs):
        # Never 1: joblib would then run the fits itself, sequentially, on the driver.
        return max(2, self.parallelism)

    def start_call(self):
        pass  # one runner for the whole search: data shipped once per search

    def stop_call(self):
        pass

    def terminate(self):
        # joblib calls this when the search's Parallel context ends, before the refit: the
        # rounds are over, so the pool's tasks may go (the runner waits for them at close).
        self.runner.end_pool()

    def close(self) -> None:
        self.runner.close()
        self.kind.close()


#: Searches running in this (driver) process, by token: a stand-in unpickled here (a callback
#: message sent back from an executor) resolves to the live search object itself.
_LIVE_SEARCHES: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _executor_stand_in(search):
    """A copy of ``search`` for the executors, as scikit-learn's callback hooks see it.

    Its ``cv`` is the checked splitter when that pickles; a one-shot splitter (a generator)
    does not, and is not needed there (the splits travel as index arrays), so the stand-in
    holds the number of splits instead. The user's search object is never changed.
    """
    stand_in = copy.copy(search)  # via __getstate__: no session, no runner
    cv = checked_cv(search)
    try:
        cloudpickle.dumps(cv)
    except Exception:
        cv = search.n_splits_
    stand_in.cv = cv
    set_checked_cv(stand_in, cv)
    token = uuid.uuid4().hex
    stand_in._driver_token = token
    _LIVE_SEARCHES[token] = search
    return stand_in


def resolve_search(cls, token, state):
    """Unpickle a stand-in: the live search in the driver process, else a copy."""
    live = _LIVE_SEARCHES.get(token)
    if live is not None:
        return live
    search = cls.__new__(cls)
    search.__setstate__(state)
    return search


def _failing(item, message):
    func, args, kwargs = item
    if args and hasattr(args[0], "fit"):  # _fit_and_score(estimator, X, y, ...)
        return func, (_FailedFit(message), *args[1:]), kwargs
    return _raise, (CandidateFitError(message, params=repr(kwargs.get("parameters"))),), {}


def _raise(exc):
    raise exc


class _FailedFit(BaseEstimator):
    """Stands in for an estimator whose fit crashed or timed out in a child process."""

    def __init__(self, message=""):
        self.message = message

    def set_params(self, **params):
        return self  # the candidate's parameters: nothing left to set

    def fit(self, *args, **kwargs):
        raise CandidateFitError(self.message)
