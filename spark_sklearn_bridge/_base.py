"""What makes every public class a well-behaved scikit-learn estimator around a Spark session.

A live SparkSession cannot be pickled or deep-copied (``CONTEXT_ONLY_VALID_ON_DRIVER``), yet
every class takes one as its ``spark`` parameter. :class:`SparkEstimatorMixin` keeps the
session out of every copy scikit-learn makes: ``clone`` and ``copy.deepcopy`` share it by
reference (it is a handle, not state), pickling leaves it out (an unpickled estimator uses
:func:`~spark_sklearn_bridge.get_spark`), and driver-only handles (broadcasts, Spark
DataFrames) are dropped from pickles and rebuilt lazily.
"""

from __future__ import annotations

import copy

from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.utils.metaestimators import available_if

from ._compat import HasMethods
from .exceptions import NotFittedError

__all__ = [
    "SPARK_CONSTRAINT",
    "ScoreByTypeMixin",
    "SparkEstimatorMixin",
    "check_fitted",
    "delegated_tags",
    "estimator_has",
    "prediction_method",
    "python_scalar",
    "score_by_type",
    "scores_by_type",
]

#: ``_parameter_constraints`` entry of every ``spark`` parameter: a classic or Connect session.
SPARK_CONSTRAINT = [None, HasMethods(["createDataFrame", "range"])]


class SparkEstimatorMixin:
    """Clone, deep-copy and pickle an estimator without its live Spark handles.

    Put it first among the bases. ``_driver_only_state`` names instance attributes that hold
    Spark objects (DataFrames, broadcasts, caches of them); they are left out of pickles and
    deep copies and must be rebuilt lazily by the class.
    """

    _driver_only_state: tuple = ()

    def _portable_state(self) -> dict:
        state = dict(BaseEstimator.__getstate__(self))  # a copy: never the live __dict__
        for key in self._driver_only_state:
            state.pop(key, None)
        return state

    def __getstate__(self):
        state = self._portable_state()
        if "spark" in state:
            state["spark"] = None  # an unpickled estimator uses get_spark()
        return state

    def __setstate__(self, state):
        BaseEstimator.__setstate__(self, state)
        for key in self._driver_only_state:
            self.__dict__.setdefault(key, None)

    def __deepcopy__(self, memo):
        spark = self.__dict__.get("spark")
        if spark is not None:
            memo[id(spark)] = spark  # a session is a handle: shared, never copied
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self._portable_state(), memo))
        return new

    def __sklearn_clone__(self):
        # scikit-learn's clone on a shallow twin without the session (clone never copies
        # fitted state, so the twin need not pickle), then the session by reference.
        twin = type(self).__new__(type(self))
        twin.__dict__.update(self.__dict__, spark=None)
        new = BaseEstimator.__sklearn_clone__(twin)
        new.spark = self.__dict__.get("spark")
        return new


def prediction_method(name: str, summary: str, *, data: str, returns: str, check=None):
    """A public method ``name(X)`` that calls ``self._apply(name, X)``, documented once.

    Every paradigm offers the same family of methods (``predict``, ``predict_proba``, ...),
    each one line of dispatch; this builds them with a numpydoc docstring from the parts that
    differ. ``check`` makes the method exist only when it returns True (``available_if``).
    """

    def method(self, X):
        return self._apply(name, X)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"{summary}\n\nParameters\n----------\nX : {data}\n\nReturns\n-------\n{returns}\n"
    )
    return available_if(check)(method) if check is not None else method


def estimator_has(name: str, attribute: str = "estimator"):
    """``available_if`` check: the wrapped estimator (fitted one first) has method ``name``."""

    def check(self):
        fitted = self.__dict__.get(attribute + "_")
        return hasattr(fitted if fitted is not None else getattr(self, attribute), name)

    return check


def scores_by_type(self) -> bool:
    """``available_if`` check for ``score``: the wrapped estimator is a classifier or regressor.

    Only then is there one score of all rows that means the same as scikit-learn's (accuracy,
    R^2); a clusterer's or transformer's ``score`` is a per-model quantity (inertia,
    likelihood) that has no row-wise combination, so the wrappers do not offer it.
    """
    return is_classifier(self.estimator) or is_regressor(self.estimator)


class ScoreByTypeMixin:
    """``score`` as scikit-learn's classifiers and regressors define it, over all rows."""

    @available_if(scores_by_type)
    def score(self, X, y, sample_weight=None):
        """Accuracy (classifiers) or R^2 (regressors) of ``predict`` on local data.

        Parameters
        ----------
        X : pandas.DataFrame or array-like
            Test samples (Spark output is scored with pyspark).
        y : array-like
            True labels.
        sample_weight : array-like, optional
            Sample weights.

        Returns
        -------
        float
            What ``score`` of the wrapped estimator's type returns, computed on every row.
        """
        from ._inputs import is_spark_dataframe

        if is_spark_dataframe(X):
            raise TypeError("score takes pandas/numpy input; score Spark output with pyspark.")
        return score_by_type(self.estimator, y, self.predict(X), sample_weight)


def score_by_type(estimator, y_true, y_pred, sample_weight=None) -> float:
    """Accuracy for classifiers, R^2 for regressors: what their ``score`` methods return."""
    from sklearn.metrics import accuracy_score, r2_score

    metric = accuracy_score if is_classifier(estimator) else r2_score
    return float(metric(y_true, y_pred, sample_weight=sample_weight))


def delegated_tags(tags, estimator, *, input_tags=True):
    """Copy the wrapped ``estimator``'s type tags (and optionally input tags) onto ``tags``."""
    from sklearn.utils import get_tags

    try:
        base = get_tags(estimator)
    except Exception:  # not a scikit-learn estimator (e.g. an MLflow pyfunc model)
        return tags
    tags.estimator_type = base.estimator_type
    tags.classifier_tags = base.classifier_tags
    tags.regressor_tags = base.regressor_tags
    tags.transformer_tags = base.transformer_tags
    tags.target_tags = base.target_tags
    if input_tags:
        tags.input_tags = base.input_tags
    return tags


def check_fitted(estimator, attribute: str) -> None:
    """Raise the package's :class:`NotFittedError` unless ``estimator`` has ``attribute``."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' first."
        )


def python_scalar(value):
    """numpy scalar -> Python scalar (for messages, JSON, dict keys and Spark literals)."""
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value
