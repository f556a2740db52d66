"""predict_udf: an Arrow iterator UDF that scores feature columns with a single-node model.

The model travels to the executors once (:func:`~spark_sklearn_bridge._shipping.ship`), is
integrity-checked, and is deserialized once per Python worker. Scoring runs in an Arrow-native
iterator UDF (``arrow_udf``): only the feature columns travel to Python, and reach the model as
:mod:`~spark_sklearn_bridge._model_input` says: all-numeric features as one float64 matrix
without a pandas round trip; features of other types (strings, booleans, dates, nulls) as a
pandas DataFrame, as ``toPandas`` would make it, for models that encode them; one column named
by a string 1-D (text for a vectorizer); a Vector column as a matrix, sparse vectors as a CSR
matrix. A sparse ``transform`` comes back as a Vector column.
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._frames import rebatch
from .._model_input import arrow_input
from .._schemas import is_clusterer, n_outputs, output_type, sparse_output
from .._serialization import dump_model
from .._session import get_spark
from .._shipping import ship
from .._threads import limit_task_threads
from ..exceptions import NotFittedError

__all__ = ["METHODS", "predict_udf"]

DEFAULT_BATCH_SIZE = 50_000
METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform")


def predict_udf(
    model,
    method="predict",
    *,
    return_type=None,
    batch_size=None,
    feature_names=None,
    spark=None,
):
    """Return an Arrow iterator UDF that scores feature columns with ``model``.

    Call it with the feature columns in the model's feature order (scalar columns), or with a
    single array column: ``df.withColumn("p", udf("f0", "f1"))``. It can be registered for
    SQL with ``spark.udf.register("score", udf)``.

    Parameters
    ----------
    model : fitted estimator
        Any fitted scikit-learn estimator or Pipeline (or an object with ``method``).
    method : str, default="predict"
        The model method to call.
    return_type : str or DataType, optional
        Default inferred from the model (see :class:`SparkBatchPredictor`).
    batch_size : int, optional
        Rows per model call (input Arrow batches are concatenated up to it). Default 50,000;
        ``0`` calls the model once per Arrow batch.
    feature_names : str or list of str, optional
        Names given to the columns before the model sees them. Default: the model's
        ``feature_names_in_`` (so models fitted on DataFrames see DataFrames). Batches of
        numeric columns reach the model as one float64 matrix (in a DataFrame with these
        names); batches with other types (strings, booleans with nulls, dates) as a pandas
        DataFrame of the columns' own types, as ``toPandas`` makes it, which needs the names.
        A single name (a string) passes the one column 1-D, as ``ColumnTransformer`` does: a
        pandas Series of that name (e.g. texts for a ``TfidfVectorizer`` pipeline); with
        no names, a single text or binary column does the same for a model without
        ``feature_names_in_``. A ``pyspark.ml`` Vector column reaches the model as a matrix,
        a CSR matrix when its vectors are sparse.
    spark : SparkSession, optional
        Default: :func:`get_spark`.

    Returns
    -------
    pyspark UserDefinedFunction
        Call it on the feature columns.

    See Also
    --------
    SparkBatchPredictor : adds the UDF's column to a DataFrame, matching features by name.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> from spark_sklearn_bridge import get_spark, predict_udf
    >>> model = LinearRegression().fit([[0.0], [1.0]], [1.0, 3.0])
    >>> score = predict_udf(model)
    >>> sdf = get_spark().createDataFrame([(2.0,)], ["x"])
    >>> round(sdf.select(score("x").alias("p")).first().p, 6)
    5.0
    """
    from pyspark.sql.functions import ArrowUDFType, arrow_udf

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
    ):
        raise TypeError(f"batch_size must be None or an int >= 0; got {batch_size!r}.")
    if batch_size is not None and batch_size < 0:
        raise ValueError(f"batch_size must be None or an int >= 0; got {batch_size!r}.")
    check_model_fitted(model, "predict_udf")
    if not hasattr(model, method):
        raise AttributeError(f"{type(model).__name__} has no method {method!r}.")
    one_column = isinstance(feature_names, str)
    if one_column:
        feature_names = [feature_names]
    elif feature_names is None:
        names = getattr(model, "feature_names_in_", None)
        feature_names = list(names) if names is not None else None
    out_type = _return_type(model, method, return_type)
    blob = dump_model(model)
    body = partial(
        _score_batches,
        model=ship(get_spark(spark), model, blob=blob, what="model"),
        method=method,
        feature_names=feature_names,
        one_column=one_column,
        arrow_type=_arrow_type(out_type),
        batch_size=DEFAULT_BATCH_SIZE if batch_size is None else int(batch_size),
        # A model that checks a signature (MLflow pyfunc) gets the columns' own types.
        typed=bool(getattr(model, "takes_typed_frames", False)) and feature_names is not None,
    )
    with warnings.catch_warnings():
        # The UDF takes any number of columns, which type hints cannot say; the type is explicit.
        warnings.filterwarnings("ignore", "It is preferred to specify type hints", UserWarning)
        return arrow_udf(body, out_type, ArrowUDFType.SCALAR_ITER)


def check_model_fitted(model, caller: str) -> None:
    """Refuse an unfitted scikit-learn estimator before any job (other objects are trusted)."""
    if isinstance(model, BaseEstimator) or hasattr(model, "fit"):
        try:
            check_is_fitted(model)
        except Exception as exc:
            raise NotFittedError(
                f"{caller} needs a fitted model; {type(model).__name__} is not fitted."
            ) from exc


# ------------------------------------------------------------------ types
def _return_type(model, method, return_type):
    from pyspark.sql.types import DataType

    if return_type is not None:
        if isinstance(return_type, str) and return_type.lower() == "vector":
            return _vector_type()
        return DataType.fromDDL(return_type) if isinstance(return_type, str) else return_type
    if method == "transform" and sparse_output(model):
        return _vector_type()
    return output_type(
        method,
        classes=getattr(model, "classes_", None),
        outputs=n_outputs(model),
        clusterer=is_clusterer(model),
    )


def _vector_type():
    from pyspark.ml.linalg import VectorUDT

    return VectorUDT()


def _arrow_type(spark_type):
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_type

    try:
        return to_arrow_type(spark_type)
    except Exception:  # pragma: no cover - unusual types: let pyarrow infer
        return pa.null()


# -------------------------------------------------------------- executors
def _score_batches(
    batches, *, model, method, feature_names, arrow_type, batch_size, typed=False, one_column=False
):
    """arrow_udf body: Arrow feature columns in, one Arrow column out, batch by batch."""
    score = getattr(model.load(), method)
    if typed:
        convert = partial(_frame, names=feature_names)
    else:
        convert = partial(arrow_input, names=feature_names, one_column=one_column)
    with limit_task_threads():
        for X in rebatch(map(convert, batches), batch_size):
            yield _to_arrow(score(_named(X, feature_names)), arrow_type)


def _named(X, names):
    """A matrix of the named scalar columns as a DataFrame of those names (concatenated as a
    matrix first: cheaper than concatenating frames)."""
    matrix = isinstance(X, np.ndarray) and X.ndim == 2
    if names is not None and matrix and X.shape[1] == len(names):
        return pd.DataFrame(X, columns=names, copy=False)
    return X


def _frame(arrays, names):
    """Arrow feature columns -> a pandas DataFrame with the columns' own types."""
    import pyarrow as pa

    if not isinstance(arrays, (tuple, list)):
        arrays = (arrays,)
    return pa.Table.from_arrays(list(arrays), names=list(names)).to_pandas()


def _to_arrow(values, arrow_type):
    import pyarrow as pa
    from scipy import sparse

    if pa.types.is_struct(arrow_type):  # a Vector column: sparse rows stay sparse
        return _vectors_to_arrow(values, arrow_type)
    if sparse.issparse(values):
        values = values.toarray()  # an array column was asked for: dense rows
    values = np.asarray(values)
    if values.ndim == 2 and pa.types.is_list(arrow_type):
        n, width = values.shape
        offsets = pa.array(np.arange(0, n * width + 1, width, dtype=np.int32))
        flat = pa.array(values.astype(np.float64, copy=False).ravel())
        return pa.ListArray.from_arrays(offsets, flat)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.ravel()
    return pa.array(values, type=arrow_type, from_pandas=True)


def _vectors_to_arrow(values, arrow_type):
    """A model output (CSR matrix, or a dense 2-D array) as a ``pyspark.ml`` Vector column:
    the Vector type's struct, sparse rows sparse (type 0), dense rows dense (type 1)."""
    import pyarrow as pa
    from scipy import sparse

    n = values.shape[0]
    index_type, value_type = arrow_type.field("indices").type, arrow_type.field("values").type

    def lists(offsets, flat, list_type):
        return pa.ListArray.from_arrays(offsets, pa.array(flat), type=list_type)

    if sparse.issparse(values):
        matrix = values.tocsr()
        offsets = pa.array(matrix.indptr.astype(np.int32))
        columns = [
            pa.array(np.zeros(n, dtype=np.int8)),
            pa.array(np.full(n, matrix.shape[1], dtype=np.int32)),
            lists(offsets, matrix.indices.astype(np.int32), index_type),
            lists(offsets, matrix.data.astype(np.float64), value_type),
        ]
    else:
        matrix = np.asarray(values, dtype=np.float64).reshape(n, -1)
        width = matrix.shape[1]
        offsets = pa.array(np.arange(0, n * width + 1, width, dtype=np.int32))
        columns = [
            pa.array(np.ones(n, dtype=np.int8)),
            pa.nulls(n, pa.int32()),
            pa.nulls(n, index_type),
            lists(offsets, matrix.ravel(), value_type),
        ]
    return pa.StructArray.from_arrays(columns, fields=list(arrow_type))
