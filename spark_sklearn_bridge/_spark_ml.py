"""SparkMLEstimator: train the pyspark.ml counterpart of a scikit-learn estimator.

Each supported scikit-learn class has a translator (the registry ``_TRANSLATORS``) that builds
the pyspark.ml stage(s) with parameters chosen so the fitted model agrees with scikit-learn,
an extractor that mirrors the fitted attributes under scikit-learn's names, and (where a
faithful one exists) an exporter to a fitted scikit-learn estimator. The traps it encodes:

- Spark scales the L2 penalty of linear regression by the label's population std and divides
  every penalty by n: Ridge(alpha) is regParam = alpha / n * std(y) (FINDINGS.md);
- LogisticRegression(C) is regParam = 1 / (C * n); Spark standardizes features by default
  (turned off here);
- Spark's StandardScaler divides by the sample std (n - 1): a constant factor corrects it;
- Spark's PCA does not center: a mean-only StandardScaler runs first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import cluster, decomposition, ensemble, linear_model, preprocessing, svm, tree
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline

from ._inputs import (
    ROW_ID,
    is_spark_dataframe,
    resolve_columns,
    spark_column_kinds,
    to_pandas_frame,
)
from ._meta import check_fitted, python_scalar
from ._session import get_spark
from ._spark_jobs import spark_frame_with_row_id
from .exceptions import UnsupportedEstimatorError

__all__ = ["SparkMLEstimator", "supported_estimators"]

FEATURES = "__ssb_features__"
LABEL = "__ssb_label__"


@dataclass
class _Fit:
    """What a translator needs to know: the training data and its column names."""

    n: int
    y_std: float = 1.0
    n_classes: int = 0
    n_features: int = 0
    col: str = FEATURES  # the features column this step reads
    out: str = FEATURES  # the column a feature step writes (intermediate: fresh names)


# ------------------------------------------------------------------ helpers
def _check(est, name, allowed, why):
    value = getattr(est, name)
    ok = value in allowed if isinstance(allowed, (list, tuple, set)) else allowed(value)
    if not ok:
        raise UnsupportedEstimatorError(
            f"{type(est).__name__}({name}={value!r}) has no faithful pyspark.ml translation: {why}"
        )


def _depth(est):
    if est.max_depth is None or est.max_depth > 30:
        raise UnsupportedEstimatorError(
            f"{type(est).__name__}(max_depth={est.max_depth!r}): pyspark.ml trees are at most "
            "30 deep; set max_depth to an int <= 30."
        )
    return int(est.max_depth)


def _subset_strategy(est):
    value = est.max_features
    if value in (None, 1.0):
        return "all"
    if value in ("sqrt", "log2"):
        return value
    if isinstance(value, float) and 0 < value < 1:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    raise UnsupportedEstimatorError(f"{type(est).__name__}(max_features={value!r}) unsupported.")


# ---------------------------------------------------------------- translators
def _linear_regression(est, fit):
    from pyspark.ml.regression import LinearRegression

    _check(est, "positive", [False], "Spark's LinearRegression has no positivity constraint.")
    common = dict(
        fitIntercept=est.fit_intercept, standardization=False, featuresCol=fit.col, labelCol=LABEL
    )
    if isinstance(est, linear_model.Ridge):
        return LinearRegression(
            regParam=est.alpha / fit.n * fit.y_std, elasticNetParam=0.0, solver="normal", **common
        )
    if isinstance(est, linear_model.Lasso):
        return LinearRegression(
            regParam=est.alpha,
            elasticNetParam=1.0,
            tol=1e-12,
            maxIter=max(est.max_iter, 1000),
            **common,
        )
    if isinstance(est, linear_model.ElasticNet):
        a, r = est.alpha, est.l1_ratio
        reg = a * (r + (1 - r) * fit.y_std)
        return LinearRegression(
            regParam=reg,
            elasticNetParam=a * r / reg if reg else 0.0,
            tol=1e-12,
            maxIter=max(est.max_iter, 1000),
            **common,
        )
    return LinearRegression(regParam=0.0, solver="normal", **common)


def _logistic_regression(est, fit):
    from pyspark.ml.classification import LogisticRegression

    _check(est, "penalty", ["l2", "deprecated"], "only the L2 penalty is translated.")
    if getattr(est, "l1_ratio", 0.0) not in (0.0, None):
        raise UnsupportedEstimatorError(
            f"LogisticRegression(l1_ratio={est.l1_ratio!r}): only the L2 penalty is translated."
        )
    _check(est, "class_weight", [None], "Spark has no class weights (use a weight column).")
    return LogisticRegression(
        regParam=1.0 / (est.C * fit.n),
        elasticNetParam=0.0,
        standardization=False,
        fitIntercept=est.fit_intercept,
        maxIter=max(est.max_iter, 1000),
        tol=1e-10,
        family="binomial" if fit.n_classes <= 2 else "multinomial",
        featuresCol=fit.col,
        labelCol=LABEL,
    )


def _linear_svc(est, fit):
    from pyspark.ml.classification import LinearSVC

    _check(est, "loss", ["hinge"], "Spark's LinearSVC minimises the hinge loss; set loss='hinge'.")
    _check(est, "penalty", ["l2"], "Spark's LinearSVC has an L2 penalty only.")
    if fit.n_classes > 2:
        raise UnsupportedEstimatorError(
            f"Spark's LinearSVC is binary only; got {fit.n_classes} classes."
        )
    return LinearSVC(
        regParam=1.0 / (est.C * fit.n),
        fitIntercept=est.fit_intercept,
        standardization=False,
        maxIter=max(est.max_iter, 1000),
        tol=1e-10,
        featuresCol=fit.col,
        labelCol=LABEL,
    )


def _tree_params(est, fit):
    _check(est, "min_samples_split", [2], "Spark has no min_samples_split.")
    return dict(
        maxDepth=_depth(est),
        minInstancesPerNode=int(est.min_samples_leaf),
        featuresCol=fit.col,
        labelCol=LABEL,
        maxBins=256,
    )


def _decision_tree(est, fit):
    from pyspark.ml.classification import DecisionTreeClassifier
    from pyspark.ml.regression import DecisionTreeRegressor

    if isinstance(est, tree.DecisionTreeClassifier):
        _check(est, "criterion", ["gini", "entropy"], "Spark supports gini and entropy.")
        return DecisionTreeClassifier(
            impurity=est.criterion, seed=_seed(est), **_tree_params(est, fit)
        )
    _check(est, "criterion", ["squared_error"], "Spark's regression trees use variance.")
    return DecisionTreeRegressor(impurity="variance", seed=_seed(est), **_tree_params(est, fit))


def _random_forest(est, fit):
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.regression import RandomForestRegressor

    common = dict(
        numTrees=int(est.n_estimators),
        bootstrap=bool(est.bootstrap),
        featureSubsetStrategy=_subset_strategy(est),
        seed=_seed(est),
        **_tree_params(est, fit),
    )
    if isinstance(est, ensemble.RandomForestClassifier):
        _check(est, "criterion", ["gini", "entropy"], "Spark supports gini and entropy.")
        return RandomForestClassifier(impurity=est.criterion, **common)
    _check(est, "criterion", ["squared_error"], "Spark's regression forests use variance.")
    return RandomForestRegressor(impurity="variance", **common)


def _gradient_boosting(est, fit):
    from pyspark.ml.classification import GBTClassifier
    from pyspark.ml.regression import GBTRegressor

    common = dict(
        maxIter=int(est.n_estimators),
        stepSize=float(est.learning_rate),
        subsamplingRate=float(est.subsample),
        seed=_seed(est),
        featureSubsetStrategy=_subset_strategy(est),
        **_tree_params(est, fit),
    )
    if isinstance(est, ensemble.GradientBoostingClassifier):
        _check(est, "loss", ["log_loss"], "Spark's GBTClassifier uses the logistic loss.")
        if fit.n_classes > 2:
            raise UnsupportedEstimatorError(
                f"Spark's GBTClassifier is binary only; got {fit.n_classes} classes."
            )
        return GBTClassifier(lossType="logistic", **common)
    _check(est, "loss", ["squared_error", "absolute_error"], "Spark has squared and absolute.")
    return GBTRegressor(
        lossType="squared" if est.loss == "squared_error" else "absolute", **common
    )


def _kmeans(est, fit):
    from pyspark.ml.clustering import KMeans

    _check(est, "init", ["k-means++", "random"], "Spark initialises with k-means|| or random.")
    return KMeans(
        k=int(est.n_clusters),
        maxIter=int(est.max_iter),
        tol=float(est.tol),
        seed=_seed(est),
        initMode="k-means||" if est.init == "k-means++" else "random",
        featuresCol=fit.col,
    )


def _pca(est, fit):
    from pyspark.ml.feature import PCA, StandardScaler

    _check(est, "whiten", [False], "Spark's PCA does not whiten.")
    if not isinstance(est.n_components, (int, np.integer)):
        raise UnsupportedEstimatorError(
            f"PCA(n_components={est.n_components!r}): Spark's PCA needs an int n_components."
        )
    # Spark's PCA projects without centering; scikit-learn centers first.
    return [
        StandardScaler(
            withMean=True, withStd=False, inputCol=fit.col, outputCol=fit.out + "_centered"
        ),
        PCA(k=int(est.n_components), inputCol=fit.out + "_centered", outputCol=fit.out),
    ]


def _standard_scaler(est, fit):
    from pyspark.ml.feature import ElementwiseProduct, StandardScaler
    from pyspark.ml.linalg import Vectors

    stages = [
        StandardScaler(
            withMean=est.with_mean,
            withStd=est.with_std,
            inputCol=fit.col,
            outputCol=fit.out + "_scaled",
        )
    ]
    factor = np.sqrt(fit.n / (fit.n - 1)) if est.with_std and fit.n > 1 else 1.0
    # Spark divides by the sample std (n - 1), scikit-learn by the population std (n).
    stages.append(
        ElementwiseProduct(
            scalingVec=Vectors.dense([factor] * fit.n_features),
            inputCol=fit.out + "_scaled",
            outputCol=fit.out,
        )
    )
    return stages


def _minmax_scaler(est, fit):
    from pyspark.ml.feature import MinMaxScaler

    _check(est, "clip", [False], "Spark's MinMaxScaler does not clip.")
    low, high = est.feature_range
    return MinMaxScaler(min=float(low), max=float(high), inputCol=fit.col, outputCol=fit.out)


def _seed(est):
    state = getattr(est, "random_state", None)
    return int(state) if isinstance(state, (int, np.integer)) else None


#: scikit-learn class -> (translator, kind); kind is "regressor", "classifier", "clusterer"
#: or "transformer".
_TRANSLATORS = {
    linear_model.LinearRegression: (_linear_regression, "regressor"),
    linear_model.Ridge: (_linear_regression, "regressor"),
    linear_model.Lasso: (_linear_regression, "regressor"),
    linear_model.ElasticNet: (_linear_regression, "regressor"),
    linear_model.LogisticRegression: (_logistic_regression, "classifier"),
    svm.LinearSVC: (_linear_svc, "classifier"),
    tree.DecisionTreeClassifier: (_decision_tree, "classifier"),
    tree.DecisionTreeRegressor: (_decision_tree, "regressor"),
    ensemble.RandomForestClassifier: (_random_forest, "classifier"),
    ensemble.RandomForestRegressor: (_random_forest, "regressor"),
    ensemble.GradientBoostingClassifier: (_gradient_boosting, "classifier"),
    ensemble.GradientBoostingRegressor: (_gradient_boosting, "regressor"),
    cluster.KMeans: (_kmeans, "clusterer"),
    decomposition.PCA: (_pca, "transformer"),
    preprocessing.StandardScaler: (_standard_scaler, "transformer"),
    preprocessing.MinMaxScaler: (_minmax_scaler, "transformer"),
}


def _label_index(column, classes):
    """Spark's label index (0..K-1, as double) of each label; a cast when they already are."""
    from pyspark.sql import functions as F

    if np.issubdtype(classes.dtype, np.number) and np.array_equal(
        classes, np.arange(len(classes))
    ):
        return column.cast("double")
    pairs = [
        F.lit(value)
        for index, label in enumerate(classes)
        for value in (python_scalar(label), float(index))
    ]
    return F.create_map(*pairs)[column]


def supported_estimators() -> list:
    """Names of the scikit-learn estimators SparkMLEstimator can delegate to pyspark.ml."""
    return sorted(cls.__name__ for cls in _TRANSLATORS)


def _steps(estimator):
    steps = [s for _, s in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    steps = [s for s in steps if s not in (None, "passthrough")]
    for position, step in enumerate(steps):
        if type(step) not in _TRANSLATORS:
            raise UnsupportedEstimatorError(
                f"{type(step).__name__} has no pyspark.ml counterpart here. Supported: "
                f"{', '.join(supported_estimators())} (and a Pipeline of them)."
            )
        if position < len(steps) - 1 and _TRANSLATORS[type(step)][1] != "transformer":
            raise UnsupportedEstimatorError(
                f"Only the last step of a Pipeline may be a {_TRANSLATORS[type(step)][1]}; "
                f"{type(step).__name__} is step {position}."
            )
    return steps


# ------------------------------------------------------------------ estimator
class SparkMLEstimator(BaseEstimator):
    """Train the pyspark.ml counterpart of a scikit-learn estimator, with its semantics.

    Parameters
    ----------
    estimator : estimator or Pipeline
        One of :func:`supported_estimators`, or a Pipeline of scalers/PCA ending in one.
        Parameters are translated so the Spark model agrees with scikit-learn; a parameter
        value Spark cannot honour raises :class:`UnsupportedEstimatorError` naming it.
    feature_cols : list of str, optional
        Numeric feature columns (default: every numeric column but ``label_col``).
    label_col : str, default="label"
        Label column of a Spark DataFrame (pandas input passes ``y`` to ``fit``).
    prediction_col : str, default="prediction"
        Output column on Spark input (``predict``, ``transform``; ``predict_proba`` writes
        ``probability`` as array<double>).
    spark : SparkSession, optional

    Attributes
    ----------
    spark_model_ : pyspark.ml.PipelineModel
        The fitted Spark model (VectorAssembler, translated stages).
    coef_, intercept_, classes_, feature_importances_, cluster_centers_, components_, \
mean_, scale_, min_, data_min_, data_max_, explained_variance_ratio_ :
        Mirrored from the Spark model with scikit-learn's names and shapes, where the last
        (or only) step has them.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Notes
    -----
    Where it makes sense in a scikit-learn ``Pipeline``: as the last step, or alone, on a Spark
    DataFrame, or on pandas data as a drop-in (each ``fit``/``predict`` ships the data to Spark
    and back, so local data gains nothing but parity checks). Where it does not: as an
    intermediate scikit-learn step on big data (scikit-learn steps before it run on the driver
    and need the data there); put the preprocessing inside ``estimator`` (a Pipeline of
    StandardScaler / MinMaxScaler / PCA) so it runs in pyspark.ml too.

    Agreement with scikit-learn: linear models, scalers and PCA to floating-point / solver
    tolerance; logistic regression and LinearSVC predictions (coefficients within a few
    percent); trees and ensembles within a stated margin (Spark bins features, draws its own
    bootstrap samples, and its gradient boosting weights the first tree fully); KMeans by
    cluster agreement (k-means|| initialisation).

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
    def fit(self, X, y=None):
        """Fit the translated pyspark.ml pipeline on the executors.

        Returns
        -------
        self
        """
        from pyspark.ml import Pipeline as SparkPipeline
        from pyspark.ml.feature import VectorAssembler
        from pyspark.sql import functions as F

        steps = _steps(self.estimator)  # unsupported estimators fail before any job
        kind = _TRANSLATORS[type(steps[-1])][1]
        spark = get_spark(self.spark)
        data, label = self._as_spark(spark, X, y, kind)
        features = resolve_columns(
            spark_column_kinds(data.schema),
            feature_cols=self._feature_setting(X),
            label_col=label,
            exclude=[ROW_ID],
        )
        # One pass over the data for everything the translation needs.
        stats_exprs = [F.count(F.lit(1)).alias("n")]
        if label is not None and kind == "classifier":
            stats_exprs.append(F.collect_set(F.col(label)).alias("labels"))
        elif label is not None:
            stats_exprs.append(F.stddev_pop(F.col(label)).alias("y_std"))
        stats = data.select(*stats_exprs).first()
        self.classes_ = None
        if kind == "classifier":
            self.classes_ = np.array(sorted(stats["labels"]))
            data = data.withColumn(LABEL, _label_index(F.col(label), self.classes_))
        elif label is not None:
            data = data.withColumn(LABEL, F.col(label).cast("double"))
        fit_info = _Fit(
            n=int(stats["n"]),
            y_std=float(stats["y_std"] or 0.0) if kind == "regressor" else 1.0,
            n_classes=len(self.classes_) if self.classes_ is not None else 0,
            n_features=len(features),
        )
        stages = [VectorAssembler(inputCols=features, outputCol=FEATURES, handleInvalid="error")]
        groups = []
        for index, step in enumerate(steps):
            fit_info.out = f"{FEATURES}{index}"
            translated = _TRANSLATORS[type(step)][0](step, fit_info)
            translated = translated if isinstance(translated, list) else [translated]
            groups.append(list(range(len(stages), len(stages) + len(translated))))
            stages.extend(translated)
            if _TRANSLATORS[type(step)][1] == "transformer":
                fit_info.col = fit_info.out
        self.spark_model_ = SparkPipeline(stages=stages).fit(data)
        self._stage_groups = groups
        self._output_col = fit_info.col
        self.feature_names_in_ = np.asarray(features, dtype=object)
        self.n_features_in_ = len(features)
        self._kind = kind
        self._named_input = is_spark_dataframe(X) or isinstance(X, pd.DataFrame)
        self._mirror(steps[-1])
        if self.classes_ is None:
            del self.classes_
        return self

    def _feature_setting(self, X):
        if is_spark_dataframe(X) or self.feature_cols is not None:
            return self.feature_cols
        return None

    def _as_spark(self, spark, X, y, kind):
        if is_spark_dataframe(X):
            if y is not None:
                raise ValueError("y must be None for Spark DataFrame input; use label_col.")
            label = self.label_col if kind in ("regressor", "classifier") else None
            return X, label
        frame = to_pandas_frame(X)
        frame = frame.copy()
        frame.columns = [str(c) for c in frame.columns]
        if kind in ("regressor", "classifier"):
            if y is None:
                raise ValueError(f"{type(self.estimator).__name__} needs y.")
            frame[LABEL + "_in"] = np.asarray(y)
            return spark_frame_with_row_id(spark, frame), LABEL + "_in"
        return spark_frame_with_row_id(spark, frame), None

    def _mirror(self, step):
        """Copy the Spark model's learned values onto scikit-learn attribute names."""
        model = self.spark_model_.stages[-1]
        exported = self._export(step)
        if exported is None:
            if hasattr(model, "featureImportances"):
                self.feature_importances_ = model.featureImportances.toArray()
            return
        for name in (
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
        ):
            if hasattr(exported, name):
                setattr(self, name, getattr(exported, name))

    # ------------------------------------------------------------- export
    def to_sklearn(self):
        """A fitted scikit-learn estimator whose predictions equal the Spark model's.

        Exact for linear models, scalers, PCA and KMeans. Trees and ensembles have no
        faithful export (Spark bins features and stores splits differently).

        Raises
        ------
        UnsupportedEstimatorError
            The model has no faithful scikit-learn export.
        """
        self._check_fitted()
        steps = _steps(self.estimator)
        exported = []
        for index, step in enumerate(steps):
            model = self._export(step, index)
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

    def _export(self, step, index=None):
        stages = self.spark_model_.stages
        if index is None:
            index = len(_steps(self.estimator)) - 1
        group = self._stage_groups[index]
        model = [stages[i] for i in group]
        est = clone(step)
        n_in = self.n_features_in_ if index == 0 else None
        if isinstance(
            step,
            (
                linear_model.LinearRegression,
                linear_model.Ridge,
                linear_model.Lasso,
                linear_model.ElasticNet,
            ),
        ):
            est.coef_ = model[0].coefficients.toArray()
            est.intercept_ = float(model[0].intercept)
        elif isinstance(step, (linear_model.LogisticRegression, svm.LinearSVC)):
            spark_model = model[0]
            if isinstance(step, linear_model.LogisticRegression) and len(self.classes_) > 2:
                est.coef_ = spark_model.coefficientMatrix.toArray()
                est.intercept_ = spark_model.interceptVector.toArray()
            else:
                est.coef_ = spark_model.coefficients.toArray().reshape(1, -1)
                est.intercept_ = np.array([float(spark_model.intercept)])
            est.classes_ = self.classes_
        elif isinstance(step, cluster.KMeans):
            est.cluster_centers_ = np.vstack([c for c in model[0].clusterCenters()])
            est._n_threads = 1
            est.n_features_in_ = est.cluster_centers_.shape[1]
        elif isinstance(step, decomposition.PCA):
            est.mean_ = model[0].mean.toArray()
            est.components_ = model[1].pc.toArray().T
            est.n_components_ = est.components_.shape[0]
            est.explained_variance_ratio_ = model[1].explainedVariance.toArray()
            est.n_features_in_ = est.mean_.shape[0]
            est.n_samples_ = None
        elif isinstance(step, preprocessing.StandardScaler):
            scaler, product = model
            factor = product.getScalingVec().toArray()
            mean = scaler.mean.toArray()
            est.mean_ = mean if step.with_mean else None
            if step.with_std:
                scale = scaler.std.toArray() / factor
                est.scale_ = np.where(scale == 0, 1.0, scale)
                est.var_ = scale**2
            else:
                est.scale_ = None
                est.var_ = None
            est.n_features_in_ = mean.shape[0]
        elif isinstance(step, preprocessing.MinMaxScaler):
            low, high = step.feature_range
            data_min = model[0].originalMin.toArray()
            data_max = model[0].originalMax.toArray()
            data_range = data_max - data_min
            safe = np.where(data_range == 0, 1.0, data_range)
            est.data_min_, est.data_max_, est.data_range_ = data_min, data_max, data_range
            est.scale_ = (high - low) / safe
            est.min_ = low - data_min * est.scale_
            est.n_features_in_ = data_min.shape[0]
            est.n_samples_seen_ = None
        else:
            return None
        if n_in is not None:
            est.n_features_in_ = n_in
            if self._named_input:  # fitted on named columns: the export checks names too
                est.feature_names_in_ = self.feature_names_in_
        return est

    # ------------------------------------------------------------- predict
    def predict(self, X):
        """Predictions: numpy for pandas/numpy input, ``X`` plus ``prediction_col`` for Spark."""
        return self._apply(X, "prediction")

    def predict_proba(self, X):
        """Class probabilities (classifiers): numpy, or an array<double> ``probability`` column."""
        self._check_fitted()
        if self._kind != "classifier" or not hasattr(
            self.spark_model_.stages[-1], "getProbabilityCol"
        ):
            raise AttributeError(f"{type(self.estimator).__name__} has no predict_proba here.")
        return self._apply(X, "probability")

    def transform(self, X):
        """Transformed features (scalers, PCA): numpy, or an array<double> column."""
        return self._apply(X, "transform")

    def _apply(self, X, what):
        from pyspark.ml.functions import vector_to_array
        from pyspark.sql import functions as F

        self._check_fitted()
        spark = get_spark(self.spark)
        local = not is_spark_dataframe(X)
        if local:
            frame = to_pandas_frame(X).copy()
            frame.columns = [str(c) for c in frame.columns]
            missing = [c for c in self.feature_names_in_ if c not in frame.columns]
            if missing and len(frame.columns) == self.n_features_in_:
                frame.columns = list(self.feature_names_in_)  # numpy: positional
            data = spark_frame_with_row_id(spark, frame)
        else:
            data = X
        missing = [c for c in self.feature_names_in_ if c not in data.columns]
        if missing:
            raise ValueError(f"The data lacks feature columns the model was fitted on: {missing}.")
        out = self.spark_model_.transform(data)
        if what == "transform":
            column = vector_to_array(F.col(self._output_col))
        elif what == "probability":
            column = vector_to_array(F.col("probability"))
        elif self._kind == "classifier":
            labels = F.array(*[F.lit(python_scalar(c)) for c in self.classes_])
            column = labels[F.col("prediction").cast("int")]
        elif self._kind == "clusterer":
            column = F.col("prediction").cast("long")
        else:
            column = F.col("prediction")
        name = self.prediction_col if what != "probability" else "probability"
        result = out.select(*data.columns, column.alias(name))
        if not local:
            return result.drop(ROW_ID) if ROW_ID in result.columns else result
        rows = result.select(ROW_ID, name).toPandas().sort_values(ROW_ID)
        values = rows[name].to_list()
        return np.vstack(values) if what in ("transform", "probability") else np.asarray(values)

    def _check_fitted(self):
        check_fitted(self, "spark_model_")

    # --------------------------------------------------------- persistence
    def save(self, path):
        """Save with pyspark.ml persistence (``spark_model/``) plus ``metadata.json``."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=False)
        self.spark_model_.write().save(str(path / "spark_model"))
        from ._serialization import dump_model

        metadata = {
            "params": dump_model({**self.get_params(deep=False), "spark": None}).hex(),
            "features": list(self.feature_names_in_),
            "classes": None
            if getattr(self, "classes_", None) is None
            else dump_model(self.classes_).hex(),
            "kind": self._kind,
            "stage_groups": self._stage_groups,
            "output_col": self._output_col,
            "named_input": self._named_input,
        }
        (path / "metadata.json").write_text(json.dumps(metadata))
        return path

    @classmethod
    def load(cls, path, *, spark=None):
        """Load a model written by :meth:`save`."""
        from pyspark.ml import PipelineModel

        from ._serialization import load_model

        path = Path(path)
        metadata = json.loads((path / "metadata.json").read_text())
        params = load_model(bytes.fromhex(metadata["params"]), what="saved parameters")
        model = cls(**{**params, "spark": spark})
        get_spark(spark)
        model.spark_model_ = PipelineModel.load(str(path / "spark_model"))
        model.feature_names_in_ = np.asarray(metadata["features"], dtype=object)
        model.n_features_in_ = len(metadata["features"])
        model._kind = metadata["kind"]
        model._stage_groups = metadata["stage_groups"]
        model._output_col = metadata["output_col"]
        model._named_input = metadata["named_input"]
        if metadata["classes"]:
            model.classes_ = load_model(bytes.fromhex(metadata["classes"]), what="classes")
        model._mirror(_steps(model.estimator)[-1])
        return model

    def log_to_mlflow(self, artifact_path="spark_ml_estimator"):
        """Log :meth:`save`'s output as artifacts of the active MLflow run; returns the URI."""
        from ._mlflow import log_directory

        return log_directory(self.save, artifact_path)

    def __sklearn_tags__(self):
        from ._meta import delegated_tags

        return delegated_tags(super().__sklearn_tags__(), self.estimator, input_tags=False)
