"""Step 2: tuning one Pipeline of all countries' rows: grid, successive halving and TPE on
Spark, each beside scikit-learn's own search on the same data."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy.stats import loguniform, randint
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from .._mlflow import log_sklearn
from ..search import SparkGridSearchCV, SparkHalvingGridSearchCV, SparkHyperoptSearchCV
from ._data import NUMERIC, TARGET
from ._results import StepResult

FEATURES = ["continent", *NUMERIC]
SCORING = "neg_mean_absolute_error"


def pipeline() -> Pipeline:
    """Continent one-hot encoded, the numbers passed through, gradient-boosted trees."""
    encode = ColumnTransformer(
        [
            (
                "continent",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ["continent"],
            )
        ],
        remainder="passthrough",
    )
    return Pipeline([("encode", encode), ("model", HistGradientBoostingRegressor(random_state=0))])


def grids(quick: bool):
    """The grid of the grid search, and the larger one of the halving search."""
    grid = {
        "model__learning_rate": [0.05, 0.1, 0.2],
        "model__max_leaf_nodes": [7, 31] if quick else [7, 15, 31],
        "model__l2_regularization": [0.0] if quick else [0.0, 1.0],
    }
    halving = {**grid, "model__min_samples_leaf": [5, 20] if quick else [5, 10, 20]}
    return grid, halving


SPACE = {
    "model__learning_rate": loguniform(0.01, 0.5),
    "model__max_leaf_nodes": randint(4, 64),
    "model__l2_regularization": loguniform(1e-3, 10.0),
    "model__min_samples_leaf": randint(2, 50),
}


def run(spark, frame: pd.DataFrame, tracking, quick: bool) -> tuple[list[StepResult], object]:
    """The three search rows of the summary, and the grid search's best pipeline (logged to
    MLflow as ``best_model``)."""
    X, y = frame[FEATURES], frame[TARGET]
    cv = KFold(n_splits=3 if quick else 5, shuffle=True, random_state=0)
    common = {"cv": cv, "scoring": SCORING}
    ours = {**common, "spark": spark, "mlflow": True}  # a run per search, a child per candidate
    grid, halving_grid = grids(quick)
    results = []

    with tracking.step_run("grid search") as log:
        search, seconds = _timed(SparkGridSearchCV(pipeline(), grid, **ours), X, y)
        reference, sk_seconds = _timed(GridSearchCV(pipeline(), grid, n_jobs=-1, **common), X, y)
        results.append(
            _compared("grid search (SparkGridSearchCV)", search, reference, X, seconds, sk_seconds)
        )
        log(results[-1])
        best = search.best_estimator_
        results[-1].details["model_uri"] = log_sklearn(best, "best_model", X.head(5))

    with tracking.step_run("halving search") as log:
        search, seconds = _timed(
            SparkHalvingGridSearchCV(pipeline(), halving_grid, random_state=0, **ours), X, y
        )
        reference, sk_seconds = _timed(
            HalvingGridSearchCV(pipeline(), halving_grid, random_state=0, n_jobs=-1, **common),
            X,
            y,
        )
        results.append(
            _compared(
                "halving search (SparkHalvingGridSearchCV)",
                search,
                reference,
                X,
                seconds,
                sk_seconds,
            )
        )
        log(results[-1])

    with tracking.step_run("TPE search") as log:
        results.append(_tpe_against_random(X, y, 16 if quick else 48, common, ours))
        log(results[-1])
    return results, best


def _tpe_against_random(X, y, max_evals, common, ours) -> StepResult:
    """TPE and random search with the same budget; TPE's best checked by cross_val_score."""
    curves = {}
    for algo in ("random", "tpe"):
        search, seconds = _timed(
            SparkHyperoptSearchCV(
                pipeline(),
                SPACE,
                max_evals=max_evals,
                algo=algo,
                parallelism=4,
                random_state=0,
                **ours,
            ),
            X,
            y,
        )
        curves[algo] = -np.maximum.accumulate(search.cv_results_["mean_test_score"])
    best = pipeline().set_params(**search.best_params_)
    check = cross_val_score(best, X, y, n_jobs=-1, **common).mean()
    difference = abs(check - search.best_score_)
    return StepResult(
        step="TPE search (SparkHyperoptSearchCV)",
        rows=len(X),
        models=f"{max_evals} candidates",
        score=f"MAE {curves['tpe'][-1]:.3f} years (random: {curves['random'][-1]:.3f})",
        seconds=seconds,
        sklearn_seconds=None,
        agreement=f"|best_score_ - cross_val_score of best_params_| = {difference:.1e}",
        difference=difference,
        agrees=difference <= 1e-9,
        metrics={"best_mae": curves["tpe"][-1], "random_best_mae": curves["random"][-1]},
        details={"curves": curves},
    )


def _timed(search, X, y):
    start = time.perf_counter()
    search.fit(X, y)
    return search, time.perf_counter() - start


def _compared(step, ours, theirs, X, seconds, sk_seconds) -> StepResult:
    """A row comparing our search's cv_results_ and best candidate with scikit-learn's."""
    difference = float(
        np.max(np.abs(ours.cv_results_["mean_test_score"] - theirs.cv_results_["mean_test_score"]))
    )
    same_best = ours.best_params_ == theirs.best_params_
    return StepResult(
        step=step,
        rows=len(X),
        models=f"{len(ours.cv_results_['params'])} candidates",
        score=f"MAE {-ours.best_score_:.3f} years",
        seconds=seconds,
        sklearn_seconds=sk_seconds,
        agreement=f"max |mean_test_score difference| = {difference:.1e}, same best: {same_best}",
        difference=difference,
        agrees=difference <= 1e-9 and same_best,
        metrics={"best_mae": -ours.best_score_, "max_score_difference": difference},
        details={"best_params": ours.best_params_},
    )
