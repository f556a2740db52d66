"""Every private scikit-learn / joblib API this package relies on, in one place.

Each name below has no public equivalent; each is imported here and nowhere else, with the
reason, so that an upgrade that moves one breaks this module (and ``tests/test_compat.py``,
which exercises every name) rather than a paradigm at run time.
"""

from __future__ import annotations

# joblib documents custom backends (``register_parallel_backend``, ``parallel_config``);
# ``ParallelBackendBase`` is exported at top level since joblib 1.5 (``joblib.parallel`` has
# it in every version), and the two helpers a backend needs to hand a call back to the
# previous backend live only in ``joblib.parallel`` (not in ``__all__``).
from joblib.parallel import (
    FallbackToBackend,
    ParallelBackendBase,
    SequentialBackend,
    get_active_backend,
)

# Declarative parameter validation, as scikit-learn's own estimators do it: the ``fit``
# decorator that runs the validation once, and the constraint classes, are not public.
from sklearn.base import _fit_context as fit_context

# scikit-learn's documented way to write a new search ("implement _run_search") needs the
# base class, which has no public import path.
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

__all__ = [
    "FIT_AND_SCORE_OUTCOME_ARGUMENTS",
    "BaseSearchCV",
    "FallbackToBackend",
    "HasMethods",
    "Interval",
    "ParallelBackendBase",
    "SequentialBackend",
    "StrOptions",
    "batch_items",
    "checked_cv",
    "dispatch_all_at_once",
    "fit_and_score_arguments",
    "fit_context",
    "get_active_backend",
    "set_checked_cv",
]

# A search's fits are calls of scikit-learn's private ``_fit_and_score(estimator, X, y, **kw)``
# handed to joblib. A checkpoint keys each fit by the keyword arguments that decide its
# outcome, and the search backend names a fit by its candidate (``parameters``) and split
# (``split_progress``) and replaces ``caller`` (the search, passed for callback hooks) with
# a stand-in that pickles. These names have no public definition; if scikit-learn renamed
# one, two candidates could share a checkpoint key, so :func:`fit_and_score_arguments`
# refuses a call that lacks any of them (tests/test_compat.py checks the signature).
FIT_AND_SCORE_OUTCOME_ARGUMENTS = (
    "parameters",
    "train",
    "test",
    "scorer",
    "fit_params",
    "score_params",
    "error_score",
    "return_train_score",
)


def fit_and_score_arguments(kwargs: dict) -> tuple:
    """The values of :data:`FIT_AND_SCORE_OUTCOME_ARGUMENTS` in a ``_fit_and_score`` call's
    keyword arguments; an error if one of them is not there (scikit-learn renamed it)."""
    missing = [k for k in FIT_AND_SCORE_OUTCOME_ARGUMENTS if k not in kwargs]
    if missing:
        raise RuntimeError(
            f"scikit-learn's _fit_and_score is no longer called with {missing}: a "
            "checkpoint cannot tell fits apart safely with this scikit-learn version. Run the "
            "search without checkpoint=, and report this to spark_sklearn_bridge."
        )
    return tuple(kwargs[k] for k in FIT_AND_SCORE_OUTCOME_ARGUMENTS)


# ``BaseSearchCV.fit`` keeps the checked splitter in ``_checked_cv_orig``, where its callback
# hooks read it: the stand-in of a search sent to executors must hold a picklable one.
def checked_cv(search):
    """The splitter a fitted (or fitting) scikit-learn search checked."""
    return search._checked_cv_orig


def set_checked_cv(search, cv) -> None:
    search._checked_cv_orig = cv


# joblib hands a backend ``BatchedCalls`` objects, whose ``(func, args, kwargs)`` list is the
# attribute ``items`` (no public accessor); the backend pickles the items itself.
def batch_items(batch) -> list:
    """The ``(func, args, kwargs)`` items of a joblib batch."""
    return list(batch.items)


# ``Parallel`` reads its ``pre_dispatch`` argument (stored under that name) when a call
# starts, after the backend's ``configure``: setting it there makes the call dispatch every
# task at once, so the backend can run them as one Spark job.
def dispatch_all_at_once(parallel) -> None:
    """Make a ``Parallel`` call dispatch all its tasks before it waits for the first."""
    parallel.pre_dispatch = "all"
