"""Every private scikit-learn / joblib API this package relies on, in one place.

Each name below has no public equivalent; each is imported here and nowhere else, with the
reason, so that an upgrade that moves one breaks this module (and ``tests/test_compat.py``,
which exercises every name) rather than a paradigm at run time.
"""

from __future__ import annotations

# joblib documents custom backends (``register_parallel_backend``, ``parallel_config``) and
# exports ``ParallelBackendBase`` at top level, but the two helpers a backend needs to hand a
# call back to the previous backend live only in ``joblib.parallel`` (not in ``__all__``).
from joblib import ParallelBackendBase
from joblib.parallel import FallbackToBackend, SequentialBackend, get_active_backend

# Declarative parameter validation, as scikit-learn's own estimators do it: the ``fit``
# decorator that runs the validation once, and the constraint classes, are not public.
from sklearn.base import _fit_context as fit_context

# scikit-learn's documented way to write a new search ("implement _run_search") needs the
# base class, which has no public import path.
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

__all__ = [
    "BaseSearchCV",
    "FallbackToBackend",
    "HasMethods",
    "Interval",
    "ParallelBackendBase",
    "SequentialBackend",
    "StrOptions",
    "fit_context",
    "get_active_backend",
]
