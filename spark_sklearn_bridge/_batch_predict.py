"""SparkBatchPredictor and predict_udf: score Spark DataFrames with a single-node model.

The model travels to the executors once (a broadcast on classic Spark; inside the UDF on Spark
Connect, which has no broadcasts), is integrity-checked, and is deserialized once per Python
worker (cached by digest). Scoring runs in an Arrow-native iterator UDF (``arrow_udf``): Arrow
columns become one numpy matrix without a pandas round trip, and only the feature columns
travel to Python; every other column stays in the JVM.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from functools import partial

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, MetaEstimatorMixin, TransformerMixin, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._inputs import is_spark_dataframe, resolve_columns, spark_column_kinds
from ._meta import delegated_tags
from ._schemas import is_clusterer, n_outputs, output_type
from ._serialization import dump_model, load_model, model_digest
from ._session import get_spark, is_spark_connect
from ._threads import limit_task_threads
from .exceptions import ColumnError, NotFittedError

__all__ = ["SparkBatchPredictor", "predict_udf"]

DEFAULT_BATCH_SIZE = 50_000
_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform")


def _estimator_has(name):
    def check(self):
        return hasattr(self.estimator, name)

    return check


class SparkBatchPredictor(MetaEstimatorMixin, TransformerMixin, BaseEstimator):
    """Score Spark DataFrames with any fitted scikit-learn estimator or Pipeline.

    pandas / numpy input is scored locally exactly as the estimator would (numpy out). A Spark
    DataFrame (batch or streaming) gets one more column, computed lazily on the executors.

    Parameters
    ----------
    estimator : estimator or Pipeline
        Fitted (used as is) or unfitted (call :meth:`fit` first; a clone is fitted).
    method : {"predict", "predict_proba", "predict_log_proba", "decision_function", \
"transform"}, default="predict"
        The method :meth:`transform` applies (Spark ML style). An estimator without
        ``predict`` but with ``transform`` uses ``transform``.
    feature_cols : list of str, optional
        Feature columns: numeric scalar columns, or ONE array / ``pyspark.ml`` Vector column.
        Default: the model's ``feature_names_in_`` when it has them (columns are matched by
        name), else every numeric column but ``output_col`` and ``label_col``.
    output_col : str, default="prediction"
        Name of the added column. It must not exist yet.
    batch_size : int, optional
        Rows per model call: consecutive Arrow batches (``spark.sql.execution.arrow.
        maxRecordsPerBatch`` rows each, 10,000 by default) are concatenated until at least
        this many rows. Default: 50,000 (fewer, larger calls amortise per-call overhead such as
        a forest's; measured in ``benchmarks/bench_batch_predict.py``). ``0`` calls the model
        once per Arrow batch.
    label_col : str, optional
        Label column used by :meth:`fit` on a Spark DataFrame.
    return_type : str or pyspark DataType, optional
        Output column type. Default: inferred from the model (class labels' type for
        classifiers, ``double`` for regressors, ``array<double>`` for probabilities,
        transforms, multi-class decision functions and multi-output predictions).
    spark : SparkSession, optional
        Default: :func:`get_spark`.

    Attributes
    ----------
    estimator_ : estimator
        The clone fitted by :meth:`fit` (absent when a fitted estimator is wrapped as is).
    n_features_in_ : int
        Number of features of the fitted estimator, when it records them.
    feature_names_in_ : ndarray of str
        Feature names of the fitted estimator, when it records them.
    classes_ : ndarray
        Class labels of a fitted classifier.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> from spark_sklearn_bridge import SparkBatchPredictor, get_spark
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, 1.0, 0.0]})
    >>> model = LinearRegression().fit(X, [1.0, 3.0, 4.0])
    >>> scorer = SparkBatchPredictor(model)
    >>> sdf = get_spark().createDataFrame(X)
    >>> [round(r.prediction, 6) for r in scorer.predict(sdf).collect()]
    [1.0, 3.0, 4.0]
    >>> scorer.predict(X).round(6)  # pandas in, numpy out
    array([1., 3., 4.])
    """

    def __init__(
        self,
        estimator,
        *,
        method="predict",
        feature_cols=None,
        output_col="prediction",
        batch_size=None,
        label_col=None,
        return_type=None,
        spark=None,
    ):
        self.estimator = estimator
        self.method = method
        self.feature_cols = feature_cols
        self.output_col = output_col
        self.batch_size = batch_size
        self.label_col = label_col
        self.return_type = return_type
        self.spark = spark

    @classmethod
    def from_mlflow(cls, model_uri, **kwargs):
        """Build a predictor from a model logged to MLflow (``runs:/...``, ``models:/...``).

        Models of the ``sklearn`` flavour are loaded as scikit-learn estimators (all methods
        available); any other flavour is loaded as a pyfunc model (``predict`` only).
        """
        import mlflow

        model_info = mlflow.models.get_model_info(model_uri)
        if "sklearn" in model_info.flavors:
            model = mlflow.sklearn.load_model(model_uri)
        else:
            model = _PyfuncModel(mlflow.pyfunc.load_model(model_uri))
        return cls(model, **kwargs)

    def fit(self, X, y=None, **fit_params):
        """Fit a clone of ``estimator`` locally (Spark input is collected to the driver).

        Returns
        -------
        self
        """
        if is_spark_dataframe(X):
            if y is not None:
                raise ValueError("y must be None for Spark DataFrame input; use label_col.")
            kinds = spark_column_kinds(X.schema)
            features = resolve_columns(
                kinds,
                feature_cols=self.feature_cols,
                label_col=self.label_col,
                exclude=[self.output_col],
            )
            frame = X.select(*features, *([self.label_col] if self.label_col else [])).toPandas()
            X = frame[features]
            y = frame[self.label_col].to_numpy() if self.label_col else None
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        return self

    # ------------------------------------------------------------ methods
    def predict(self, X):
        """Predictions: numpy for pandas/numpy input, ``X`` plus ``output_col`` for Spark."""
        return self._call("predict", X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities (an array<double> column on Spark, in ``classes_`` order)."""
        return self._call("predict_proba", X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities (array<double> column on Spark)."""
        return self._call("predict_log_proba", X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function (double for binary, array<double> for multi-class, on Spark)."""
        return self._call("decision_function", X)

    def transform(self, X):
        """Apply the configured ``method`` (Spark ML style: a fitted model is a transformer).

        Spark input gets ``output_col``; pandas/numpy input gets the method's numpy output.
        With the default ``method="predict"`` and an estimator that only transforms (a
        scaler, PCA, a preprocessing Pipeline), ``transform`` is the estimator's own, so the
        predictor also works as an intermediate Pipeline step.
        """
        return self._call(self._method(), X)

    def _method(self):
        model = self.estimator_ if hasattr(self, "estimator_") else self.estimator
        only_transforms = not hasattr(model, "predict") and hasattr(model, "transform")
        return "transform" if self.method == "predict" and only_transforms else self.method

    def score(self, X, y, sample_weight=None):
        """The wrapped estimator's ``score`` on pandas/numpy input."""
        return self.fitted_estimator().score(X, y, sample_weight=sample_weight)

    # ----------------------------------------------------------- helpers
    def fitted_estimator(self):
        """The estimator used for scoring: ``estimator_`` after :meth:`fit`, else ``estimator``.

        Raises
        ------
        NotFittedError
            Neither :meth:`fit` was called nor is ``estimator`` fitted.
        """
        if hasattr(self, "estimator_"):
            return self.estimator_
        if isinstance(self.estimator, _PyfuncModel):
            return self.estimator
        try:
            check_is_fitted(self.estimator)
        except Exception as exc:
            raise NotFittedError(
                f"{type(self.estimator).__name__} is not fitted: call "
                f"SparkBatchPredictor.fit first, or wrap an already-fitted estimator."
            ) from exc
        return self.estimator

    def __getattr__(self, name):
        # Mirror the fitted model's learned attributes (classes_, n_features_in_, ...).
        if name.endswith("_") and not name.startswith("__") and name != "estimator_":
            state = self.__dict__
            model = state["estimator_"] if "estimator_" in state else state.get("estimator")
            if hasattr(model, name):
                return getattr(model, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _call(self, method, X):
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
        model = self.fitted_estimator()
        if not hasattr(model, method):
            raise AttributeError(f"{type(model).__name__} has no method {method!r}.")
        if not is_spark_dataframe(X):
            return getattr(model, method)(X)
        if self.output_col in X.columns:
            raise ColumnError(
                f"The DataFrame already has a column {self.output_col!r}; choose another "
                "output_col (nothing is overwritten)."
            )
        columns = _feature_columns(model, X, self.feature_cols, [self.output_col, self.label_col])
        udf = predict_udf(
            model,
            method=method,
            return_type=self.return_type,
            batch_size=self.batch_size,
            feature_names=columns.names,
            spark=get_spark(self.spark),
        )
        return X.withColumn(self.output_col, udf(*columns.exprs))

    def __sklearn_tags__(self):
        from sklearn.utils import TransformerTags

        tags = delegated_tags(super().__sklearn_tags__(), self.estimator)
        if tags.transformer_tags is None:  # transform always exists (Spark ML style)
            tags.transformer_tags = TransformerTags(preserves_dtype=[])
        return tags


class _Columns:
    def __init__(self, exprs, names):
        self.exprs, self.names = exprs, names


def _feature_columns(model, X, feature_cols, exclude):
    """Spark column expressions for the model's features, matched by name where possible."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    kinds = spark_column_kinds(X.schema)
    names_in = getattr(model, "feature_names_in_", None)
    if feature_cols is None and names_in is not None:
        missing = [c for c in names_in if c not in kinds]
        if missing:
            raise ColumnError(
                f"The model was fitted on columns the DataFrame lacks: {missing}. Rename "
                "them, or pass feature_cols=[...] to map columns by position."
            )
        feature_cols = list(names_in)
    features = resolve_columns(
        kinds, feature_cols=feature_cols, exclude=[c for c in exclude if c], allow_vector=True
    )
    n_expected = getattr(model, "n_features_in_", None)
    if len(features) == 1 and kinds[features[0]] == "vector":
        column = features[0]
        is_udt = type(X.schema[column].dataType).__name__ == "VectorUDT"
        expr = vector_to_array(F.col(column)) if is_udt else F.col(column)
        return _Columns(
            [expr.cast("array<double>")], list(names_in) if names_in is not None else None
        )
    if n_expected is not None and len(features) != n_expected:
        raise ColumnError(
            f"The model expects {n_expected} features; got {len(features)} feature columns "
            f"{features}."
        )
    if names_in is not None and set(features) == set(names_in):
        features = list(names_in)  # matched by name: reorder to the fitted order
    return _Columns([F.col(c) for c in features], list(names_in) if names_in is not None else None)


def predict_udf(
    model, method="predict", *, return_type=None, batch_size=None, feature_names=None, spark=None
):
    """Return an Arrow iterator UDF that scores feature columns with ``model``.

    Call it with the feature columns in the model's feature order (scalar columns), or with a
    single array column: ``df.withColumn("p", udf("f0", "f1"))``. It can be registered for
    SQL with ``spark.udf.register("score", udf)``.

    Parameters
    ----------
    model : fitted estimator
    method : str, default="predict"
    return_type : str or DataType, optional
        Default inferred from the model (see :class:`SparkBatchPredictor`).
    batch_size : int, optional
        Rows per model call (input Arrow batches are concatenated up to it). Default 50,000;
        ``0`` calls the model once per Arrow batch.
    feature_names : list of str, optional
        Names given to the columns before the model sees them. Default: the model's
        ``feature_names_in_`` (so models fitted on DataFrames see DataFrames).
    spark : SparkSession, optional

    Returns
    -------
    pyspark UserDefinedFunction

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

    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    if isinstance(model, BaseEstimator) or hasattr(model, "fit"):
        try:
            check_is_fitted(model)
        except Exception as exc:
            raise NotFittedError(
                f"predict_udf needs a fitted model; {type(model).__name__} is not fitted."
            ) from exc
    if not hasattr(model, method):
        raise AttributeError(f"{type(model).__name__} has no method {method!r}.")
    spark = get_spark(spark)
    if feature_names is None:
        names = getattr(model, "feature_names_in_", None)
        feature_names = list(names) if names is not None else None
    out_type = _return_type(model, method, return_type)
    blob = dump_model(model)
    if is_spark_connect(spark):
        source = blob  # no broadcasts on Connect: the bytes ride inside the UDF, once per query
    else:
        source = spark.sparkContext.broadcast(blob)
    if batch_size is None:
        batch_size = DEFAULT_BATCH_SIZE
    body = partial(
        _score_batches,
        source=source,
        digest=model_digest(blob),
        method=method,
        feature_names=feature_names,
        arrow_type=_arrow_type(out_type),
        batch_size=batch_size,
    )
    with warnings.catch_warnings():
        # The UDF takes any number of columns, which type hints cannot say; the type is explicit.
        warnings.filterwarnings("ignore", "It is preferred to specify type hints", UserWarning)
        return arrow_udf(body, out_type, ArrowUDFType.SCALAR_ITER)


class _PyfuncModel:
    """An MLflow pyfunc model seen as an estimator with ``predict`` only."""

    def __init__(self, pyfunc_model):
        self.pyfunc_model = pyfunc_model
        schema = pyfunc_model.metadata.get_input_schema()
        names = schema.input_names() if schema is not None else None
        if names and all(isinstance(n, str) for n in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)
            self.n_features_in_ = len(names)

    def predict(self, X):
        return np.asarray(self.pyfunc_model.predict(X))


# ------------------------------------------------------------------ types
def _return_type(model, method, return_type):
    from pyspark.sql.types import _parse_datatype_string

    if return_type is not None:
        return _parse_datatype_string(return_type) if isinstance(return_type, str) else return_type
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
_CACHE_SIZE = 4
_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()
#: How many times this process deserialized a model (a cache miss); read by the tests.
cache_misses = 0


def _cached_model(source, digest):
    """The model for ``digest``, deserialized once per Python worker process."""
    with _cache_lock:
        if digest in _cache:
            _cache.move_to_end(digest)
            return _cache[digest]
    global cache_misses
    blob = source if isinstance(source, (bytes, bytearray)) else source.value
    model = load_model(blob, what="model")
    with _cache_lock:
        cache_misses += 1
        _cache[digest] = model
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def _score_batches(batches, *, source, digest, method, feature_names, arrow_type, batch_size):
    """arrow_udf body: Arrow feature columns in, one Arrow column out, batch by batch."""
    model = _cached_model(source, digest)
    score = getattr(model, method)
    with limit_task_threads():
        for X in _rebatch(map(_matrix, batches), batch_size):
            if feature_names is not None:
                X = pd.DataFrame(X, columns=feature_names, copy=False)
            yield _to_arrow(score(X), arrow_type)


def _rebatch(matrices, batch_size):
    if not batch_size:
        yield from matrices
        return
    pending, size = [], 0
    for matrix in matrices:
        pending.append(matrix)
        size += len(matrix)
        if size >= batch_size:
            yield np.concatenate(pending) if len(pending) > 1 else pending[0]
            pending, size = [], 0
    if pending:
        yield np.concatenate(pending) if len(pending) > 1 else pending[0]


def _matrix(arrays):
    """Arrow feature columns (or one list column) -> a 2-D float64 numpy array."""
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
    return np.column_stack(
        [a.to_numpy(zero_copy_only=False).astype(np.float64, copy=False) for a in arrays]
    )


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
