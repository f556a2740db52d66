"""A tour of spark_sklearn_bridge's four paradigms on the embedded local Spark session.

Each step compares the Spark result with plain scikit-learn on the same data.
Run with ``make demo`` (or ``python examples/demo.py`` inside the venv).
"""

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes, load_digits
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

from spark_sklearn_bridge import (
    GroupedEstimator,
    SparkBatchPredictor,
    SparkGridSearchCV,
    SparkMLEstimator,
    get_spark,
)


def main() -> None:
    spark = get_spark()
    print(f"Spark {spark.version}, {spark.sparkContext.defaultParallelism} cores")

    # 1. One model per group: a Ridge per "store".
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X = X.assign(store=(np.arange(len(X)) % 4))
    grouped = GroupedEstimator(Ridge(alpha=1.0), group_cols="store").fit(X, y)
    by_hand = Ridge(alpha=1.0).fit(X[X.store == 2].drop(columns="store"), y[X.store == 2])
    same = np.allclose(grouped.get_group_model(2).coef_, by_hand.coef_)
    print(f"[grouped]   {grouped.n_groups_} Ridge models; store 2 equals a by-hand fit: {same}")

    # 2. Hyperparameter search: SparkGridSearchCV in place of GridSearchCV.
    Xd, yd = load_digits(return_X_y=True)
    grid = {"C": [1, 10], "gamma": [1e-3, 1e-4]}
    ours = SparkGridSearchCV(SVC(), grid, cv=3).fit(Xd, yd)
    theirs = GridSearchCV(SVC(), grid, cv=3).fit(Xd, yd)
    same = np.allclose(ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"])
    print(
        f"[search]    best {ours.best_params_} score {ours.best_score_:.4f}; "
        f"cv_results_ equal to scikit-learn's: {same}"
    )

    # 3. Distributed inference: score a Spark DataFrame with the fitted SVC.
    frame = pd.DataFrame(Xd, columns=[f"px{i}" for i in range(64)]).reset_index(names="id")
    scored = SparkBatchPredictor(ours.best_estimator_, feature_cols=list(frame.columns[1:]))
    out = scored.predict(spark.createDataFrame(frame)).select("id", "prediction").toPandas()
    same = (out.sort_values("id")["prediction"].to_numpy() == ours.predict(Xd)).all()
    print(f"[inference] {len(out)} rows scored on executors; equal to local predict: {same}")

    # 4. Data-parallel training: Ridge trained by pyspark.ml with scikit-learn's semantics.
    spark_ridge = SparkMLEstimator(Ridge(alpha=1.0)).fit(X.drop(columns="store"), y)
    local = Ridge(alpha=1.0).fit(X.drop(columns="store"), y)
    error = np.max(np.abs(spark_ridge.coef_ - local.coef_)) / np.max(np.abs(local.coef_))
    print(f"[spark.ml]  Ridge via pyspark.ml; max coefficient error vs scikit-learn: {error:.1e}")


if __name__ == "__main__":
    main()
