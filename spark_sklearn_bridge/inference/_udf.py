"""predict_udf: an Arrow iterator UDF that scores feature columns with a single-node model.

The model travels to the executors once (:func:`~spark_sklearn_bridge._shipping.ship`), is
integrity-checked, and is deserialized once per Python worker. Scoring runs in an Arrow-native
iterator UDF (``arrow_udf``): only the feature columns travel to Python. All-numeric features
become one float64 matrix without a pandas round trip; features of other types (strings,
booleans, dates, nulls) become a pandas DataFrame, as ``toPandas`` would make it, for models
that encode them (a Pipeline with a ColumnTransformer).
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._frames import rebatch
from .._schemas import is_clusterer, n_outputs, output_type
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
    feature_names : list of str, optional
        Names given to the columns before the model sees them. Default: the model's
        ``feature_names_in_`` (so models fitted on DataFrames see DataFrames). Batches of
        numeric columns reach the model as one float64 matrix (in a DataFrame with these
        names); batches with other types (strings, booleans with nulls, dates) as a pandas
        DataFrame of the columns' own types, as ``toPandas`` makes it, which needs the names.
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
    if feature_names is None:
        names = getattr(model, "feature_names_in_", None)
        feature_names = list(names) if names is not None else None
    out_type = _return_type(model, method, return_type)
    blob = dump_model(model)
    body = partial(
        _score_batches,
        model=ship(get_spark(spark), model, blob=blob, what="model"),
        method=method,
        feature_names=feature_names,
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
        return DataType.fromDDL(return_type) if isinstance(return_type, str) else return_type
    return output_type(
        method,
        classes=getattr(model, "classes_", None),
        outputs=n_outputs(model),
        clusterer=is_clusterer(model),
    )


def _arrow_type(spark_type):
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_type

    try:
        return to_arrow_type(spark_type)
    except Exception:  # pragma: no cover - unusual types: let pyarrow infer
        return pa.null()


# -------------------------------------------------------------- executors
def _score_batches(batches, *, model, method, feature_names, arrow_type, batch_size, typed=False):
    """arrow_udf body: Arrow feature columns in, one Arrow column out, batch by batch."""
    score = getattr(model.load(), method)
    convert = (
        partial(_frame, names=feature_names) if typed else partial(_features, names=feature_names)
    )
    with limit_task_threads():
        for X in rebatch(map(convert, batches), batch_size):
            if feature_names is not None and not isinstance(X, pd.DataFrame):
                X = pd.DataFrame(X, columns=feature_names, copy=False)
            yield _to_arrow(score(X), arrow_type)


def _features(arrays, names):
    """One batch's features: a float64 matrix when every column is numeric, else a frame."""
    import pyarrow as pa

    if not isinstance(arrays, (tuple, list)):
        arrays = (arrays,)
    if all(_numeric(a.type) for a in arrays) or (
        len(arrays) == 1 and pa.types.is_list(arrays[0].type)
    ):
        return _matrix(arrays)
    if names is None:
        if all(_numeric(a.type) or pa.types.is_boolean(a.type) for a in arrays):
            return _matrix(arrays)  # a model fitted on numpy saw booleans as 0 / 1
        types = ", ".join(str(a.type) for a in arrays)
        raise ValueError(
            f"The feature columns include non-numeric types ({types}), and the model has no "
            "feature names to build a DataFrame with: fit it on a pandas DataFrame (e.g. a "
            "Pipeline that encodes those columns), or pass feature_names=[...]."
        )
    return _frame(arrays, names)


def _numeric(arrow_type) -> bool:
    import pyarrow as pa

    return (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or (pa.types.is_decimal(arrow_type))
    )


def _frame(arrays, names):
    """Arrow feature columns -> a pandas DataFrame with the columns' own types."""
    import pyarrow as pa

    if not isinstance(arrays, (tuple, list)):
        arrays = (arrays,)
    return pa.Table.from_arrays(list(arrays), names=list(names)).to_pandas()


def _matrix(arrays):
    """Arrow numeric feature columns (or one list column) -> a 2-D float64 array (null: NaN)."""
    import pyarrow as pa

    if not isinstance(arrays, (tuple, list)):
        arrays = (arrays,)
    if len(arrays) == 1 and pa.types.is_list(arrays[0].type):
        column = arrays[0]
        if column.null_count:
            raise ValueError("The feature array column contains nulls.")
        offsets = column.offsets.to_numpy()
        widths = np.diff(offsets)
        if len(widths) and (widths != widths[0]).any():
            raise ValueError(
                f"The feature array column has rows of different lengths ({sorted(set(widths))})."
            )
        values = column.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]]
        return values.astype(np.float64, copy=False).reshape(len(column), -1)
    return np.column_stack([_float64(a) for a in arrays])


def _float64(array):
    import pyarrow as pa

    if not pa.types.is_floating(array.type):
        array = array.cast(pa.float64())  # ints, decimals, booleans; nulls stay null
    return array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _to_arrow(values, arrow_type):
    import pyarrow as pa

    values = np.asarray(values)
    if values.ndim == 2 and pa.types.is_list(arrow_type):
        n, width = values.shape
        offsets = pa.array(np.arange(0, n * width + 1, width, dtype=np.int32))
        flat = pa.array(values.astype(np.float64, copy=False).ravel())
        return pa.ListArray.from_arrays(offsets, flat)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.ravel()
    return pa.array(values, type=arrow_type, from_pandas=True)
