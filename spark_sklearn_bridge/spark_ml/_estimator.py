"""SparkMLEstimator: train the pyspark.ml counterpart of a scikit-learn estimator."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline

from .._base import (
    SPARK_CONSTRAINT,
    ScoreByTypeMixin,
    SparkEstimatorMixin,
    check_fitted,
    delegated_tags,
    prediction_method,
    python_scalar,
)
from .._compat import HasMethods, fit_context
from .._frames import spark_frame_with_row_id
from .._inputs import (
    check_not_empty,
    check_y_none,
    column,
    count_invalid,
    is_spark_dataframe,
    n_rows,
    resolve_columns,
    spark_column_kinds,
    to_pandas,
)
from .._persistence import SavedModelMixin, spark_uri
from .._reserved import FEATURES, LABEL, ROW_ID, ROWS
from .._serialization import dump_model, load_model, refuse_pickles
from .._session import get_spark
from ..exceptions import ColumnError, UnsupportedEstimatorError
from ._compose import apply_preprocessing, assemble, fit_preprocessing, takes_any_type
from ._connect_ml import connect_ml_limits
from ._preprocessing import NUMERIC, raw_col
from ._registry import (
    REGISTRY,
    FitInfo,
    check_depth_cap,
    label_index,
    pipeline_steps,
    split_steps,
    step_kind,
)

__all__ = ["SparkMLEstimator"]

#: Helper column names: the model's inputs (one per feature) and, on Spark output, the
#: user's own columns packed in one struct.

_DATA = (
    "pyspark.sql.DataFrame, pandas.DataFrame or array-like\n"
    "    Data with the feature columns the model was fitted on."
)
#: scikit-learn types a fitted ColumnTransformer holds that skops does not trust by default:
#: scikit-learn 1.5-1.6 keep the remainder's columns in this list type (no code runs to load it).
_SKLEARN_TYPES = ("sklearn.compose._column_transformer._RemainderColsList",)
#: Learned attributes mirrored from the exported last step, under scikit-learn's names.
_MIRRORED = (
    "coef_",
    "intercept_",
    "cluster_centers_",
    "components_",
    "mean_",
    "scale_",
    "var_",
    "min_",
    "data_min_",
    "data_max_",
    "data_range_",
    "explained_variance_ratio_",
)


def _last_step_has(name):
    def check(self):
        return hasattr(pipeline_steps(self.estimator)[-1], name)

    return check


def _last_step_kind(*kinds):
    def check(self):
        return step_kind(pipeline_steps(self.estimator)[-1]) in kinds

    return check


class SparkMLEstimator(SparkEstimatorMixin, SavedModelMixin, ScoreByTypeMixin, BaseEstimator):
    """Train the pyspark.ml counterpart of a scikit-learn estimator, with its semantics.

    Parameters
    ----------
    estimator : estimator or Pipeline
        One of :func:`supported_estimators`, or a Pipeline ending in one: preprocessing first
        (ColumnTransformer, OneHotEncoder, OrdinalEncoder, SimpleImputer, the scalers,
        Binarizer, PolynomialFeatures, KBinsDiscretizer, and Pipelines of them), then PCA or
        scalers on the feature vector, then the model. Parameters are translated so the
        Spark model agrees with scikit-learn; a parameter value Spark cannot honour raises
        :class:`UnsupportedEstimatorError` naming it.
    feature_cols : list of str, optional
        Feature columns. Default: every column but ``label_col`` when the first step takes
        any type (a ColumnTransformer, an encoder or an imputer), else every numeric one.
    label_col : str, default="label"
        Label column of a Spark DataFrame (pandas input passes ``y`` to ``fit``).
    prediction_col : str, default="prediction"
        Output column on Spark input (``predict``, ``transform``; ``predict_proba`` writes
        ``probability`` as array<double>).
    spark : SparkSession, optional
        Default: :func:`get_spark`. Shared (never copied) by ``clone``; left out of pickles.

    Attributes
    ----------
    spark_model_ : pyspark.ml.PipelineModel
        The fitted Spark model (VectorAssembler, translated stages).
    coef_, intercept_, classes_, feature_importances_, cluster_centers_, components_, \
mean_, scale_, var_, min_, data_min_, data_max_, data_range_, explained_variance_ratio_ :
        Mirrored from the Spark model with scikit-learn's names and shapes, where the last
        (or only) step has them.
    n_features_in_ : int
        Number of feature columns.
    feature_names_in_ : ndarray of str
        The feature columns.

    See Also
    --------
    GroupedEstimator : one scikit-learn model per group instead of one model on all rows.
    SparkBatchPredictor : score Spark data with a model fitted by scikit-learn.

    Notes
    -----
    Where it makes sense in a scikit-learn ``Pipeline``: as the last step, or alone, on a Spark
    DataFrame, or on pandas data as a drop-in (each ``fit``/``predict`` ships the data to Spark
    and back, so local data gains nothing but parity checks). Where it does not: as an
    intermediate scikit-learn step on big data (scikit-learn steps before it run on the driver
    and need the data there); put the preprocessing inside ``estimator`` (a
    ColumnTransformer, encoders, imputers, scalers, PCA) so it runs on Spark too: fitted
    from exact Spark aggregates with scikit-learn's semantics, exported by
    :meth:`to_sklearn`.

    Agreement with scikit-learn: linear models, scalers and PCA to floating-point / solver
    tolerance; logistic regression and LinearSVC predictions (coefficients within a few
    percent; ``max_iter`` and ``tol`` are translated, so a fit that scikit-learn stops early
    stops early on Spark too); trees and ensembles within a stated margin (Spark bins
    features, draws its own bootstrap samples, and its gradient boosting weights the first
    tree fully); KMeans by cluster agreement (k-means|| initialisation).

    Methods exist when the last step has them in scikit-learn: ``predict`` for models,
    ``predict_proba`` for probabilistic classifiers, ``transform`` for transformers, and
    ``score`` (accuracy, R^2) for classifiers and regressors.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from spark_sklearn_bridge import SparkMLEstimator
    >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
    >>> spark_ridge = SparkMLEstimator(Ridge(alpha=1.0)).fit(X, y)
    >>> bool(np.allclose(spark_ridge.coef_, Ridge(alpha=1.0).fit(X, y).coef_, rtol=1e-6))
    True
    """

    _save_kind = "SparkMLEstimator"
    _artifact_path = "spark_ml_estimator"
    _parameter_constraints = {
        "estimator": [HasMethods(["fit"])],
        "feature_cols": [None, str, list, tuple],
        "label_col": [str],
        "prediction_col": [str],
        "spark": SPARK_CONSTRAINT,
    }

    def __init__(
        self,
        estimator,
        *,
        feature_cols=None,
        label_col="label",
        prediction_col="prediction",
        spark=None,
    ):
        self.estimator = estimator
        self.feature_cols = feature_cols
        self.label_col = label_col
        self.prediction_col = prediction_col
        self.spark = spark

    # ---------------------------------------------------------------- fit
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the translated pyspark.ml pipeline on the executors.

        Parameters
        ----------
        X : pyspark.sql.DataFrame, pandas.DataFrame or array-like
            Spark input: ``feature_cols`` and ``label_col`` name its columns. Local input is
            sent to Spark (columns ``x0, x1, ...`` for arrays).
        y : array-like, optional
            Labels for local input (omit for clusterers and transformers).

        Returns
        -------
        self : SparkMLEstimator
            The fitted estimator.
        """
        from pyspark.ml import Pipeline as SparkPipeline
        from pyspark.sql import functions as F

        prefix, rest = split_steps(self.estimator)  # unsupported steps fail before any job
        kind = step_kind(rest[-1][1]) if rest else "transformer"
        spark = get_spark(self.spark)
        data, label = self._as_spark(spark, X, y, kind, keep_frame=bool(prefix))
        # Column names are checked on the user's frame; a local frame is ours (helper columns).
        kinds = spark_column_kinds(data.schema, check_names=is_spark_dataframe(X))
        features = resolve_columns(
            kinds,
            feature_cols=self._feature_setting(X),
            label_col=label,
            exclude=[ROW_ID],
            allow_other=bool(prefix),
            # Every column by default where the first step takes any type (a
            # ColumnTransformer selects its own; encoders and imputers take strings).
            default_any_type=bool(prefix) and takes_any_type(prefix[0][1]),
        )
        raw = [raw_col(c, data.schema[c].dataType) for c in features]
        # One pass over the data for the label's statistics, the columns' bad values and the
        # first round of the preprocessing's statistics (one more pass per further round).
        stats_exprs = {}
        if label is not None:
            stats_exprs["null_labels"] = F.sum(column(label).isNull().cast("long"))
        if label is not None and kind == "classifier":
            stats_exprs["labels"] = F.collect_set(column(label))
        elif label is not None:
            stats_exprs["invalid_labels"] = count_invalid(column(label))
            stats_exprs["y_std"] = F.stddev_pop(column(label))
        stats = {}

        def check_first_pass(values, ctx):
            stats.update(zip(stats_exprs, values), n=ctx.n)
            check_not_empty(ctx.n, "The training data")
            _check_label(stats, label)

        named = is_spark_dataframe(X) or "feature_names_in_" in self.__dict__
        fitted_prefix, model_inputs, ctx = fit_preprocessing(
            data,
            Pipeline(prefix) if prefix else None,
            raw,
            list(stats_exprs.values()),
            named=named,
            on_first_pass=check_first_pass,
        )
        _check_model_inputs(model_inputs, ctx)
        classes = np.array(sorted(stats["labels"])) if kind == "classifier" else None
        # Spark ML reads columns by unquoted name and writes its own (prediction,
        # probability, ...): it sees only helper columns, so any user name works.
        columns, stages = assemble(model_inputs, FEATURES)
        if classes is not None:
            columns.append(label_index(column(label), classes).alias(LABEL))
        elif label is not None:
            columns.append(column(label).cast("double").alias(LABEL))
        data = data.select(*columns)
        fit_info = FitInfo(
            n=ctx.n,
            y_std=float(stats.get("y_std") or 0.0) if kind == "regressor" else 1.0,
            n_classes=len(classes) if classes is not None else 0,
            n_features=len(model_inputs),
        )
        groups = []
        for index, (_, step) in enumerate(rest):
            fit_info.out = f"{FEATURES}{index}"
            translated = REGISTRY[type(step)].translate(step, fit_info)
            translated = translated if isinstance(translated, list) else [translated]
            groups.append(list(range(len(stages), len(stages) + len(translated))))
            stages.extend(translated)
            if REGISTRY[type(step)].kind == "transformer":
                fit_info.col = fit_info.out
        model_step = rest[-1][1] if rest else prefix[-1][1]
        with connect_ml_limits(model_step, spark):
            spark_model = SparkPipeline(stages=stages).fit(data)
            if rest:
                check_depth_cap(rest[-1][1], spark_model.stages[-1])
            self._set_fitted(
                spark_model,
                features=features,
                classes=classes,
                kind=kind,
                stage_groups=groups,
                output_col=fit_info.col,
                named_input=named,
                prefix=fitted_prefix,
                raw_kinds={c.name: [c.kind, c.dtype] for c in raw},
                n_model_inputs=len(model_inputs),
            )
        return self

    def _set_fitted(
        self,
        spark_model,
        *,
        features,
        classes,
        kind,
        stage_groups,
        output_col,
        named_input,
        prefix=None,
        raw_kinds=None,
        n_model_inputs=None,
    ):
        self.spark_model_ = spark_model
        self._stage_groups = stage_groups
        self._output_col = output_col
        self._kind = kind
        self._named_input = named_input
        self._features = list(features)  # the Spark columns the pipeline reads
        self._prefix = prefix  # fitted preprocessing (a scikit-learn Pipeline) or None
        self._raw_kinds = raw_kinds or {c: [NUMERIC, "float64"] for c in features}
        self._n_model_inputs = len(features) if n_model_inputs is None else n_model_inputs
        self.n_features_in_ = len(features)
        if named_input:
            self.feature_names_in_ = np.asarray(features, dtype=object)
        else:  # as scikit-learn: no names for arrays
            self.__dict__.pop("feature_names_in_", None)
        if classes is not None:
            self.classes_ = classes
        self._mirror()

    def _feature_setting(self, X):
        if is_spark_dataframe(X) or self.feature_cols is not None:
            return self.feature_cols
        return None

    def _as_spark(self, spark, X, y, kind, keep_frame=False):
        """Spark input as is; local input validated as scikit-learn validates it, then sent.

        ``keep_frame``: the preprocessing takes any column type (strings for encoders), so
        a pandas DataFrame is sent with its own dtypes, as a ColumnTransformer would see it.
        """
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import check_array, check_consistent_length, validate_data

        supervised = kind in ("regressor", "classifier")
        if is_spark_dataframe(X):
            check_y_none(X, y)
            return X, (self.label_col if supervised else None)
        check_not_empty(n_rows(X), "The training data")
        if not keep_frame:
            if not supervised:
                frame = self._local_frame(validate_data(self, X, reset=True))
                return spark_frame_with_row_id(spark, frame), None
            X, y = validate_data(self, X, y, reset=True, y_numeric=kind == "regressor")
            frame = self._local_frame(X)
        else:
            if isinstance(X, pd.DataFrame):
                validate_data(self, X, reset=True, skip_check_array=True)
                frame = X.reset_index(drop=True)
            else:
                X = validate_data(self, X, reset=True, dtype=None, ensure_all_finite=False)
                frame = self._local_frame(X)
            if not supervised:
                return spark_frame_with_row_id(spark, frame), None
            y = check_array(
                y,
                ensure_2d=False,
                dtype="numeric" if kind == "regressor" else None,
                input_name="y",
            )
            check_consistent_length(frame, y)
        if kind == "classifier":
            check_classification_targets(y)
        frame = frame.assign(**{LABEL + "_in": y})
        return spark_frame_with_row_id(spark, frame), LABEL + "_in"

    def _local_frame(self, X) -> pd.DataFrame:
        """A validated array as the columns Spark sees: the fitted names, else x0, x1, ..."""
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{i}" for i in range(X.shape[1])]
        return pd.DataFrame(X, columns=[str(c) for c in names])

    def _mirror(self):
        """Copy the Spark model's learned values onto scikit-learn attribute names."""
        if self._stage_groups:
            exported = self._export(len(self._stage_groups) - 1)
        else:  # preprocessing only: its last fitted step
            exported = self._prefix.steps[-1][1]
        if exported is None:
            model = self.spark_model_.stages[-1]
            if hasattr(model, "featureImportances"):
                self.feature_importances_ = model.featureImportances.toArray()
            return
        for name in _MIRRORED:
            if hasattr(exported, name):
                setattr(self, name, getattr(exported, name))

    # ------------------------------------------------------------- export
    def to_sklearn(self):
        """A fitted scikit-learn estimator whose predictions equal the Spark model's.

        Exact for linear models, scalers, PCA and KMeans. Trees and ensembles have no
        faithful export (Spark bins features and stores splits differently).

        Returns
        -------
        estimator : estimator or Pipeline
            A fitted clone of ``estimator``.

        Raises
        ------
        UnsupportedEstimatorError
            The model has no faithful scikit-learn export.
        """
        self._check_fitted()
        _, rest = split_steps(self.estimator)
        exported = [copy.deepcopy(s) for _, s in self._prefix.steps] if self._prefix else []
        for index, (_, step) in enumerate(rest):
            model = self._export(index)
            if model is None:
                raise UnsupportedEstimatorError(
                    f"{type(step).__name__} trained by pyspark.ml has no faithful scikit-learn "
                    "export (Spark's trees split on binned thresholds); use predict on the "
                    "SparkMLEstimator, or save/load it."
                )
            exported.append(model)
        if isinstance(self.estimator, Pipeline):
            names = [n for n, s in self.estimator.steps if s not in (None, "passthrough")]
            return Pipeline(list(zip(names, exported)))
        return exported[0]

    def _export(self, index):
        """The ``index``-th step after the preprocessing, exported (None: no export)."""
        step = split_steps(self.estimator)[1][index][1]
        export = REGISTRY[type(step)].export
        if export is None:
            return None
        stages = [self.spark_model_.stages[i] for i in self._stage_groups[index]]
        est = clone(step)
        export(est, stages, getattr(self, "classes_", None))
        if index == 0:
            est.n_features_in_ = self._n_model_inputs
            if self._named_input and self._prefix is None:  # the export checks names too
                est.feature_names_in_ = self.feature_names_in_
        return est

    # ------------------------------------------------------------- predict
    predict = prediction_method(
        "predict",
        "Predict with the Spark model.",
        data=_DATA,
        returns="ndarray or pyspark.sql.DataFrame\n    Local input: a numpy array in input row "
        "order. Spark input: ``X`` plus\n    ``prediction_col`` (lazy).",
        check=_last_step_has("predict"),
    )
    predict_proba = prediction_method(
        "predict_proba",
        "Class probabilities, columns in :attr:`classes_` order.",
        data=_DATA,
        returns="ndarray or pyspark.sql.DataFrame\n    Local input: an array of shape "
        "(n_samples, n_classes). Spark input: ``X``\n    plus an array<double> "
        "``probability`` column.",
        check=_last_step_has("predict_proba"),
    )
    transform = prediction_method(
        "transform",
        "Transformed features (scalers, PCA).",
        data=_DATA,
        returns="ndarray or pyspark.sql.DataFrame\n    Local input: a 2-D array. Spark input: "
        "``X`` plus an array<double>\n    ``prediction_col``.",
        check=_last_step_kind("transformer"),
    )

    def _apply(self, method, X):
        with connect_ml_limits(pipeline_steps(self.estimator)[-1], get_spark(self.spark)):
            return self._scored(method, X)

    def _scored(self, method, X):
        from pyspark.ml.functions import vector_to_array
        from pyspark.sql import functions as F

        what = {"predict_proba": "probability", "transform": "transform"}.get(method, "prediction")
        self._check_fitted()
        spark = get_spark(self.spark)
        local = not is_spark_dataframe(X)
        if local:
            from sklearn.utils.validation import validate_data

            if isinstance(X, pd.DataFrame) and set(self._features) <= set(X.columns):
                X = X[self._features]  # a wider frame: its feature columns, by name
            if self._prefix is not None and isinstance(X, pd.DataFrame):
                validate_data(self, X, reset=False, skip_check_array=True)
                frame = X.set_axis(self._features, axis=1).reset_index(drop=True)
            else:
                options = {} if self._prefix is None else dict(dtype=None, ensure_all_finite=False)
                X = validate_data(self, X, reset=False, **options)
                frame = pd.DataFrame(X, columns=self._features)
            data = spark_frame_with_row_id(spark, frame)
        else:
            data = X
        if not local:
            spark_column_kinds(data.schema)  # duplicate / reserved names
            if self.prediction_col in data.columns:
                raise ColumnError(
                    f"The DataFrame already has a column {self.prediction_col!r}; choose "
                    "another prediction_col (nothing is overwritten)."
                )
        missing = [c for c in self._features if c not in data.columns]
        if missing:
            raise ColumnError(
                f"The data lacks feature columns the model was fitted on: {missing}."
            )
        # The user's columns travel in one struct beside the helper columns Spark ML reads.
        packed = data.select(
            F.struct(*[column(c) for c in data.columns]).alias(ROWS),
            *assemble(self._model_inputs(data), FEATURES)[0],
        )
        out = self.spark_model_.transform(packed)
        if what == "transform":
            output = vector_to_array(F.col(self._output_col))
        elif what == "probability":
            output = vector_to_array(F.col("probability"))
        elif self._kind == "classifier":
            labels = F.array(*[F.lit(python_scalar(c)) for c in self.classes_])
            output = labels[F.col("prediction").cast("int")]
        elif self._kind == "clusterer":
            output = F.col("prediction").cast("long")
        else:
            output = F.col("prediction")
        name = self.prediction_col if what != "probability" else "probability"
        result = out.select(F.col(f"{ROWS}.*"), output.alias(name))
        if not local:
            return result
        rows = to_pandas(result.select(ROW_ID, name)).sort_values(ROW_ID)
        values = rows[name].to_list()
        return np.vstack(values) if what in ("transform", "probability") else np.asarray(values)

    def _model_inputs(self, data) -> list:
        """The model's input columns over ``data``: the fitted preprocessing applied to the
        feature columns, which must have the kinds (numeric, string) they had in fit."""
        raw = [raw_col(c, data.schema[c].dataType) for c in self._features]
        for col in raw:
            fitted_kind = self._raw_kinds[col.name][0]
            if col.kind != fitted_kind:
                raise ColumnError(
                    f"Column {col.name!r} is {col.kind} here but was {fitted_kind} when the "
                    "model was fitted."
                )
        return raw if self._prefix is None else apply_preprocessing(self._prefix, raw)

    def _check_fitted(self):
        check_fitted(self, "spark_model_")

    def __getstate__(self):
        if "spark_model_" in self.__dict__:
            raise TypeError(
                "A fitted SparkMLEstimator holds its pyspark.ml model in the Spark JVM, which "
                "cannot be pickled. Use save() / load(), or to_sklearn() for a scikit-learn "
                "copy where one exists."
            )
        return super().__getstate__()

    def __sklearn_is_fitted__(self):
        return hasattr(self, "spark_model_")

    # --------------------------------------------------------- persistence
    def _save(self, directory, path, serializer):
        # pyspark.ml's own writer, through Spark's file system, into the same directory.
        self.spark_model_.write().save(spark_uri(path) + "/spark_model")
        params = {**self.get_params(deep=False), "spark": None}
        classes = getattr(self, "classes_", None)
        prefix = self._prefix
        directory.write_json(
            "metadata.json",
            {
                "params": dump_model(params, serializer).hex(),
                "features": self._features,
                "classes": None if classes is None else dump_model(classes, serializer).hex(),
                "kind": self._kind,
                "stage_groups": self._stage_groups,
                "output_col": self._output_col,
                "named_input": self._named_input,
                "prefix": None if prefix is None else dump_model(prefix, serializer).hex(),
                "raw_kinds": self._raw_kinds,
                "n_model_inputs": self._n_model_inputs,
            },
        )

    @classmethod
    def _load(cls, files, path, spark, trusted, allow_pickle):
        from pyspark.ml import PipelineModel

        metadata = json.loads(files["metadata.json"])
        params_blob = bytes.fromhex(metadata["params"])
        classes = metadata["classes"]
        prefix = metadata.get("prefix")
        prefix = bytes.fromhex(prefix) if prefix else None
        if not allow_pickle:
            refuse_pickles(
                {
                    "parameters (metadata.json)": params_blob,
                    "classes (metadata.json)": bytes.fromhex(classes) if classes else None,
                    "preprocessing (metadata.json)": prefix,
                }
            )
        params = load_model(params_blob, what="saved parameters", trusted=trusted)
        model = cls(**{**params, "spark": spark})
        with connect_ml_limits(pipeline_steps(model.estimator)[-1], get_spark(spark)):
            spark_model = PipelineModel.load(spark_uri(path) + "/spark_model")
        model._set_fitted(
            spark_model,
            features=metadata["features"],
            classes=(
                load_model(bytes.fromhex(classes), what="classes", trusted=trusted)
                if classes
                else None
            ),
            kind=metadata["kind"],
            stage_groups=metadata["stage_groups"],
            output_col=metadata["output_col"],
            named_input=metadata["named_input"],
            prefix=(
                load_model(
                    prefix, what="preprocessing", trusted=[*(trusted or []), *_SKLEARN_TYPES]
                )
                if prefix
                else None
            ),
            raw_kinds=metadata.get("raw_kinds"),
            n_model_inputs=metadata.get("n_model_inputs"),
        )
        return model

    def __sklearn_tags__(self):
        tags = delegated_tags(super().__sklearn_tags__(), self.estimator, input_tags=False)
        # Every pyspark.ml model fits one label column, whatever the wrapped estimator can do.
        tags.target_tags = dataclasses.replace(tags.target_tags, multi_output=False)
        return tags


def _check_label(stats, label) -> None:
    """Refuse missing labels (and, for a regressor, NaN or infinite ones), naming the column,
    instead of a Spark ML error from the middle of the fit."""
    if label is None:
        return
    bad = stats.get("invalid_labels", stats["null_labels"])
    if bad:
        raise ValueError(
            f"Input y: label column {label!r} has {bad} null"
            + (", NaN or infinite" if "invalid_labels" in stats else "")
            + " values; drop those rows first."
        )


def _check_model_inputs(model_inputs, ctx) -> None:
    """Refuse what scikit-learn's model would refuse (text, NaN, infinities), naming the
    column, before the model's Spark job."""
    for col in model_inputs:
        if col.kind != NUMERIC:
            raise ColumnError(
                f"Column {col.name!r} ({col.kind}) would reach the model unencoded. Encode it "
                "(OneHotEncoder or OrdinalEncoder in a ColumnTransformer), or leave it out of "
                "feature_cols."
            )
        bad = ctx.n_bad(col)
        if bad:
            raise ValueError(
                f"Input X: feature column {col.name!r} has {bad} null, NaN or infinite "
                "values; scikit-learn refuses them too. Impute or drop them first (e.g. "
                "df.na.drop(subset=[...]), or a SimpleImputer in the estimator's Pipeline)."
            )
