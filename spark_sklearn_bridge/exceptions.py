"""Errors raised by spark_sklearn_bridge.

Every error the package raises on purpose derives from :class:`SparkSklearnBridgeError`, and
also from the built-in (or scikit-learn) exception a user would already catch for that kind of
problem, so ``except ValueError`` keeps working around a bridge call.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "CandidateFitError",
    "ColumnError",
    "EmptyInputError",
    "GroupFitError",
    "JavaNotFoundError",
    "ModelIntegrityError",
    "NotFittedError",
    "SparkConnectUnsupportedError",
    "SparkSklearnBridgeError",
    "UnseenGroupError",
    "UnsupportedEstimatorError",
]


class SparkSklearnBridgeError(Exception):
    """Root of every error raised on purpose by spark_sklearn_bridge."""


class JavaNotFoundError(SparkSklearnBridgeError, RuntimeError):
    """No usable Java runtime (Spark needs Java 17 or newer) for the embedded session."""


class SparkConnectUnsupportedError(SparkSklearnBridgeError, NotImplementedError):
    """A feature needs a classic SparkContext, which a Spark Connect session does not have."""


class ModelIntegrityError(SparkSklearnBridgeError, ValueError):
    """Serialized model bytes are truncated, tampered with or not produced by this package."""


class ColumnError(SparkSklearnBridgeError, ValueError):
    """A configured column is missing, duplicated, overlapping or of an unusable type."""


class NotFittedError(SparkSklearnBridgeError, _SklearnNotFittedError):
    """A method needs a fitted estimator; also a :class:`sklearn.exceptions.NotFittedError`."""


class GroupFitError(SparkSklearnBridgeError, RuntimeError):
    """Fitting the model of one group failed.

    Attributes
    ----------
    group : dict
        The group's key, column name to value.
    remote_traceback : str
        The traceback raised on the executor, as text.
    """

    def __init__(self, message: str, *, group: dict | None = None, remote_traceback: str = ""):
        super().__init__(message)
        self.group = group
        self.remote_traceback = remote_traceback


class UnseenGroupError(SparkSklearnBridgeError, ValueError):
    """Rows belong to groups that have no fitted model."""


class CandidateFitError(SparkSklearnBridgeError, RuntimeError):
    """Fitting one hyperparameter candidate failed and ``error_score='raise'``.

    Attributes
    ----------
    params : dict
        The candidate's parameters.
    remote_traceback : str
        The traceback raised on the executor, as text.
    """

    def __init__(self, message: str, *, params: dict | None = None, remote_traceback: str = ""):
        super().__init__(message)
        self.params = params
        self.remote_traceback = remote_traceback


class UnsupportedEstimatorError(SparkSklearnBridgeError, ValueError):
    """An estimator or parameter has no faithful Spark counterpart."""


class EmptyInputError(SparkSklearnBridgeError, ValueError):
    """The data given to ``fit`` has no rows (or no groups)."""
