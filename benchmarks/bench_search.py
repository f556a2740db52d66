"""The Spark searches against scikit-learn and Hyperopt, side by side in one run.

(a) Grid: digits, SVC on an 8x8 grid of C and gamma, cv=3 (64 candidates, 192 fits):
    scikit-learn GridSearchCV(n_jobs=1) (whose time / 2 is the 2-core limit) and (n_jobs=2),
    hyperopt fmin with SparkTrials(parallelism=2) over the same 64 points, and
    SparkGridSearchCV on local[2], its first call of the session and the best of three
    more. Goal: SparkGridSearchCV <= 1.1x the limit.
(b) Halving vs the full grid, same data and grid: SparkHalvingGridSearchCV against
    SparkGridSearchCV (best score, seconds) and against scikit-learn's HalvingGridSearchCV
    (same ``cv_results_``: checked).
(c) TPE vs random search: best cross-validated score after N evaluations (N = 10 ... 60),
    averaged over seeds, for SparkHyperoptSearchCV with algo="random", with TPE and the
    default startup size, and with TPE and Hyperopt's own 20 random startup candidates, on
    four 4-parameter problems of data sets shipped with scikit-learn (wine, breast_cancer,
    digits, diabetes; the tests use iris). Goals: TPE >= random at every N, and TPE reaches
    random's final best within 60% of the budget.

    python -m benchmarks.bench_search [--quick] [--seeds 5]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from hyperopt import hp
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from spark_sklearn_bridge import (
    SparkGridSearchCV,
    SparkHalvingGridSearchCV,
    SparkHyperoptSearchCV,
)
from spark_sklearn_bridge._session import build_local_session

from ._common import report, timed

GRID = {"C": np.logspace(-2, 3, 8).tolist(), "gamma": np.logspace(-5, -1, 8).tolist()}
BUDGET = 60
CHECKPOINTS = [10, 15, 20, 24, 30, 36, 45, 60]


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


def grid_rows(spark, X, y, quick):
    serial, reference = timed(GridSearchCV(SVC(), GRID, cv=3, n_jobs=1).fit, X, y)
    limit = serial / 2
    rows = [("sklearn GridSearchCV(n_jobs=1)", serial)]
    rows.append(
        (
            "sklearn GridSearchCV(n_jobs=2)",
            timed(GridSearchCV(SVC(), GRID, cv=3, n_jobs=2).fit, X, y)[0],
        )
    )
    # The first search of the fresh session (Python workers start, the JVM's code is cold),
    # then the best of three more: what a notebook's first and later calls cost.
    cold, search = timed(SparkGridSearchCV(SVC(), GRID, cv=3).fit, X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"]
    )
    warm, _ = timed(SparkGridSearchCV(SVC(), GRID, cv=3).fit, X, y, repeat=1 if quick else 3)
    rows.append(("SparkGridSearchCV (local[2]), first call of the session", cold))
    rows.append(("SparkGridSearchCV (local[2]), warm best of 3", warm))
    if not quick:  # after ours: ours' first call is the session's first job
        rows.append(
            ("hyperopt SparkTrials(parallelism=2)", timed(spark_trials_grid, spark, X, y)[0])
        )
    return [
        {"method": m, "seconds": round(s, 1), "x limit (n_jobs=1 / 2)": round(s / limit, 2)}
        for m, s in rows
    ]


def halving_rows(X, y):
    kwargs = dict(random_state=0, cv=3)
    full_s, full = timed(SparkGridSearchCV(SVC(), GRID, cv=3).fit, X, y)
    halving_s, halving = timed(SparkHalvingGridSearchCV(SVC(), GRID, **kwargs).fit, X, y)
    sk_s, sk = timed(HalvingGridSearchCV(SVC(), GRID, n_jobs=2, **kwargs).fit, X, y)
    np.testing.assert_allclose(
        halving.cv_results_["mean_test_score"], sk.cv_results_["mean_test_score"]
    )
    assert halving.best_params_ == sk.best_params_
    rows = []
    for method, seconds, search in [
        ("SparkGridSearchCV (64 x all rows)", full_s, full),
        ("SparkHalvingGridSearchCV", halving_s, halving),
        ("sklearn HalvingGridSearchCV(n_jobs=2)", sk_s, sk),
    ]:
        rows.append(
            {
                "method": method,
                "fits": len(search.cv_results_["params"]) * search.n_splits_,
                "best score": round(float(search.best_score_), 4),
                "best params": str(search.best_params_),
                "seconds": round(seconds, 1),
                "x full grid": round(seconds / full_s, 2),
            }
        )
    return rows


def problems():
    """Four 4-parameter searches on data sets shipped with scikit-learn."""
    X_wine, y_wine = load_wine(return_X_y=True)
    X_cancer, y_cancer = load_breast_cancer(return_X_y=True)
    X_digits, y_digits = load_digits(return_X_y=True)
    X_diabetes, y_diabetes = load_diabetes(return_X_y=True)
    svc = {
        "svc__C": hp.loguniform("C", np.log(1e-3), np.log(1e3)),
        "svc__gamma": hp.loguniform("gamma", np.log(1e-5), np.log(1e1)),
        "svc__kernel": hp.choice("kernel", ["rbf", "sigmoid"]),
        "svc__tol": hp.loguniform("tol", np.log(1e-5), np.log(1e-1)),
    }
    svr = {
        "svr__C": hp.loguniform("C", np.log(1e-2), np.log(1e4)),
        "svr__gamma": hp.loguniform("gamma", np.log(1e-4), np.log(1e1)),
        "svr__epsilon": hp.loguniform("epsilon", np.log(1e-3), np.log(1e2)),
        "svr__kernel": hp.choice("kernel", ["rbf", "sigmoid"]),
    }
    sgd = {
        "sgdclassifier__alpha": hp.loguniform("alpha", np.log(1e-6), np.log(1e1)),
        "sgdclassifier__l1_ratio": hp.uniform("l1_ratio", 0, 1),
        "sgdclassifier__eta0": hp.loguniform("eta0", np.log(1e-4), np.log(1)),
        "sgdclassifier__learning_rate": hp.choice(
            "learning_rate", ["constant", "optimal", "invscaling", "adaptive"]
        ),
    }
    scaled = StandardScaler()
    sgd_model = SGDClassifier(penalty="elasticnet", max_iter=50, random_state=0)
    return {
        "wine SVC": (make_pipeline(scaled, SVC()), svc, X_wine, y_wine),
        "digits/3 SVC": (make_pipeline(scaled, SVC()), svc, X_digits[::3], y_digits[::3]),
        "diabetes SVR": (make_pipeline(scaled, SVR()), svr, X_diabetes, y_diabetes),
        "breast_cancer SGD": (make_pipeline(scaled, sgd_model), sgd, X_cancer, y_cancer),
    }


def best_curve(estimator, space, X, y, seed, **kwargs):
    """Best mean test score after each evaluation of one search of BUDGET evaluations."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # failed or non-converging candidates of the space
        search = SparkHyperoptSearchCV(
            estimator,
            space,
            max_evals=BUDGET,
            random_state=seed,
            cv=3,
            parallelism=2,
            refit=False,
            **kwargs,
        ).fit(X, y)
    scores = np.nan_to_num(search.cv_results_["mean_test_score"], nan=-np.inf)
    return np.maximum.accumulate(scores)


def tpe_vs_random_rows(seeds, names):
    settings = {
        "random": {"algo": "random"},
        "TPE": {"algo": "tpe"},
        "TPE, 20 startup": {"algo": "tpe", "n_startup_evals": 20},
    }
    curves, rows, summary = {}, [], []
    for name in names:
        estimator, space, X, y = problems()[name]
        for label, kwargs in settings.items():
            runs = [best_curve(estimator, space, X, y, seed, **kwargs) for seed in seeds]
            curves[name, label] = np.mean(runs, axis=0)
        random_final = curves[name, "random"][-1]
        for label in settings:
            curve = curves[name, label]
            reached = np.flatnonzero(curve >= random_final - 1e-12)
            ahead = all(
                curve[n - 1] >= curves[name, "random"][n - 1] - 1e-12
                for n in range(10, BUDGET + 1)
            )
            summary.append(
                {
                    "problem": name,
                    "method": label,
                    ">= random at every N in 10-60": ahead if label != "random" else "",
                    "evaluations to random's final best": int(reached[0]) + 1
                    if len(reached)
                    else "not reached",
                    "% of budget": round(100 * (reached[0] + 1) / BUDGET) if len(reached) else "",
                }
            )
        for n in CHECKPOINTS:
            row = {"problem": name, "N": n}
            row.update({label: round(float(curves[name, label][n - 1]), 4) for label in settings})
            rows.append(row)
    return rows, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip SparkTrials; fewer seeds")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per TPE/random curve")
    parser.add_argument("--only", choices=["grid", "halving", "tpe"], nargs="+")
    args = parser.parse_args(argv)
    parts = args.only or ["grid", "halving", "tpe"]
    spark = build_local_session("local[2]")
    X, y = load_digits(return_X_y=True)
    if "grid" not in parts:  # the grid part measures the session's first search itself
        # warm-up: start Python workers and import scikit-learn in them
        SparkGridSearchCV(SVC(), {"C": [1.0]}, cv=3).fit(X[:200], y[:200])
    if "grid" in parts:
        report(
            "search_grid",
            grid_rows(spark, X, y, args.quick),
            notes="digits, SVC 8x8 grid, cv=3; same cv_results_ scores as scikit-learn: checked",
        )
    if "halving" in parts:
        report(
            "search_halving",
            halving_rows(X, y),
            notes="digits, SVC 8x8 grid, cv=3, factor=3; halving's cv_results_ equal "
            "scikit-learn's: checked",
        )
    if "tpe" in parts:
        seeds = range(2 if args.quick else args.seeds)
        names = list(problems())[: 2 if args.quick else None]
        rows, summary = tpe_vs_random_rows(seeds, names)
        notes = (
            f"best mean test score after N of {BUDGET} evaluations, mean over seeds {list(seeds)}"
        )
        report("search_tpe_vs_random", rows, notes=notes)
        report("search_tpe_vs_random_summary", summary, notes=notes)


if __name__ == "__main__":
    main()
