"""Step 4: one model trained data-parallel by pyspark.ml, beside scikit-learn on the same rows."""

from __future__ import annotations

import time

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..spark_ml import SparkMLEstimator
from ._data import NUMERIC, TARGET
from ._results import StepResult


def estimator():
    return make_pipeline(StandardScaler(), Ridge(alpha=1.0))


def run(spark, rows, local, tracking) -> StepResult:
    """Fit on the scoring step's rows (a cached Spark DataFrame; ``local`` is the same rows
    collected); compare coefficients with scikit-learn's."""
    model = SparkMLEstimator(estimator(), feature_cols=NUMERIC, label_col=TARGET, spark=spark)
    start = time.perf_counter()
    model.fit(rows)
    seconds = time.perf_counter() - start

    start = time.perf_counter()
    reference = estimator().fit(local[NUMERIC], local[TARGET])
    sklearn_seconds = time.perf_counter() - start

    exported = model.to_sklearn()
    ours = np.append(exported[-1].coef_, exported[-1].intercept_)
    theirs = np.append(reference[-1].coef_, reference[-1].intercept_)
    difference = float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))
    r2 = reference.score(local[NUMERIC], local[TARGET])
    result = StepResult(
        step="data-parallel fit (SparkMLEstimator)",
        rows=len(local),
        models="1 model",
        score=f"R2 {exported.score(local[NUMERIC], local[TARGET]):.4f} (sklearn {r2:.4f})",
        seconds=seconds,
        sklearn_seconds=sklearn_seconds,
        agreement=f"max relative coefficient difference = {difference:.1e}",
        difference=difference,
        agrees=difference <= 1e-6,
        metrics={"relative_coefficient_difference": difference, "r2": r2},
        details={"coefficients": {"Spark": ours, "scikit-learn": theirs}},
    )
    with tracking.step_run("data-parallel fit") as log:
        log(result)
    return result
