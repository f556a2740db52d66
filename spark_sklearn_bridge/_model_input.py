"""How the columns of a Spark DataFrame reach a scikit-learn model: one rule, every paradigm.

=========================================  ================================================
feature columns                            the model gets
=========================================  ================================================
one column named by a string               a 1-D column, as ``ColumnTransformer`` passes
(``feature_cols="text"``)                  one: a pandas Series (text, numbers, dates), a
                                           1-D object array of ``bytes`` (binary); a vector
                                           or array column is 2-D (below)
a list of numeric columns                  a float64 matrix (a DataFrame with the names
                                           when the model was fitted on one)
a list with other types (strings, dates,   a pandas DataFrame, types as ``toPandas`` gives
booleans with nulls, binary)               them
one ``pyspark.ml`` Vector column           a float64 matrix if every row is dense, else a
                                           ``scipy.sparse`` CSR matrix: sparse vectors are
                                           never densified
one array column (embeddings)              a float64 matrix (rows of one length)
=========================================  ================================================

Vectors arrive from Arrow as the Vector type's struct (``type``: 0 sparse / 1 dense,
``size``, ``indices``, ``values``); :func:`vectors` builds the matrix from it without a row
loop for Arrow input. A ``pyspark.ml`` vector column made by ``HashingTF`` or
``CountVectorizer`` records its size in the schema: :func:`vector_size` reads it, so a model
expecting another number of features is refused before any job.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .exceptions import ColumnError

__all__ = [
    "FeatureColumns",
    "arrow_input",
    "check_text_column",
    "check_vector_size",
    "pandas_input",
    "output_vectors",
    "spark_vectors",
    "takes_text",
    "vector_size",
    "vectors",
]


class FeatureColumns:
    """The feature columns a setting names, and whether it named ONE column as a string.

    Parameters
    ----------
    names : list of str
    one_column : bool
        The setting was a single name (a string): the model gets that column 1-D.
    """

    def __init__(self, names, one_column=False):
        self.names, self.one_column = list(names), bool(one_column)

    @classmethod
    def of(cls, setting):
        """From a ``feature_cols`` setting: a string is one 1-D column, a list 2-D columns,
        None stays None (the caller's default)."""
        if setting is None:
            return None
        if isinstance(setting, str):
            return cls([setting], one_column=True)
        return cls(list(setting))

    def setting(self):
        """Back to what was set: a string for one column, else the list."""
        return self.names[0] if self.one_column else list(self.names)

    def __repr__(self):
        return f"FeatureColumns({self.setting()!r})"


# ------------------------------------------------------------------- schema
def is_vector_type(data_type) -> bool:
    """A ``pyspark.ml`` Vector column (the VectorUDT)."""
    return type(data_type).__name__ == "VectorUDT"


def vector_size(field) -> int | None:
    """The size a Vector column's schema records (``HashingTF``, ``CountVectorizer``, ...),
    or None when it records none."""
    attrs = (field.metadata or {}).get("ml_attr") or {}
    size = attrs.get("num_attrs")
    return int(size) if isinstance(size, int) else None


def check_vector_size(field, expected) -> None:
    """Refuse, before any job, a Vector column whose recorded size is not the model's
    ``n_features_in_`` (``expected``; nothing is checked when either is unknown)."""
    size = vector_size(field)
    if expected is not None and size is not None and size != expected:
        raise ColumnError(
            f"Feature column {field.name!r} holds vectors of size {size}, but the model "
            f"was fitted on {expected} features."
        )


# -------------------------------------------------------------------- Arrow
def arrow_input(arrays, *, names, one_column=False, column=None):
    """One Arrow batch's feature columns as the model input the table above gives.

    Parameters
    ----------
    arrays : pyarrow.Array or sequence of them
        The feature columns, in order.
    names : list of str or None
        Column names for a DataFrame (the model's ``feature_names_in_``, or the columns').
    one_column : bool
        The features were named by one string: a 1-D input.
    column : str, optional
        The column's name, for error messages about a single column.
    """
    import pyarrow as pa

    if not isinstance(arrays, (tuple, list)):
        arrays = (arrays,)
    if len(arrays) == 1:
        array, what = arrays[0], column or (names[0] if names else "the feature column")
        if pa.types.is_struct(array.type):
            return vectors(array, what)
        if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
            return _arrays_matrix(array, what)
        textual = pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
        binary = pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type)
        if one_column or (names is None and (textual or binary)):
            if (textual or binary) and array.null_count:
                raise ValueError(_null_text(what, array.null_count))
            if binary:
                return np.asarray(array.to_pylist(), dtype=object)
            series = pa.chunked_array([array]).to_pandas()
            return series.rename(names[0] if names else what)
    if all(_numeric(a.type) for a in arrays):
        return np.column_stack([_float64(a) for a in arrays])
    if names is None:
        if all(_numeric(a.type) or pa.types.is_boolean(a.type) for a in arrays):
            return np.column_stack([_float64(a) for a in arrays])  # booleans as 0 / 1
        types = ", ".join(str(a.type) for a in arrays)
        raise ValueError(
            f"The feature columns include non-numeric types ({types}), and the model has no "
            "feature names to build a DataFrame with: fit it on a pandas DataFrame (e.g. a "
            "Pipeline that encodes those columns), pass the columns' names, or name one "
            "column by a string (it then reaches the model as a 1-D column)."
        )
    return pa.Table.from_arrays(list(arrays), names=list(names)).to_pandas()


def vectors(array, what="the vector column"):
    """A ``pyspark.ml`` Vector column (Arrow struct or its Python values) as a float64 matrix,
    or a CSR matrix when any row is sparse.

    Examples
    --------
    >>> import pyarrow as pa
    >>> rows = [{"type": 0, "size": 4, "indices": [1, 3], "values": [1.0, 2.0]},
    ...         {"type": 1, "size": None, "indices": None, "values": [1.0, 0.0, 0.0, 5.0]}]
    >>> vectors(pa.array(rows)).toarray()
    array([[0., 1., 0., 2.],
           [1., 0., 0., 5.]])
    """
    import pyarrow as pa

    if not isinstance(array, (pa.Array, pa.ChunkedArray)):
        return _vectors_from_python(list(array), what)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count:
        raise ValueError(f"Feature column {what!r} has null vectors.")
    kinds = array.field("type").to_numpy(zero_copy_only=False)
    values = array.field("values")
    offsets = values.offsets.to_numpy()
    flat = values.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    if (kinds == 1).all():  # all dense: one matrix
        widths = np.diff(offsets)
        if len(widths) and (widths != widths[0]).any():
            raise ValueError(
                f"Feature column {what!r} has vectors of different sizes {sorted(set(widths))}."
            )
        return flat.astype(np.float64, copy=False).reshape(len(array), -1)
    sizes = array.field("size").to_numpy(zero_copy_only=False)
    dense = kinds == 1
    sizes = np.where(dense, np.diff(offsets), sizes).astype(np.int64)
    if len(sizes) and (sizes != sizes[0]).any():
        raise ValueError(f"Feature column {what!r} has vectors of different sizes.")
    index_list = array.field("indices")
    index_offsets = index_list.offsets.to_numpy()
    index_flat = index_list.values.to_numpy(zero_copy_only=False)
    index_flat = index_flat[index_offsets[0] : index_offsets[-1]]
    index_offsets = index_offsets - index_offsets[0]
    if dense.any():  # a few dense rows among sparse ones: give them their positions
        pieces, position = [], 0
        for row in range(len(array)):
            n = offsets[row + 1] - offsets[row]
            if dense[row]:
                pieces.append(np.arange(n, dtype=np.int64))
            else:
                pieces.append(index_flat[index_offsets[row] : index_offsets[row + 1]])
            position += n
        index_flat = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
    return _csr(flat, index_flat, offsets, int(sizes[0]) if len(sizes) else 0)


def _vectors_from_python(rows, what):
    """Vectors from Python values: the struct as dicts (mapInPandas), Spark vector objects,
    or plain sequences (dense)."""
    data, indices, offsets, size, any_sparse = [], [], [0], None, False
    for row in rows:
        if row is None:
            raise ValueError(f"Feature column {what!r} has null vectors.")
        if isinstance(row, dict):
            sparse = row["type"] == 0
            values = np.asarray(row["values"], dtype=np.float64)
            index = np.asarray(row["indices"]) if sparse else np.arange(len(values))
            width = int(row["size"]) if sparse else len(values)
        elif hasattr(row, "indices") and hasattr(row, "size"):  # SparseVector
            sparse, values = True, np.asarray(row.values, dtype=np.float64)
            index, width = np.asarray(row.indices), int(row.size)
        else:  # DenseVector, list, ndarray
            sparse, values = False, np.asarray(row, dtype=np.float64).ravel()
            index, width = np.arange(len(values)), len(values)
        if size is None:
            size = width
        elif width != size:
            raise ValueError(f"Feature column {what!r} has vectors of different sizes.")
        any_sparse |= sparse
        data.append(values)
        indices.append(index)
        offsets.append(offsets[-1] + len(values))
    flat = np.concatenate(data) if data else np.zeros(0)
    if not any_sparse:
        return flat.reshape(len(rows), -1) if rows else np.zeros((0, 0))
    return _csr(flat, np.concatenate(indices), np.asarray(offsets), size or 0)


def _csr(values, indices, offsets, n_columns):
    from scipy import sparse

    return sparse.csr_matrix(
        (
            values.astype(np.float64, copy=False),
            indices.astype(np.int32 if n_columns < 2**31 else np.int64, copy=False),
            offsets.astype(np.int64, copy=False),
        ),
        shape=(len(offsets) - 1, n_columns),
    )


def _arrays_matrix(column, what):
    """An array column (embeddings) as a 2-D float64 matrix."""
    if column.null_count:
        raise ValueError(f"Feature column {what!r} contains null arrays.")
    offsets = column.offsets.to_numpy()
    widths = np.diff(offsets)
    if len(widths) and (widths != widths[0]).any():
        raise ValueError(
            f"Feature column {what!r} has arrays of different lengths ({sorted(set(widths))})."
        )
    values = column.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]]
    return values.astype(np.float64, copy=False).reshape(len(column), -1)


def _numeric(arrow_type) -> bool:
    import pyarrow as pa

    return (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_decimal(arrow_type)
    )


def _float64(array):
    import pyarrow as pa

    if not pa.types.is_floating(array.type):
        array = array.cast(pa.float64())  # ints, decimals, booleans; nulls stay null
    return array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


# ------------------------------------------------------------------- pandas
def spark_vectors(values: pd.Series) -> pd.Series:
    """A column of the Vector struct's values (dicts, as ``mapInPandas`` delivers a Vector
    column) as ``pyspark.ml`` vectors, which a Vector column of the output takes."""
    from pyspark.ml.linalg import DenseVector, SparseVector

    def convert(value):
        if not isinstance(value, dict):
            return value  # None, or already a vector
        if value["type"] == 0:
            return SparseVector(value["size"], value["indices"], value["values"])
        return DenseVector(value["values"])

    return values.map(convert)


def output_vectors(values: pd.Series) -> pd.Series:
    """A Vector column's values as they arrived in ``mapInPandas`` (the struct as dicts),
    in the form its output takes: pyspark 4.2 and later serialize ``pyspark.ml`` vectors
    with the Vector type and refuse the struct; pyspark 4.1 takes the struct and fails on
    vector objects (both measured; ``make test-min`` runs 4.1)."""
    import pyspark

    major, minor = (int(part) for part in pyspark.__version__.split(".")[:2])
    return values if (major, minor) < (4, 2) else spark_vectors(values)


def is_vector_values(values: pd.Series) -> bool:
    """A pandas column holding vectors (the Vector struct as dicts, Spark vectors or
    arrays), as ``mapInPandas`` and ``toPandas`` deliver a Vector or array column."""
    if values.dtype != object or not len(values):
        return False
    first = values.iloc[0]
    return isinstance(first, (dict, np.ndarray, list)) or hasattr(first, "toArray")


def pandas_input(frame: pd.DataFrame, columns: FeatureColumns):
    """The model input of a pandas frame's feature columns (the table above): a vector
    column as a matrix, one column named by a string as a Series (binary: an object array
    of bytes), else the frame of the columns."""
    names = columns.names
    if len(names) == 1 and is_vector_values(frame[names[0]]):
        return vectors(frame[names[0]].tolist(), names[0])
    if columns.one_column:
        values = frame[names[0]]
        if values.dtype == object and values.isna().any():
            raise ValueError(_null_text(names[0], int(values.isna().sum())))
        if len(values) and isinstance(values.iloc[0], (bytes, bytearray)):
            return np.asarray(values.tolist(), dtype=object)
        return values
    return frame[names]


def _null_text(name, count) -> str:
    return (
        f"Feature column {name!r} has {count} null values: a text column passed 1-D "
        "(named by a string) must hold a string in every row (fill them first, e.g. "
        f"F.coalesce(F.col({name!r}), F.lit('')))."
    )


def _first_step(estimator):
    while hasattr(estimator, "steps"):
        estimator = estimator.steps[0][1]
    return estimator


def takes_text(estimator) -> bool:
    """The estimator's first step turns raw text into features (a scikit-learn text
    vectorizer with its default string input)."""
    from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer

    first = _first_step(estimator)
    return isinstance(first, (CountVectorizer, HashingVectorizer)) and not callable(
        getattr(first, "analyzer", None)
    )


def check_text_column(estimator, name: str, kind: str, values=None) -> None:
    """Refuse, before any job, a non-text column given to a model that takes text: a Spark
    column (``kind``: its type's name) that is not a string, or pandas ``values`` that are
    not all strings."""
    if not takes_text(estimator):
        return
    reader = type(_first_step(estimator)).__name__
    if values is not None:  # pandas: object columns may hold anything
        bad = values[~values.map(lambda v: isinstance(v, (str, bytes)))]
        if len(bad):
            raise ColumnError(
                f"Feature column {name!r} holds {len(bad)} values that are not text (e.g. "
                f"{bad.iloc[0]!r} in row {bad.index[0]!r}), but the model reads it with "
                f"{reader}, which takes text."
            )
        return
    if kind not in ("string", "binary"):
        raise ColumnError(
            f"Feature column {name!r} is {kind}, but the model reads it with {reader}, which "
            f"takes text: give it a string column (e.g. F.col({name!r}).cast('string'))."
        )
