"""One group's features, cheaply: a slice of one matrix (or frame) per partition or batch.

A task gathers its rows once; each group then gets a slice of :class:`FeatureMatrix`, not a
DataFrame built per group. For plain scikit-learn estimators on numeric columns that slice
is a numpy view, which skips scikit-learn's per-call DataFrame validation; the model still
records (or checks) the column names as if it had been given a DataFrame.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd

__all__ = ["FeatureMatrix", "all_numeric", "fits_numpy_like_pandas", "numpy_features"]


class FeatureMatrix:
    """The feature columns of a partition or batch, sliced by row positions or ranges.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows (group by group, for a fit).
    feature_cols : list of str
    numpy_ok : bool
        The estimator gets the same model from a numpy matrix
        (:func:`fits_numpy_like_pandas`); the matrix is used when every feature column is
        numeric too (:attr:`use_numpy`).
    """

    def __init__(self, frame: pd.DataFrame, feature_cols, numpy_ok: bool):
        self.names = np.asarray(feature_cols, dtype=object)
        self.use_numpy = numpy_ok and all_numeric(frame, feature_cols)
        features = frame[feature_cols]
        self.data = features.to_numpy() if self.use_numpy else features

    def rows(self, index):
        """The features of the rows at ``index`` (a slice or positions)."""
        return self.data[index] if self.use_numpy else self.data.iloc[index]


def fits_numpy_like_pandas(estimator, feature_cols) -> bool:
    """True when fitting on a numpy matrix and then recording the column names gives the
    model a DataFrame fit would: a scikit-learn estimator that is not a composite (Pipelines
    and ColumnTransformers may select columns by name, so they get DataFrames) and has no
    parameter naming a feature column (e.g. ``categorical_features=["store_type"]``)."""
    module = type(estimator).__module__
    composite = hasattr(estimator, "steps") or hasattr(estimator, "transformers")
    if not module.startswith("sklearn.") or composite:
        return False
    names = set(feature_cols)
    for value in estimator.get_params(deep=True).values():
        values = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
        if any(isinstance(v, str) and v in names for v in values):
            return False
    return True


def all_numeric(frame, columns) -> bool:
    """Every one of ``columns`` of ``frame`` has a numeric dtype."""
    return all(pd.api.types.is_numeric_dtype(frame[c]) for c in columns)


@contextmanager
def numpy_features():
    """Models fitted on DataFrames warn when given numpy; here the columns are known right."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "X does not have valid feature names")
        yield
