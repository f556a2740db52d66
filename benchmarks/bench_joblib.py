"""The "spark" joblib backend against the 2-core limit, joblib's processes and joblibspark.

``python -m benchmarks.bench_joblib [--quick] [--repeat N]``

Three parts, each in one run side by side:

1. scikit-learn calls on ``local[2]`` (2 real cores): ``cross_validate`` of a random forest,
   ``permutation_importance``, ``RFECV`` and a 500-tree forest fit on ``make_classification``
   data (100k rows x 54 features). Each against the 2-core limit (scikit-learn's serial
   time / 2), scikit-learn with ``n_jobs=2`` (joblib's loky processes), joblibspark
   (``SparkDistributedBackend``) and this package's backend. This backend's first call of
   the fresh session is reported apart (cold), then the best of ``--repeat`` warm runs.
2. Data once per call: ``cross_val_score`` of a Ridge on a 500 MiB ``X`` (8 folds) under
   joblibspark and under this backend: time, and the growth of the driver's memory
   (Python process and JVM, sampled every 20 ms) during the call.
3. A simulated 32-slot cluster (``local[32]`` in a child process): 256 fits that sleep
   1 s (no CPU) in scikit-learn's own ``GridSearchCV``; ideal = 256 s / 32 + the 1 s refit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

from ._common import report, timed


def _methods(spark, n_jobs):
    """name -> context manager factory for each way of running a call."""
    from joblib import parallel_config
    from joblibspark.backend import SparkDistributedBackend

    import spark_sklearn_bridge as ssb

    def joblibspark():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # local mode: "no stage-level scheduling"
            backend = SparkDistributedBackend()
        return parallel_config(backend=backend, n_jobs=n_jobs)

    @contextlib.contextmanager
    def serial():
        # One core: native thread pools too, as in each of the parallel runs' workers.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1), parallel_config(backend="sequential", n_jobs=1):
            yield

    return {
        "serial": serial,
        "sklearn n_jobs=2": lambda: parallel_config(backend="loky", n_jobs=n_jobs),
        "joblibspark": joblibspark,
        "ours": lambda: ssb.parallel_backend(n_jobs=n_jobs, spark=spark),
    }


def _cases(quick):
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_selection import RFECV
    from sklearn.inspection import permutation_importance
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = 10_000 if quick else 100_000
    X, y = make_classification(
        n_samples=rows, n_features=54, n_informative=20, n_classes=2, random_state=0
    )
    fitted = RandomForestClassifier(n_estimators=20, max_depth=10, random_state=0).fit(X, y)
    trees = 50 if quick else 500

    return {
        "cross_validate RF(40) cv=4": lambda: cross_validate(
            RandomForestClassifier(n_estimators=40, max_depth=12, random_state=0), X, y, cv=4
        )["test_score"],
        "permutation_importance (54 cols)": lambda: (
            permutation_importance(
                fitted, X[: rows // 5], y[: rows // 5], n_repeats=3, random_state=0
            ).importances_mean
        ),
        "RFECV logistic cv=4": lambda: (
            RFECV(
                make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)),
                step=6,
                cv=4,
                importance_getter="named_steps.logisticregression.coef_",
            )
            .fit(X[: rows // 2], y[: rows // 2])
            .ranking_
        ),
        f"RF({trees}) fit": lambda: (
            RandomForestClassifier(n_estimators=trees, max_depth=8, random_state=0, n_jobs=-1)
            .fit(X, y)
            .feature_importances_
        ),
    }


def part_real(spark, quick, repeat, only=""):
    from spark_sklearn_bridge import parallel_backend

    cases = _cases(quick)
    if only:
        prefixes = only.split(",")
        cases = {k: v for k, v in cases.items() if k.startswith(tuple(prefixes))}
    methods = _methods(spark, n_jobs=2)
    rows = []
    cold = {}
    # The cold figure: this backend's first call in the fresh session.
    for name, case in cases.items():
        with parallel_backend(spark=spark):
            cold[name], _ = timed(case)
        break
    for name, case in cases.items():
        times, results = {}, {}
        for method, config in methods.items():

            def run(case=case, config=config):
                with config():
                    return case()

            times[method], results[method] = timed(run, repeat=1 if method == "serial" else repeat)
        for method, result in results.items():  # every backend computes the same thing
            np.testing.assert_allclose(result, results["serial"], rtol=1e-9, err_msg=method)
        limit = times["serial"] / 2
        rows.append(
            {
                "case": name,
                "serial s": times["serial"],
                "2-core limit s": limit,
                "sklearn n_jobs=2": times["sklearn n_jobs=2"] / limit,
                "joblibspark": times["joblibspark"] / limit,
                "ours (warm)": times["ours"] / limit,
                "ours cold": cold[name] / limit if name in cold else "",
                "ours s": times["ours"],
            }
        )
    report(
        "joblib_real",
        rows,
        "Ratios to the 2-core limit (serial / 2); best of "
        f"{repeat} warm runs; 'ours cold' is the first call of the fresh session.",
    )
    return rows


@contextlib.contextmanager
def _peak_memory(pids):
    """Peak RSS growth (MiB) of each process in ``pids`` while the block runs."""
    import psutil

    procs = {name: psutil.Process(pid) for name, pid in pids.items()}
    base = {name: p.memory_info().rss for name, p in procs.items()}
    peak = dict(base)
    stop = threading.Event()

    def sample():
        while not stop.wait(0.02):
            for name, p in procs.items():
                with contextlib.suppress(psutil.Error):
                    peak[name] = max(peak[name], p.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    growth = {}
    try:
        yield growth
    finally:
        stop.set()
        thread.join()
        growth.update({name: (peak[name] - base[name]) / 2**20 for name in procs})


def part_data_once(spark, quick):
    import psutil
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import cross_val_score

    mib = 50 if quick else 500
    n_features = 50
    rows_n = mib * 2**20 // (8 * n_features)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows_n, n_features))
    y = X[:, 0] - X[:, 1] + rng.normal(size=rows_n)
    jvm = next(
        (c.pid for c in psutil.Process().children(recursive=True) if "java" in c.name()), None
    )
    methods = _methods(spark, n_jobs=2)
    rows = []
    expected = None
    for method in ("ours", "joblibspark"):
        failure = ""
        with _peak_memory({"driver python": os.getpid(), "driver JVM": jvm}) as growth:
            start = time.perf_counter()
            try:
                with methods[method]():
                    scores = cross_val_score(Ridge(), X, y, cv=8)
            except Exception as exc:  # a peer that cannot do it: say how it failed
                failure = f"{type(exc).__name__}: {str(exc)[:120]}"
            seconds = time.perf_counter() - start
        if not failure:
            expected = scores if expected is None else expected
            np.testing.assert_allclose(scores, expected, rtol=1e-9)
        rows.append(
            {
                "method": method,
                "X MiB": X.nbytes / 2**20,
                "seconds": seconds,
                "driver python +MiB": growth["driver python"],
                "driver JVM +MiB": growth["driver JVM"],
                "failed": failure,
            }
        )
    report("joblib_data_once", rows, "cross_val_score(Ridge(), X, y, cv=8): 8 tasks share X.")
    return rows


def part_simulated(slots: int, fits: int, seconds: float):
    """Run in a child process: a fresh local[slots] session."""
    from joblib import parallel_config
    from joblibspark.backend import SparkDistributedBackend
    from sklearn.model_selection import GridSearchCV

    import spark_sklearn_bridge as ssb
    from spark_sklearn_bridge._session import build_local_session

    from ._sleepy import SleepingRegressor, process_cpu

    spark = build_local_session(f"local[{slots}]")
    X = np.arange(200, dtype=float).reshape(100, 2)
    y = np.arange(100, dtype=float)
    grid = {"alpha": list(np.linspace(0.1, 10, fits // 2))}
    ideal = fits * seconds / slots + seconds  # the refit runs after the fits

    def search():
        return GridSearchCV(SleepingRegressor(seconds=seconds), grid, cv=2).fit(X, y)

    out = {"ideal": ideal}
    for label in ("ours cold", "ours warm", "ours warm 2"):
        cpu = process_cpu()
        with ssb.parallel_backend(spark=spark):
            out[label], _ = timed(search)
        out[label + " cpu"] = {k: (v - cpu[k]) / fits * 1000 for k, v in process_cpu().items()}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with parallel_config(backend=SparkDistributedBackend(), n_jobs=slots):
            out["joblibspark"], _ = timed(search)
    print(json.dumps(out))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--simulate", nargs=3, type=float, metavar=("SLOTS", "FITS", "SECONDS"))
    parser.add_argument("--parts", default="real,data,sim")
    parser.add_argument("--cases", default="", help="comma-separated prefixes of part 1's cases")
    args = parser.parse_args(argv)
    if args.simulate:
        slots, fits, seconds = args.simulate
        part_simulated(int(slots), int(fits), seconds)
        return
    parts = args.parts.split(",")
    import warnings

    # joblibspark's threads: pyspark notes, on every job, that they carry no session tags.
    warnings.filterwarnings("ignore", "Spark session is not provided", UserWarning)
    from spark_sklearn_bridge._session import build_local_session

    spark = build_local_session("local[2]")
    if "real" in parts:
        part_real(spark, args.quick, args.repeat, args.cases)
    if "data" in parts:
        part_data_once(spark, args.quick)
    spark.stop()
    if "sim" in parts:
        fits = 64 if args.quick else 256
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_joblib", "--simulate", "32", str(fits), "1"],
            capture_output=True,
            text=True,
            check=True,
        )
        out = json.loads(child.stdout.strip().splitlines()[-1])
        ideal = out["ideal"]
        rows = [
            {
                "method": label,
                "seconds": out[label],
                "x ideal": out[label] / ideal,
                "cpu ms/fit": " ".join(
                    f"{k}={v:.1f}" for k, v in out.get(label + " cpu", {}).items()
                ),
            }
            for label in ("ours cold", "ours warm", "ours warm 2", "joblibspark")
        ]
        report(
            "joblib_simulated",
            rows,
            f"local[32], GridSearchCV of {fits} fits x 1 s sleep (cv=2); ideal {ideal:.1f} s "
            "= fits x 1 s / 32 + the refit.",
        )


if __name__ == "__main__":
    main()
