"""The pyspark.ml counterpart of each supported scikit-learn estimator, in one entry each.

An entry (:class:`Translation`) says what kind of estimator it is, how to build the
pyspark.ml stage(s) with parameters chosen so the fitted model agrees with scikit-learn, and
how to export the fitted stage(s) back to a fitted scikit-learn estimator (``None`` where no
faithful export exists). Adding an estimator means adding one entry to :data:`REGISTRY`.

The traps the translations encode (measured in ``shared/FINDINGS.md``):

- Spark scales the L2 penalty of linear regression by the label's population std and divides
  every penalty by n: Ridge(alpha) is regParam = alpha / n * std(y);
- LogisticRegression(C) is regParam = 1 / (C * n); Spark standardizes features by default
  (turned off here);
- Spark's StandardScaler divides by the sample std (n - 1): a constant factor corrects it;
- Spark's PCA does not center: a mean-only StandardScaler runs first.

Stopping rules are translated, not forced: ``max_iter`` and ``tol`` map onto ``maxIter`` and
``tol``. scikit-learn's lbfgs stops when the largest gradient component is below ``tol``;
Spark's L-BFGS when that is below ``tol`` times the loss, or when the loss stops improving
by a relative ``tol``. Both reach the same optimum on well-conditioned data; on badly scaled
data, where neither converges within ``max_iter``, their coefficients differ.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import cluster, decomposition, ensemble, linear_model, preprocessing, svm, tree
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from .._base import python_scalar
from .._reserved import FEATURES, LABEL
from ..exceptions import UnsupportedEstimatorError
from ._compose import check_supported
from ._preprocessing import PREPROCESSING

__all__ = ["REGISTRY", "FitInfo", "Translation", "pipeline_steps", "split_steps", "step_kind"]


@dataclass
class FitInfo:
    """What a translation needs to know: the training data and its column names."""

    n: int
    y_std: float = 1.0
    n_classes: int = 0
    n_features: int = 0
    col: str = FEATURES  # the features column this step reads
    out: str = FEATURES  # the column a feature step writes (intermediate: fresh names)
    label: str = LABEL


@dataclass(frozen=True)
class Translation:
    """One supported estimator: its kind, its pyspark.ml stage(s), its export.

    ``translate(estimator, fit_info)`` returns a stage or a list of stages.
    ``export(estimator_clone, fitted_stages, classes)`` sets the fitted attributes on the
    clone; ``None`` means no faithful export.
    """

    kind: str  # "regressor", "classifier", "clusterer" or "transformer"
    translate: Callable
    export: Callable | None = None


# --------------------------------------------------------------------- checks
def _check(est, name, allowed, why):
    value = getattr(est, name)
    ok = value in allowed if isinstance(allowed, (list, tuple, set)) else allowed(value)
    if not ok:
        raise UnsupportedEstimatorError(
            f"{type(est).__name__}({name}={value!r}) has no faithful pyspark.ml translation: {why}"
        )


#: pyspark.ml's deepest tree; scikit-learn's max_depth=None (unbounded) is capped there.
MAX_SPARK_DEPTH = 30


def _depth(est):
    if est.max_depth is not None and est.max_depth > MAX_SPARK_DEPTH:
        raise UnsupportedEstimatorError(
            f"{type(est).__name__}(max_depth={est.max_depth!r}): pyspark.ml trees are at most "
            f"{MAX_SPARK_DEPTH} deep; set max_depth to an int <= {MAX_SPARK_DEPTH} (or None, "
            "which is capped there)."
        )
    return MAX_SPARK_DEPTH if est.max_depth is None else int(est.max_depth)


def check_depth_cap(est, spark_model) -> None:
    """After a fit with max_depth=None: warn if a tree reached Spark's cap, the only case in
    which the result can differ from scikit-learn's unbounded tree."""
    if getattr(est, "max_depth", 0) is not None or not hasattr(est, "min_samples_leaf"):
        return
    trees = getattr(spark_model, "trees", None) or [spark_model]
    deepest = max(int(t.depth) for t in trees)
    if deepest >= MAX_SPARK_DEPTH:
        warnings.warn(
            f"{type(est).__name__}(max_depth=None): a tree reached pyspark.ml's depth cap of "
            f"{MAX_SPARK_DEPTH}, so it can differ from scikit-learn's unbounded tree; set "
            "max_depth, or min_samples_leaf, to bound it explicitly.",
            UserWarning,
            stacklevel=3,
        )


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


def _seed(est) -> dict:
    """``seed=`` for the Spark stage: the estimator's int random_state, else nothing (Spark
    draws its own; a seed of None fails on Spark Connect)."""
    state = getattr(est, "random_state", None)
    return {"seed": int(state)} if isinstance(state, (int, np.integer)) else {}


# ------------------------------------------------------------- linear models
def _linear_regression(est, fit):
    from pyspark.ml.regression import LinearRegression

    _check(est, "positive", [False], "Spark's LinearRegression has no positivity constraint.")
    common = dict(
        fitIntercept=est.fit_intercept,
        standardization=False,
        featuresCol=fit.col,
        labelCol=fit.label,
    )
    if isinstance(est, linear_model.Ridge):
        return LinearRegression(
            regParam=est.alpha / fit.n * fit.y_std, elasticNetParam=0.0, solver="normal", **common
        )
    if isinstance(est, linear_model.Lasso):
        return LinearRegression(
            regParam=est.alpha, elasticNetParam=1.0, tol=1e-12, maxIter=est.max_iter, **common
        )
    if isinstance(est, linear_model.ElasticNet):
        a, r = est.alpha, est.l1_ratio
        reg = a * (r + (1 - r) * fit.y_std)
        return LinearRegression(
            regParam=reg,
            elasticNetParam=a * r / reg if reg else 0.0,
            tol=1e-12,
            maxIter=est.max_iter,
            **common,
        )
    return LinearRegression(regParam=0.0, solver="normal", **common)


def _export_linear_regression(est, stages, classes):
    est.coef_ = stages[0].coefficients.toArray()
    est.intercept_ = float(stages[0].intercept)


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
        maxIter=int(est.max_iter),
        tol=float(est.tol),
        family="binomial" if fit.n_classes <= 2 else "multinomial",
        featuresCol=fit.col,
        labelCol=fit.label,
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
        maxIter=int(est.max_iter),
        tol=float(est.tol),
        featuresCol=fit.col,
        labelCol=fit.label,
    )


def _export_linear_classifier(est, stages, classes):
    model = stages[0]
    if isinstance(est, linear_model.LogisticRegression) and len(classes) > 2:
        est.coef_ = model.coefficientMatrix.toArray()
        est.intercept_ = model.interceptVector.toArray()
    else:
        est.coef_ = model.coefficients.toArray().reshape(1, -1)
        est.intercept_ = np.array([float(model.intercept)])
    est.classes_ = classes


# --------------------------------------------------------------------- trees
def _tree_params(est, fit):
    _check(est, "min_samples_split", [2], "Spark has no min_samples_split.")
    return dict(
        maxDepth=_depth(est),
        minInstancesPerNode=int(est.min_samples_leaf),
        featuresCol=fit.col,
        labelCol=fit.label,
        maxBins=256,
    )


def _decision_tree(est, fit):
    from pyspark.ml.classification import DecisionTreeClassifier
    from pyspark.ml.regression import DecisionTreeRegressor

    if isinstance(est, tree.DecisionTreeClassifier):
        _check(est, "criterion", ["gini", "entropy"], "Spark supports gini and entropy.")
        return DecisionTreeClassifier(
            impurity=est.criterion, **_seed(est), **_tree_params(est, fit)
        )
    _check(est, "criterion", ["squared_error"], "Spark's regression trees use variance.")
    return DecisionTreeRegressor(impurity="variance", **_seed(est), **_tree_params(est, fit))


def _random_forest(est, fit):
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.regression import RandomForestRegressor

    common = dict(
        numTrees=int(est.n_estimators),
        bootstrap=bool(est.bootstrap),
        featureSubsetStrategy=_subset_strategy(est),
        **_seed(est),
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
        **_seed(est),
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


# ---------------------------------------------------------------- clustering
def _kmeans(est, fit):
    from pyspark.ml.clustering import KMeans

    _check(est, "init", ["k-means++", "random"], "Spark initialises with k-means|| or random.")
    return KMeans(
        k=int(est.n_clusters),
        maxIter=int(est.max_iter),
        tol=float(est.tol),
        **_seed(est),
        initMode="k-means||" if est.init == "k-means++" else "random",
        featuresCol=fit.col,
    )


def _export_kmeans(est, stages, classes):
    est.cluster_centers_ = np.vstack(list(stages[0].clusterCenters()))
    est._n_threads = 1  # set by KMeans.fit; predict reads it
    est.n_features_in_ = est.cluster_centers_.shape[1]


# -------------------------------------------------------------- transformers
def _pca(est, fit):
    from pyspark.ml.feature import PCA, StandardScaler

    _check(est, "whiten", [False], "Spark's PCA does not whiten.")
    k = est.n_components
    if k is None:  # scikit-learn keeps min(n_samples, n_features) components
        k = min(fit.n, fit.n_features)
    if not isinstance(k, (int, np.integer)):
        raise UnsupportedEstimatorError(
            f"PCA(n_components={est.n_components!r}): Spark's PCA needs an int (or None) "
            "n_components; a variance fraction or 'mle' is not translated."
        )
    # Spark's PCA projects without centering; scikit-learn centers first.
    return [
        StandardScaler(
            withMean=True, withStd=False, inputCol=fit.col, outputCol=fit.out + "_centered"
        ),
        PCA(k=int(k), inputCol=fit.out + "_centered", outputCol=fit.out),
    ]


def _export_pca(est, stages, classes):
    est.mean_ = stages[0].mean.toArray()
    est.components_ = stages[1].pc.toArray().T
    est.n_components_ = est.components_.shape[0]
    est.explained_variance_ratio_ = stages[1].explainedVariance.toArray()
    # The centering scaler measured each column's sample std (ddof=1, as scikit-learn's
    # variances): their sum is the total variance the ratios are fractions of.
    total_variance = float(np.sum(stages[0].std.toArray() ** 2))
    est.explained_variance_ = est.explained_variance_ratio_ * total_variance
    est.n_features_in_ = est.mean_.shape[0]
    est.n_samples_ = None


def _standard_scaler(est, fit):
    from pyspark.ml.feature import ElementwiseProduct, StandardScaler
    from pyspark.ml.linalg import Vectors

    factor = np.sqrt(fit.n / (fit.n - 1)) if est.with_std and fit.n > 1 else 1.0
    return [
        StandardScaler(
            withMean=est.with_mean,
            withStd=est.with_std,
            inputCol=fit.col,
            outputCol=fit.out + "_scaled",
        ),
        # Spark divides by the sample std (n - 1), scikit-learn by the population std (n).
        ElementwiseProduct(
            scalingVec=Vectors.dense([factor] * fit.n_features),
            inputCol=fit.out + "_scaled",
            outputCol=fit.out,
        ),
    ]


def _export_standard_scaler(est, stages, classes):
    scaler, product = stages
    factor = product.getScalingVec().toArray()
    mean = scaler.mean.toArray()
    est.mean_ = mean if est.with_mean else None
    if est.with_std:
        scale = scaler.std.toArray() / factor
        est.scale_ = np.where(scale == 0, 1.0, scale)
        est.var_ = scale**2
    else:
        est.scale_ = est.var_ = None
    est.n_features_in_ = mean.shape[0]


def _minmax_scaler(est, fit):
    from pyspark.ml.feature import MinMaxScaler

    _check(est, "clip", [False], "Spark's MinMaxScaler does not clip.")
    low, high = est.feature_range
    return MinMaxScaler(min=float(low), max=float(high), inputCol=fit.col, outputCol=fit.out)


def _export_minmax_scaler(est, stages, classes):
    low, high = est.feature_range
    data_min = stages[0].originalMin.toArray()
    data_max = stages[0].originalMax.toArray()
    data_range = data_max - data_min
    safe = np.where(data_range == 0, 1.0, data_range)
    est.data_min_, est.data_max_, est.data_range_ = data_min, data_max, data_range
    est.scale_ = (high - low) / safe
    est.min_ = low - data_min * est.scale_
    est.n_features_in_ = data_min.shape[0]
    est.n_samples_seen_ = None


_LINEAR_REGRESSION = Translation("regressor", _linear_regression, _export_linear_regression)

#: scikit-learn class -> its translation. The only place that lists supported estimators.
REGISTRY: dict[type, Translation] = {
    linear_model.LinearRegression: _LINEAR_REGRESSION,
    linear_model.Ridge: _LINEAR_REGRESSION,
    linear_model.Lasso: _LINEAR_REGRESSION,
    linear_model.ElasticNet: _LINEAR_REGRESSION,
    linear_model.LogisticRegression: Translation(
        "classifier", _logistic_regression, _export_linear_classifier
    ),
    svm.LinearSVC: Translation("classifier", _linear_svc, _export_linear_classifier),
    tree.DecisionTreeClassifier: Translation("classifier", _decision_tree),
    tree.DecisionTreeRegressor: Translation("regressor", _decision_tree),
    ensemble.RandomForestClassifier: Translation("classifier", _random_forest),
    ensemble.RandomForestRegressor: Translation("regressor", _random_forest),
    ensemble.GradientBoostingClassifier: Translation("classifier", _gradient_boosting),
    ensemble.GradientBoostingRegressor: Translation("regressor", _gradient_boosting),
    cluster.KMeans: Translation("clusterer", _kmeans, _export_kmeans),
    decomposition.PCA: Translation("transformer", _pca, _export_pca),
    preprocessing.StandardScaler: Translation(
        "transformer", _standard_scaler, _export_standard_scaler
    ),
    preprocessing.MinMaxScaler: Translation("transformer", _minmax_scaler, _export_minmax_scaler),
}


def supported_estimators() -> list:
    """Names of the scikit-learn estimators :class:`SparkMLEstimator` delegates to pyspark.ml.

    Returns
    -------
    list of str
        Sorted class names; a Pipeline of transformers among them ending in any of them is
        supported too (preprocessing first, including ColumnTransformers of it).

    Examples
    --------
    >>> from spark_sklearn_bridge import supported_estimators
    >>> "Ridge" in supported_estimators()
    True
    """
    return sorted({cls.__name__ for cls in [*REGISTRY, *PREPROCESSING, ColumnTransformer]})


def split_steps(estimator) -> tuple[list, list]:
    """The estimator's steps as ``(prefix, rest)``, each a list of ``(name, step)``.

    ``prefix``: the leading preprocessing translated column by column (ColumnTransformer,
    encoders, imputers, scalers, ... see ``_preprocessing``); ``rest``: the steps translated
    to pyspark.ml stages on the assembled feature vector (PCA and what follows it, and the
    model), each checked against the registry.
    """
    if isinstance(estimator, Pipeline):
        named = [(n, s) for n, s in estimator.steps if s not in (None, "passthrough")]
    else:
        named = [("step", estimator)]
    prefix = []
    for name, step in named:
        if not (isinstance(step, (ColumnTransformer, Pipeline)) or type(step) in PREPROCESSING):
            break
        check_supported(step)  # a part with no translation is named
        prefix.append((name, step))
    rest = named[len(prefix) :]
    for position, (_, step) in enumerate(rest):
        if isinstance(step, (ColumnTransformer, Pipeline)) or type(step) not in REGISTRY:
            where = " after a pyspark.ml step (PCA)" if isinstance(step, ColumnTransformer) else ""
            raise UnsupportedEstimatorError(
                f"{type(step).__name__}{where} has no pyspark.ml counterpart here. Supported: "
                f"{', '.join(supported_estimators())} (and a Pipeline of them)."
            )
        kind = REGISTRY[type(step)].kind
        if position < len(rest) - 1 and kind != "transformer":
            raise UnsupportedEstimatorError(
                f"Only the last step of a Pipeline may be a {kind}; "
                f"{type(step).__name__} is step {len(prefix) + position}."
            )
    return prefix, rest


def pipeline_steps(estimator) -> list:
    """The estimator's steps (one, or a Pipeline's), checked as :func:`split_steps` does."""
    prefix, rest = split_steps(estimator)
    return [step for _, step in prefix + rest]


def step_kind(step) -> str:
    """``regressor``, ``classifier``, ``clusterer`` or ``transformer``."""
    translation = REGISTRY.get(type(step))
    return translation.kind if translation is not None else "transformer"


def label_index(column, classes):
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
