"""SparkGridSearchCV vs scikit-learn and Hyperopt's SparkTrials, side by side in one run.

(a) digits, SVC on an 8x8 grid of C and gamma, cv=3 (64 candidates, 192 fits):
    scikit-learn GridSearchCV(n_jobs=2), hyperopt fmin with SparkTrials(parallelism=2) over
    the same 64 points, and SparkGridSearchCV on local[2]. Target: SparkGridSearchCV <= 1.25x
    scikit-learn.
(b) Best score after N evaluations, TPE vs random search (SparkHyperoptSearchCV), averaged over
    seeds, on breast_cancer with an SVC pipeline.

    python -m benchmarks.bench_search [--quick]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from spark_sklearn_bridge import SparkGridSearchCV, SparkHyperoptSearchCV
from spark_sklearn_bridge._session import build_local_session

from ._common import report, timed

GRID = {"C": np.logspace(-2, 3, 8).tolist(), "gamma": np.logspace(-5, -1, 8).tolist()}


def spark_trials_grid(spark, X, y):
    import hyperopt

    points = [{"C": c, "gamma": g} for c in GRID["C"] for g in GRID["gamma"]]
    space = hyperopt.hp.choice("point", points)

    def objective(params):
        return -cross_val_score(SVC(**params), X, y, cv=3).mean()

    trials = hyperopt.SparkTrials(parallelism=2, spark_session=spark)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # rand over a 64-way choice with 64 evals: the same budget as the grid
        hyperopt.fmin(
            objective,
            space,
            algo=hyperopt.rand.suggest,
            max_evals=len(points),
            trials=trials,
            show_progressbar=False,
        )
    return trials


def tpe_vs_random(seeds, budgets, rows):
    X, y = load_breast_cancer(return_X_y=True)
    from hyperopt import hp

    pipe = make_pipeline(StandardScaler(), SVC())
    space = {
        "svc__C": hp.loguniform("C", np.log(1e-3), np.log(1e3)),
        "svc__gamma": hp.loguniform("gamma", np.log(1e-5), np.log(1e1)),
    }
    curves = {}
    for algo in ("tpe", "random"):
        best = []
        for seed in seeds:
            search = SparkHyperoptSearchCV(
                pipe,
                space,
                max_evals=max(budgets),
                algo=algo,
                random_state=seed,
                cv=3,
                parallelism=2,
                refit=False,
            ).fit(X, y)
            scores = search.cv_results_["mean_test_score"]
            best.append([np.nanmax(scores[:n]) for n in budgets])
        curves[algo] = np.mean(best, axis=0)
    for i, n in enumerate(budgets):
        rows.append(
            {
                "evaluations": n,
                "TPE best accuracy": round(float(curves["tpe"][i]), 4),
                "random best accuracy": round(float(curves["random"][i]), 4),
            }
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip SparkTrials; fewer seeds")
    args = parser.parse_args(argv)
    spark = build_local_session("local[2]")
    X, y = load_digits(return_X_y=True)
    rows = []
    # warm-up: start Python workers and import scikit-learn in them, for every Spark method
    SparkGridSearchCV(SVC(), {"C": [1.0]}, cv=3).fit(X[:200], y[:200])
    sk, reference = timed(GridSearchCV(SVC(), GRID, cv=3, n_jobs=2).fit, X, y)
    ours, search = timed(SparkGridSearchCV(SVC(), GRID, cv=3).fit, X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"]
    )
    rows.append(
        {"method": "sklearn GridSearchCV(n_jobs=2)", "seconds": round(sk, 1), "x sklearn": 1.0}
    )
    if not args.quick:
        trials_s, _ = timed(spark_trials_grid, spark, X, y)
        rows.append(
            {
                "method": "hyperopt SparkTrials(parallelism=2)",
                "seconds": round(trials_s, 1),
                "x sklearn": round(trials_s / sk, 2),
            }
        )
    rows.append(
        {
            "method": "SparkGridSearchCV (local[2])",
            "seconds": round(ours, 1),
            "x sklearn": round(ours / sk, 2),
        }
    )
    report("search_grid", rows, notes="same cv_results_ scores as scikit-learn: checked")
    curve_rows = []
    seeds = range(3) if args.quick else range(5)
    tpe_vs_random(seeds, [8, 16, 32], curve_rows)
    report(
        "search_tpe_vs_random",
        curve_rows,
        notes=f"mean over seeds {list(seeds)}, breast_cancer, StandardScaler+SVC, cv=3",
    )


if __name__ == "__main__":
    main()
