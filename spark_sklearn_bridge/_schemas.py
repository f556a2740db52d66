"""Spark output types of model methods, decided once for every paradigm."""

from __future__ import annotations

import numpy as np

__all__ = ["output_type", "n_outputs", "is_clusterer"]

ARRAY_METHODS = ("predict_proba", "predict_log_proba", "transform")


def output_type(method: str, *, classes=None, outputs: int = 1, clusterer: bool = False):
    """Spark type of ``method``'s output for one row.

    ``predict``: the class labels' type for classifiers (string / long / boolean / double),
    ``long`` for clusterers, ``double`` for regressors, ``array<double>`` with several outputs.
    ``predict_proba`` / ``predict_log_proba`` / ``transform``: ``array<double>``.
    ``decision_function``: ``double`` for binary (or class-less) models, else ``array<double>``.
    """
    from pyspark.sql import types as T

    array = T.ArrayType(T.DoubleType())
    if method in ARRAY_METHODS:
        return array
    if method == "decision_function":
        return T.DoubleType() if classes is None or len(classes) <= 2 else array
    if isinstance(classes, list) or outputs > 1:  # multi-output
        return array
    if classes is not None:
        kind = np.asarray(classes).dtype.kind
        return {
            "U": T.StringType(),
            "O": T.StringType(),
            "b": T.BooleanType(),
            "i": T.LongType(),
            "u": T.LongType(),
        }.get(kind, T.DoubleType())
    return T.LongType() if clusterer else T.DoubleType()


def sparse_output(model) -> bool:
    """The model's ``transform`` returns a scipy sparse matrix: its last step is a text
    vectorizer, a feature hasher, or an encoder set to sparse output. A Spark column of its
    transform is then a ``pyspark.ml`` Vector column (sparse vectors), not an array."""
    from sklearn.feature_extraction import DictVectorizer, FeatureHasher
    from sklearn.feature_extraction.text import (
        CountVectorizer,
        HashingVectorizer,
        TfidfTransformer,
    )
    from sklearn.preprocessing import OneHotEncoder

    last = model[-1] if hasattr(model, "steps") else model
    if isinstance(last, (CountVectorizer, HashingVectorizer, TfidfTransformer, FeatureHasher)):
        return True  # TfidfVectorizer is a CountVectorizer
    if isinstance(last, OneHotEncoder):
        return bool(getattr(last, "sparse_output", False))
    return isinstance(last, DictVectorizer) and bool(last.sparse)


def n_outputs(model) -> int:
    """Number of regression targets a fitted model predicts (1 when it cannot tell)."""
    explicit = getattr(model, "n_outputs_", None)
    if explicit is not None:
        return int(explicit)
    intercept = getattr(model, "intercept_", None)
    if (
        intercept is not None
        and np.ndim(intercept) > 0
        and getattr(model, "classes_", None) is None
    ):
        return int(np.size(intercept))
    return 1


def is_clusterer(estimator) -> bool:
    from sklearn.utils import get_tags

    try:
        return get_tags(estimator).estimator_type == "clusterer"
    except Exception:  # not a scikit-learn estimator (e.g. an MLflow pyfunc model)
        return False
