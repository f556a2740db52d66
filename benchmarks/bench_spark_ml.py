"""SparkMLEstimator: fit time vs raw pyspark.ml and vs scikit-learn, plus a parity table.

(a) Overhead: 1,000,000 rows x 20 doubles (cached). For each estimator, the same translated
    pyspark.ml stages fitted by hand (VectorAssembler + model) vs SparkMLEstimator.fit on the
    same DataFrame. Target: <= 1.1x.
(b) vs scikit-learn on the same data in memory (one machine).
(c) Parity per registered estimator on data shipped with scikit-learn (see tests for the
    assertions): coefficient error, prediction agreement, adjusted Rand, R^2 / accuracy.
(d) Stopping rules: LogisticRegression(max_iter=10000) on UNSCALED breast_cancer (569 rows,
    badly conditioned), scikit-learn vs SparkMLEstimator, side by side: seconds, iterations,
    ratio and prediction agreement. ``max_iter``/``tol`` are translated; each Spark L-BFGS
    iteration is one Spark job, so small data pays Spark's per-job latency per iteration.

    python -m benchmarks.bench_spark_ml [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from sklearn import cluster, ensemble, linear_model
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.metrics import accuracy_score, adjusted_rand_score, r2_score

from spark_sklearn_bridge import SparkMLEstimator
from spark_sklearn_bridge._session import build_local_session
from spark_sklearn_bridge.spark_ml._registry import FEATURES, LABEL, REGISTRY, FitInfo

from ._common import report, timed


def raw_fit(sdf, estimator, cols, label, n, y_std, n_classes):
    """What a user would write by hand: the same translated stage, VectorAssembler first."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler

    fit = FitInfo(n=n, y_std=y_std, n_classes=n_classes, n_features=len(cols))
    stage = REGISTRY[type(estimator)].translate(estimator, fit)
    data = sdf.withColumn(LABEL, sdf[label].cast("double")) if label else sdf
    return Pipeline(stages=[VectorAssembler(inputCols=cols, outputCol=FEATURES), stage]).fit(data)


def overhead(spark, n_rows, rows):
    rng = np.random.default_rng(0)
    cols = [f"f{i}" for i in range(20)]
    X = rng.normal(size=(n_rows, 20))
    y = X @ rng.normal(size=20) + rng.normal(size=n_rows)
    frame = pd.DataFrame(X, columns=cols).assign(y=y, label=(y > 0).astype(int))
    sdf = spark.createDataFrame(frame).repartition(4).cache()
    sdf.count()
    cases = [
        (linear_model.Ridge(alpha=1.0), "y"),
        (linear_model.LogisticRegression(C=1.0), "label"),
        (ensemble.RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0), "y"),
        (cluster.KMeans(n_clusters=8, random_state=0, n_init=1), None),
    ]
    for estimator, label in cases:
        y_std = float(np.std(frame[label])) if label else 1.0
        n_classes = 2 if label == "label" else 0
        raw_fit(sdf, estimator, cols, label, n_rows, y_std, n_classes)  # warm-up
        raw, _ = timed(raw_fit, sdf, estimator, cols, label, n_rows, y_std, n_classes)
        ours, _ = timed(
            SparkMLEstimator(estimator, feature_cols=cols, label_col=label or "label").fit, sdf
        )
        local, _ = timed(estimator.fit, frame[cols], frame[label] if label else None)
        rows.append(
            {
                "estimator": type(estimator).__name__,
                "raw pyspark.ml s": round(raw, 2),
                "SparkMLEstimator s": round(ours, 2),
                "x raw": round(ours / raw, 2),
                "scikit-learn s": round(local, 2),
            }
        )
    sdf.unpersist()


def parity(rows):
    diabetes = load_diabetes(return_X_y=True, as_frame=True)
    cancer = load_breast_cancer(return_X_y=True, as_frame=True)
    iris = load_iris(return_X_y=True, as_frame=True)
    Xc = (cancer[0] - cancer[0].mean()) / cancer[0].std(ddof=0)
    cases = [
        (linear_model.LinearRegression(), diabetes, "coef"),
        (linear_model.Ridge(alpha=1.0), diabetes, "coef"),
        (linear_model.Lasso(alpha=0.1), diabetes, "coef"),
        (linear_model.ElasticNet(alpha=0.1, l1_ratio=0.5), diabetes, "coef"),
        (linear_model.LogisticRegression(C=1.0), (Xc, cancer[1]), "agree"),
        (linear_model.LogisticRegression(C=1.0), iris, "agree"),
        (
            ensemble.RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0),
            (Xc, cancer[1]),
            "accuracy",
        ),
        (
            ensemble.GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0),
            diabetes,
            "r2",
        ),
        (cluster.KMeans(n_clusters=3, random_state=0, n_init=10), iris, "ari"),
    ]
    for estimator, (X, y), kind in cases:
        X = X.set_axis([f"f{i}" for i in range(X.shape[1])], axis=1)
        y = None if kind == "ari" else np.asarray(y)
        reference = estimator.fit(X, y) if y is not None else estimator.fit(X)
        ours = SparkMLEstimator(estimator).fit(X, y)
        if kind == "coef":
            value = np.max(np.abs(ours.coef_ - reference.coef_)) / np.max(np.abs(reference.coef_))
            label = "max coef error / max |coef|"
        elif kind == "agree":
            value, label = accuracy_score(reference.predict(X), ours.predict(X)), "agreement"
        elif kind == "accuracy":
            value = accuracy_score(y, ours.predict(X)) - accuracy_score(y, reference.predict(X))
            label = "train accuracy (Spark - sklearn)"
        elif kind == "r2":
            value = r2_score(y, ours.predict(X)) - r2_score(y, reference.predict(X))
            label = "train R^2 (Spark - sklearn)"
        else:
            value, label = adjusted_rand_score(reference.labels_, ours.predict(X)), "ARI"
        rows.append(
            {"estimator": repr(estimator)[:48], "measure": label, "value": float(f"{value:.3g}")}
        )


def stopping_rules(rows):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    for max_iter in (100, 10_000):
        estimator = linear_model.LogisticRegression(max_iter=max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            local, reference = timed(linear_model.LogisticRegression(max_iter=max_iter).fit, X, y)
        ours, model = timed(SparkMLEstimator(estimator).fit, X, y)
        rows.append(
            {
                "estimator": f"LogisticRegression(max_iter={max_iter})",
                "scikit-learn s": round(local, 2),
                "scikit-learn iter": int(reference.n_iter_[0]),
                "SparkMLEstimator s": round(ours, 2),
                "Spark iter": int(model.spark_model_.stages[-1].summary.totalIterations),
                "x scikit-learn": round(ours / local, 1),
                "agreement": round(accuracy_score(reference.predict(X), model.predict(X)), 4),
            }
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    args = parser.parse_args(argv)
    spark = build_local_session("local[2]", {"spark.driver.memory": "6g"})
    rows = []
    overhead(spark, 100_000 if args.quick else 1_000_000, rows)
    report("spark_ml_overhead", rows)
    parity_rows = []
    parity(parity_rows)
    report("spark_ml_parity", parity_rows)
    stopping_rows = []
    stopping_rules(stopping_rows)
    report("spark_ml_stopping_rules", stopping_rows)


if __name__ == "__main__":
    main()
