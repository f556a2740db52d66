"""Spark Connect's limits on pyspark.ml models, as this package's error.

On Spark Connect a fitted pyspark.ml model lives in the server's per-session ML cache, which
caps a model's size, caps the cache, and offloads idle models. Its errors name neither the
scikit-learn estimator nor the setting to change; :func:`connect_ml_limits` re-raises them as
:class:`ConnectMLLimitError` that does.
"""

from __future__ import annotations

from contextlib import contextmanager

from ..exceptions import ConnectMLLimitError

__all__ = ["CONNECT_ML_SETTINGS", "connect_ml_limits"]

_MEMORY = "spark.connect.session.connectML.mlCache.memoryControl."

#: Spark Connect's ML error condition -> (what was exceeded, the setting that governs it).
CONNECT_ML_SETTINGS = {
    "CONNECT_ML.MODEL_SIZE_OVERFLOW_EXCEPTION": (
        "the size one model may have on the server",
        _MEMORY + "maxModelSize",
    ),
    "CONNECT_ML.ML_CACHE_SIZE_OVERFLOW_EXCEPTION": (
        "the size of the session's model cache",
        _MEMORY + "maxStorageSize",
    ),
    "CONNECT_ML.CACHE_INVALID": (
        "the time an idle model stays in the session's cache",
        _MEMORY + "offloadingTimeout",
    ),
    "CONNECT_ML.MODEL_SUMMARY_LOST": (
        "the time an idle model stays in the session's cache",
        _MEMORY + "offloadingTimeout",
    ),
}


@contextmanager
def connect_ml_limits(estimator, spark):
    """Re-raise a Spark Connect ML cache error as :class:`ConnectMLLimitError` naming
    ``estimator`` (a scikit-learn estimator), the limit and its setting (with its value)."""
    from pyspark.errors import PySparkException

    try:
        yield
    except PySparkException as error:
        condition = _condition(error)
        if condition not in CONNECT_ML_SETTINGS:
            raise
        what, setting = CONNECT_ML_SETTINGS[condition]
        try:
            value = spark.conf.get(setting, None)
        except Exception:  # the server may not expose it: the message still names it
            value = None
        current = f" (now {value})" if value is not None else " (the server's default)"
        detail = str(error).split("\n")[0].strip()
        raise ConnectMLLimitError(
            f"Spark Connect could not keep the pyspark.ml model of {type(estimator).__name__}: "
            f"it exceeds {what}, set by {setting}{current}. Raise it with "
            f"spark.conf.set({setting!r}, ...) (or on the Connect server), or use a smaller "
            f"model. Spark said: {detail}"
        ) from error


def _condition(error) -> str | None:
    for name in ("getCondition", "getErrorClass"):  # getErrorClass before pyspark 4.0
        getter = getattr(error, name, None)
        if getter is not None:
            try:
                return getter()
            except Exception:
                continue
    return None
