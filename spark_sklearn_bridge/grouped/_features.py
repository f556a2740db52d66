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

from .._model_input import FeatureColumns, is_vector_values, pandas_input

__all__ = [
    "FeatureMatrix",
    "all_numeric",
    "all_sparse",
    "fits_numpy_like_pandas",
    "numpy_features",
    "sparse_vectors",
]


class FeatureMatrix:
    """The feature columns of a partition or batch, sliced by row positions or ranges.

    What the model gets follows :mod:`~spark_sklearn_bridge._model_input`: one column named
    by a string as a 1-D Series, a Vector column as a matrix (CSR when sparse), numeric
    columns as a numpy matrix when the estimator gets the same model from one, else the
    DataFrame of the columns.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows (group by group, for a fit).
    feature_cols : list of str
    numpy_ok : bool
        The estimator gets the same model from a numpy matrix
        (:func:`fits_numpy_like_pandas`); the matrix is used when every feature column is
        numeric too.
    one_column : bool
        The features were named by one string: each group gets that column 1-D.
    """

    def __init__(self, frame: pd.DataFrame, feature_cols, numpy_ok: bool, one_column=False):
        self.names = np.asarray(feature_cols, dtype=object)
        columns = FeatureColumns(feature_cols, one_column)
        vector = len(feature_cols) == 1 and is_vector_values(frame[feature_cols[0]])
        #: The model gets a matrix of the named columns (its names are recorded after a fit,
        #: as if it had been given the DataFrame): a CSR matrix of pandas sparse columns
        #: (never densified; a fit gets them so too), or a numpy matrix of numeric columns.
        plain = not one_column and not vector
        sparse_columns = plain and all_sparse(frame, feature_cols)
        self.use_numpy = sparse_columns or (
            plain and numpy_ok and all_numeric(frame, feature_cols)
        )
        if sparse_columns:
            self.data = frame[feature_cols].sparse.to_coo().tocsr()
        elif self.use_numpy:
            self.data = frame[feature_cols].to_numpy()
        else:
            self.data = pandas_input(frame, columns)

    def rows(self, index):
        """The features of the rows at ``index`` (a slice or positions)."""
        if isinstance(self.data, (pd.DataFrame, pd.Series)):
            return self.data.iloc[index]
        return self.data[index]


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


def all_sparse(frame, columns) -> bool:
    """Every one of ``columns`` of ``frame`` is a pandas sparse column."""
    return bool(columns) and all(isinstance(frame[c].dtype, pd.SparseDtype) for c in columns)


def sparse_vectors(frame, columns) -> list:
    """The rows of ``frame``'s sparse ``columns`` as ``pyspark.ml`` SparseVectors: how
    pandas sparse features travel to Spark without being densified."""
    from pyspark.ml.linalg import SparseVector

    matrix = frame[columns].sparse.to_coo().tocsr()
    width, indptr = matrix.shape[1], matrix.indptr
    return [
        SparseVector(
            width,
            matrix.indices[indptr[i] : indptr[i + 1]],
            matrix.data[indptr[i] : indptr[i + 1]],
        )
        for i in range(matrix.shape[0])
    ]


def all_numeric(frame, columns) -> bool:
    """Every one of ``columns`` of ``frame`` has a numeric dtype."""
    return all(pd.api.types.is_numeric_dtype(frame[c]) for c in columns)


@contextmanager
def numpy_features():
    """Models fitted on DataFrames warn when given numpy; here the columns are known right."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "X does not have valid feature names")
        yield
