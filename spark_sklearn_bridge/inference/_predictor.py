"""SparkBatchPredictor: score pandas or Spark (batch or streaming) data with one local model."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, TransformerMixin, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .._base import (
    SPARK_CONSTRAINT,
    SparkEstimatorMixin,
    delegated_tags,
    estimator_has,
    prediction_method,
)
from .._compat import HasMethods, Interval, StrOptions, fit_context
from .._inputs import (
    NUMERIC,
    VECTOR,
    check_feature_types,
    check_string_features,
    collect_features,
    column,
    is_spark_dataframe,
    resolve_columns,
    spark_column_kinds,
)
from .._linear import linear_form, plain_numbers
from .._linear import linear_prediction as _linear_prediction
from .._model_input import (
    FeatureColumns,
    check_vector_size,
    is_vector_type,
)
from .._session import get_spark
from ..exceptions import ColumnError, NotFittedError
from ._udf import METHODS, predict_udf

__all__ = ["SparkBatchPredictor"]

#: Linear regressors' ``predict`` is computed in Spark SQL (:mod:`.._linear`); tests turn it
#: off to run the same models through the Python UDF.
LINEAR_IN_SQL = True

_DATA = (
    "pyspark.sql.DataFrame, pandas.DataFrame or array-like\n    Data with the model's features."
)


class SparkBatchPredictor(
    SparkEstimatorMixin, MetaEstimatorMixin, TransformerMixin, BaseEstimator
):
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
    feature_cols : str or list of str, optional
        Feature columns: scalar columns, or ONE array / ``pyspark.ml`` Vector column.
        A single name (a string) passes that column 1-D, as ``ColumnTransformer`` does: the
        texts a ``TfidfVectorizer`` pipeline expects (``feature_cols="text"``). Default: the
        model's ``feature_names_in_`` when it has them (columns are matched by name), else
        every numeric column but ``output_col`` and ``label_col``. A model fitted on a
        DataFrame (e.g. a Pipeline that one-hot encodes strings) gets its columns with their
        own types: strings, booleans, dates and nulls reach it as in ``toPandas``. A Vector
        column reaches the model as a matrix, a CSR matrix when its vectors are sparse (never
        densified); its recorded size must be the model's ``n_features_in_``. Which Spark
        type reaches the model as what: the user guide's inference page.
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
        Default: :func:`get_spark`. Shared (never copied) by ``clone``; left out of pickles.

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

    See Also
    --------
    predict_udf : the bare UDF, for ``withColumn`` / ``select`` / SQL.
    GroupedEstimator : scores each row with its own group's model.

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

    _parameter_constraints = {
        "estimator": [HasMethods(["predict"]), HasMethods(["transform"])],
        "method": [StrOptions(set(METHODS))],
        "feature_cols": [None, str, list, tuple],
        "output_col": [str],
        "batch_size": [None, Interval(Integral, 0, None, closed="left")],
        "label_col": [None, str],
        "return_type": [None, str, HasMethods(["simpleString"])],
        "spark": SPARK_CONSTRAINT,
    }

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

        Parameters
        ----------
        model_uri : str
            An MLflow model URI.
        **kwargs
            Other parameters of :class:`SparkBatchPredictor`.

        Returns
        -------
        SparkBatchPredictor
            A predictor wrapping the loaded model.
        """
        from .._mlflow import load_model

        model, is_sklearn = load_model(model_uri)
        return cls(model if is_sklearn else _PyfuncModel(model), **kwargs)

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **fit_params):
        """Fit a clone of ``estimator`` locally (Spark input is collected to the driver).

        Parameters
        ----------
        X : pyspark.sql.DataFrame, pandas.DataFrame or array-like
            Training data; for Spark, ``feature_cols`` / ``label_col`` select its columns
            (default features: every column but the label and ``output_col``).
        y : array-like, optional
            Labels for local input.
        **fit_params
            Passed to the estimator's ``fit``.

        Returns
        -------
        self : SparkBatchPredictor
            The fitted predictor.
        """
        X, y = collect_features(
            X,
            y,
            feature_cols=self.feature_cols,
            label_col=self.label_col,
            exclude=[self.output_col],
            what="The training data",
        )
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        return self

    # ------------------------------------------------------------ methods
    predict = prediction_method(
        "predict",
        "Predict with the wrapped estimator.",
        data=_DATA,
        returns="ndarray or pyspark.sql.DataFrame\n    numpy for local input; ``X`` plus "
        "``output_col`` for Spark input.",
        check=estimator_has("predict"),
    )
    predict_proba = prediction_method(
        "predict_proba",
        "Class probabilities, in ``classes_`` order.",
        data=_DATA,
        returns="ndarray or pyspark.sql.DataFrame\n    numpy for local input; ``X`` plus an "
        "array<double> ``output_col`` for Spark.",
        check=estimator_has("predict_proba"),
    )
    predict_log_proba = prediction_method(
        "predict_log_proba",
        "Log class probabilities, in ``classes_`` order.",
        data=_DATA,
        returns="ndarray or pyspark.sql.DataFrame\n    numpy for local input; ``X`` plus an "
        "array<double> ``output_col`` for Spark.",
        check=estimator_has("predict_log_proba"),
    )
    decision_function = prediction_method(
        "decision_function",
        "Decision function of the wrapped estimator.",
        data=_DATA,
        returns="ndarray or pyspark.sql.DataFrame\n    numpy for local input; ``X`` plus "
        "``output_col`` (double for binary,\n    array<double> for multi-class) for Spark.",
        check=estimator_has("decision_function"),
    )

    def transform(self, X):
        """Apply the configured ``method`` (Spark ML style: a fitted model is a transformer).

        With the default ``method="predict"`` and an estimator that only transforms (a
        scaler, PCA, a preprocessing Pipeline), ``transform`` is the estimator's own, so the
        predictor also works as an intermediate Pipeline step.

        Parameters
        ----------
        X : pyspark.sql.DataFrame, pandas.DataFrame or array-like
            Data with the model's features.

        Returns
        -------
        ndarray or pyspark.sql.DataFrame
            The method's numpy output for local input; ``X`` plus ``output_col`` for Spark.
        """
        return self._apply(self._method(), X)

    def _method(self):
        model = self.__dict__.get("estimator_", self.estimator)
        only_transforms = not hasattr(model, "predict") and hasattr(model, "transform")
        return "transform" if self.method == "predict" and only_transforms else self.method

    @available_if(estimator_has("score"))
    def score(self, X, y, sample_weight=None):
        """Delegate to the fitted estimator's own ``score`` (whatever its type defines).

        Parameters
        ----------
        X : pandas.DataFrame or array-like
            Local data the estimator's ``score`` accepts.
        y : array-like
            Targets, as that ``score`` expects them.
        sample_weight : array-like, optional
            Passed on unchanged.

        Returns
        -------
        float
            The wrapped estimator's ``score(X, y, sample_weight=...)``.
        """
        if is_spark_dataframe(X):
            raise TypeError("score takes pandas/numpy input; score Spark output with pyspark.")
        return self.fitted_estimator().score(X, y, sample_weight=sample_weight)

    # ----------------------------------------------------------- helpers
    def fitted_estimator(self):
        """The estimator used for scoring: ``estimator_`` after :meth:`fit`, else ``estimator``.

        Returns
        -------
        estimator
            A fitted estimator.

        Raises
        ------
        NotFittedError
            Neither :meth:`fit` was called nor is ``estimator`` fitted.
        """
        if "estimator_" in self.__dict__:
            return self.estimator_
        if not self._wraps_fitted():
            raise NotFittedError(
                f"{type(self.estimator).__name__} is not fitted: call "
                f"SparkBatchPredictor.fit first, or wrap an already-fitted estimator."
            )
        return self.estimator

    def _wraps_fitted(self) -> bool:
        if isinstance(self.estimator, _PyfuncModel):
            return True
        try:
            check_is_fitted(self.estimator)
        except Exception:
            return False
        return True

    def __sklearn_is_fitted__(self):
        return "estimator_" in self.__dict__ or self._wraps_fitted()

    def __getattr__(self, name):
        # Mirror the fitted model's learned attributes (classes_, n_features_in_, ...).
        if name.endswith("_") and not name.startswith("__") and name != "estimator_":
            state = self.__dict__
            model = state["estimator_"] if "estimator_" in state else state.get("estimator")
            if hasattr(model, name):
                return getattr(model, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _apply(self, method, X):
        self._validate_params()
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
        if LINEAR_IN_SQL and method == "predict" and self.return_type is None and columns.numeric:
            intercept, coef = linear_form(model)
            if coef is not None:  # X @ coef + intercept: computed in the JVM, no Python
                return X.withColumn(
                    self.output_col, _linear_column(model, columns, intercept, coef)
                )
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
    """Feature expressions for the UDF and the names the model sees; ``numeric`` when they
    are scalar columns of Spark's numeric types (booleans and decimals aside), by name in
    ``labels``."""

    def __init__(self, exprs, names, numeric=False, labels=()):
        self.exprs, self.names, self.numeric, self.labels = exprs, names, numeric, labels


def _linear_column(model, columns, intercept, coef):
    """``X @ coef + intercept`` as a Spark column (:mod:`.._linear`): the same products and
    sum as the model's ``predict``, and the same refusal of null, NaN and infinite features."""
    from pyspark.sql import functions as F

    name = type(model).__name__
    return _linear_prediction(
        list(zip(columns.labels, columns.exprs)),
        [F.lit(w) for w in coef],
        F.lit(intercept),
        refusal=f"{name}.predict refuses such input, as scikit-learn does. Impute or drop "
        "those rows first.",
    )


def _feature_columns(model, X, feature_cols, exclude):
    """Spark column expressions for the model's features, matched by name where possible,
    and the names the UDF gives them (a string: one column, passed 1-D)."""
    kinds = spark_column_kinds(X.schema)
    names_in = getattr(model, "feature_names_in_", None)
    requested = FeatureColumns.of(feature_cols)
    if requested is None and names_in is not None:
        missing = [c for c in names_in if c not in kinds]
        if missing:
            raise ColumnError(
                f"The model was fitted on columns the DataFrame lacks: {missing}. Rename "
                "them, or pass feature_cols=[...] to map columns by position."
            )
        requested = FeatureColumns(list(names_in))
    named = names_in is not None
    features = resolve_columns(
        kinds,
        feature_cols=None if requested is None else requested.names,
        exclude=[c for c in exclude if c],
        allow_vector=True,
        allow_other=True,  # the model decides; a numbers-only model is refused below
    )
    one_column = requested is not None and requested.one_column
    n_expected = getattr(model, "n_features_in_", None)
    if len(features) == 1 and kinds[features[0]] == VECTOR:
        field = X.schema[features[0]]
        if is_vector_type(field.dataType):
            check_vector_size(field, n_expected)
        names = list(names_in) if named else None
        return _Columns([column(features[0])], names)
    if one_column:
        check_feature_types(model, X, kinds, features, one_column=True)
        return _Columns([column(features[0])], features[0])
    if n_expected is not None and len(features) != n_expected:
        raise ColumnError(
            f"The model expects {n_expected} features; got {len(features)} feature columns "
            f"{features}."
        )
    if named and set(features) == set(names_in):
        features = list(names_in)  # matched by name: reorder to the fitted order
    check_string_features(model, kinds, features)
    if named:
        names = list(names_in)
    elif any(kinds[c] != NUMERIC for c in features):
        names = list(features)  # a DataFrame of the columns' own types, by their names
    else:
        names = None
    numeric = plain_numbers(X.schema, features)
    return _Columns([column(c) for c in features], names, numeric, labels=list(features))


class _PyfuncModel:
    """An MLflow pyfunc model seen as an estimator with ``predict`` only. It checks its
    signature, so the UDF gives it the feature columns with their own types."""

    takes_typed_frames = True

    def __init__(self, pyfunc_model):
        self.pyfunc_model = pyfunc_model
        schema = pyfunc_model.metadata.get_input_schema()
        names = schema.input_names() if schema is not None else None
        if names and all(isinstance(n, str) for n in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)
            self.n_features_in_ = len(names)

    def predict(self, X):
        return np.asarray(self.pyfunc_model.predict(X))
