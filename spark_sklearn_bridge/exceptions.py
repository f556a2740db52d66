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
    "ConnectMLLimitError",
    "EmptyInputError",
    "GroupFitError",
    "JavaNotFoundError",
    "ModelIntegrityError",
    "RemoteFitError",
    "NotFittedError",
    "PickleRefusedError",
    "RemoteTraceback",
    "SearchTimeoutError",
    "SignatureError",
    "SparkConnectUnsupportedError",
    "SparkSklearnBridgeError",
    "TaskCrashedError",
    "TaskError",
    "TaskTimeoutError",
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


class UntrustedTypesError(ModelIntegrityError):
    """A skops save holds types the caller has not trusted; pass them in ``trusted=``."""

    def __init__(self, message, types=()):
        super().__init__(message)
        self.types = list(types)


class PickleRefusedError(ModelIntegrityError):
    """A saved file or blob is a pickle where pickles are refused.

    That is: in a save written with ``serializer="skops"``, or when loading with
    ``allow_pickle=False``.
    """


class SignatureError(ModelIntegrityError):
    """A save's signature is missing or does not match the signing key given to ``load``."""


class ColumnError(SparkSklearnBridgeError, ValueError):
    """A configured column is missing, duplicated, overlapping or of an unusable type."""


class NotFittedError(SparkSklearnBridgeError, _SklearnNotFittedError):
    """A method needs a fitted estimator; also a :class:`sklearn.exceptions.NotFittedError`."""


class RemoteFitError(SparkSklearnBridgeError, RuntimeError):
    """A fit that ran on a Spark executor failed; carries the executor's traceback.

    Parameters
    ----------
    message : str
        What failed, naming the group or candidate.
    remote_traceback : str, optional
        The traceback raised on the executor, as text (also its attribute).
    """

    def __init__(self, message: str, *, remote_traceback: str = ""):
        super().__init__(message)
        self.remote_traceback = remote_traceback


class GroupFitError(RemoteFitError):
    """Fitting the model of one group failed.

    Parameters
    ----------
    message : str
        What failed.
    group : dict, optional
        The group's key, column name to value (also its attribute).
    remote_traceback : str, optional
        As for :class:`RemoteFitError`.
    """

    def __init__(self, message: str, *, group: dict | None = None, remote_traceback: str = ""):
        super().__init__(message, remote_traceback=remote_traceback)
        self.group = group


class UnseenGroupError(SparkSklearnBridgeError, ValueError):
    """Rows belong to groups that have no fitted model."""


class CandidateFitError(RemoteFitError):
    """Fitting one hyperparameter candidate failed and ``error_score='raise'``.

    Raised when the executor's exception cannot be re-raised as itself (its class does not
    unpickle on the driver); otherwise the original exception is re-raised with a note.

    Parameters
    ----------
    message : str
        What failed.
    params : dict, optional
        The candidate's parameters (also its attribute).
    remote_traceback : str, optional
        As for :class:`RemoteFitError`.
    """

    def __init__(self, message: str, *, params=None, remote_traceback: str = ""):
        super().__init__(message, remote_traceback=remote_traceback)
        self.params = params


class TaskError(RemoteFitError):
    """A task of a joblib call run on Spark (``parallel_backend``) failed without an
    exception of its own to re-raise: its exception does not unpickle on the driver, or
    its process died or overran its time limit (the subclasses).

    Parameters
    ----------
    message : str
        What failed, naming the task (its number in the call and its function).
    task : str, optional
        The task's name (also its attribute).
    remote_traceback : str, optional
        As for :class:`RemoteFitError`.
    """

    def __init__(self, message: str, *, task: str = "", remote_traceback: str = ""):
        super().__init__(message, remote_traceback=remote_traceback)
        self.task = task


class TaskCrashedError(TaskError):
    """The Python process running a task died, also when it ran again in its own process.

    A crash in native code, the out-of-memory killer, ``os._exit``.

    Parameters
    ----------
    message : str
        What happened, naming the task.
    task : str, optional
        The task's name (also its attribute).
    remote_traceback : str, optional
        As for :class:`RemoteFitError`.
    """


class TaskTimeoutError(TaskError, TimeoutError):
    """A task ran longer than its ``timeout`` and was killed.

    The timeout is ``Parallel(timeout=...)`` or the backend's. Also a :class:`TimeoutError`,
    as joblib raises for its own timeouts.

    Parameters
    ----------
    message : str
        What happened, naming the task.
    task : str, optional
        The task's name (also its attribute).
    remote_traceback : str, optional
        As for :class:`RemoteFitError`.
    """


class SearchTimeoutError(SparkSklearnBridgeError, TimeoutError):
    """A search's ``timeout`` passed before any candidate finished.

    Its first round was cancelled: there is nothing to choose a best candidate from.
    """


class RemoteTraceback(SparkSklearnBridgeError):
    """The traceback of an exception raised on a Spark executor, attached to the exception
    re-raised on the driver as its ``__cause__`` (as joblib attaches its workers').

    Parameters
    ----------
    text : str
        The formatted traceback.
    """

    def __init__(self, text: str = ""):
        super().__init__(text)
        self.text = text

    def __str__(self):
        return f'\n"""\n{self.text}"""'


class UnsupportedEstimatorError(SparkSklearnBridgeError, ValueError):
    """An estimator or parameter has no faithful Spark counterpart."""


class EmptyInputError(SparkSklearnBridgeError, ValueError):
    """The data given to ``fit`` has no rows (or no groups)."""


class ConnectMLLimitError(SparkSklearnBridgeError, RuntimeError):
    """Spark Connect refused or lost a pyspark.ml model (size, model cache, eviction).

    The message names the estimator, the limit and the setting that raises it.
    """
