"""Scheduling efficiency on simulated clusters of 16 to 128 task slots (issue #26).

``python -m benchmarks.bench_scale [--slots 16 32 64 128] [--cluster] [--quick]``

Fits that sleep cost no CPU, so ``local[N]`` with N far above the 2 real cores measures what
scheduling costs: ideal = the work / N, plus what must run serially. Each slot count runs in
a fresh child process (a new session, so the first call is a cold one as in a notebook);
``--cluster`` adds a loopback standalone cluster of 4 workers x 8 cores (32 slots). Cases,
each with ``4 x N`` one-second fits unless said otherwise:

* ``grid`` / ``random``: ``SparkGridSearchCV`` / ``SparkRandomizedSearchCV`` of a sleeping
  regressor, ``2 x N`` candidates x ``cv=2``; ideal = 4 s + the 1 s refit.
* ``halving``: ``SparkHalvingGridSearchCV`` of the same candidates (factor 4, no refit), fit
  time proportional to the rows (2 s in the last iteration); ideal = the sum over its
  iterations of waves x that iteration's measured fit time; "s/iter over ideal" is the
  overhead each iteration pays beyond its fits.
* ``hyperopt``: ``SparkHyperoptSearchCV`` (TPE, ``max_evals=2 x N``, ``parallelism=N``,
  cv=2); peer: Hyperopt's ``fmin`` with ``SparkTrials(parallelism=N)`` on the same
  objective (each trial runs its 2 folds in turn: 2 s).
* ``grouped``: ``GroupedEstimator`` over 2,000 groups of 20 rows plus one of 2,000 rows, fit
  time 2 ms a row (40 ms per group, 4 s for the large one); ideal = max(largest group, work
  / N), from the fit times the model table records ("nominal ideal": from 2 ms a row); the
  session's first fit, then warm; then ``placement="size"`` (groups counted
  first, the largest started first): first and warm.
* ``joblib GridSearchCV``: scikit-learn's own ``GridSearchCV(n_jobs=-1)`` under
  ``parallel_backend()``, peer: joblibspark; ``joblib Parallel``: ``4 x N`` calls of
  ``time.sleep(1)``, same peer (its rows: the best of as many calls as a warm row's).
* ``task launch floor``: a job of N tasks that do nothing, Python (an RDD, as the
  searches' and the joblib backend's jobs are) and JVM-only, warm, best of 3: what each
  launch of a round's, a call's or an iteration's tasks costs before any fit runs (no
  ideal; CPU per task).

"cold" / "first" rows are the session's first call of their kind (its Python workers fork
then; the JVM compiles its hot paths over the first few calls); a "warm" row is the best of
the next :data:`WARM_RUNS` calls by ratio, with the median ratio of those calls beside it.
SparkTrials runs once (minutes a run).

Every row: wall seconds, the ideal, their ratio, and the CPU spent per fit (milliseconds),
split into the driver's Python process, the JVM (the driver, and in local mode every
executor) and the Python workers. The driver's share is what still serialises on a real
cluster of any size; the rest spreads over its executors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ._common import report
from ._sleepy import SleepingRegressor, noop_partition, process_cpu

FIT_SECONDS = 1.0
GROUP_ROW_SECONDS = 0.002
#: A warm row is the best of this many calls (by its ratio to the ideal), after the
#: session's first; its "median x ideal" is the median of those calls.
WARM_RUNS = 3


def _data(rows=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3))
    return X, X @ [1.0, 2.0, 0.0] + rng.normal(size=rows)


class _Meter:
    """Wall time and CPU by process of one case; ``extra`` pids (a standalone cluster's
    daemons) count as workers' CPU."""

    def __init__(self, extra_pids=()):
        self.extra = list(extra_pids)

    def cpu(self):
        out = process_cpu()
        if self.extra:
            import psutil

            for pid in self.extra:
                with contextlib.suppress(psutil.Error):
                    for proc in [psutil.Process(pid), *psutil.Process(pid).children(True)]:
                        with contextlib.suppress(psutil.Error):
                            t = proc.cpu_times()
                            out["workers"] += t.user + t.system
        return out

    def run(self, call):
        before, start = self.cpu(), time.perf_counter()
        result = call()
        seconds = time.perf_counter() - start
        after = self.cpu()
        return seconds, {k: after[k] - before[k] for k in before}, result


def _row(case, method, seconds, ideal, fits, cpu, median=None, **extra):
    row = {
        "case": case,
        "method": method,
        "seconds": round(seconds, 2),
        "ideal": round(ideal, 2),
        "x ideal": round(seconds / ideal, 3),
        "median x ideal": "" if median is None else median,  # of a warm row's calls
        "fits": fits,
    }
    for part in ("driver", "jvm", "workers"):
        # Negative: processes that exited during the case took their counters with them
        # (SparkTrials' and joblibspark's workers): not measurable this way.
        ms = cpu[part] / fits * 1000
        row[f"{part} ms/fit"] = round(ms, 2) if ms >= 0 else "n/a"
    row.update(extra)
    return row


def _warm(meter, call, ideal_of, runs=WARM_RUNS):
    """``(seconds, ideal, cpu, result, median ratio)`` of the best of ``runs`` calls of
    ``call``, by seconds / ``ideal_of(result)``."""
    measured = []
    for _ in range(runs):
        seconds, cpu, result = meter.run(call)
        ideal = ideal_of(result)
        measured.append((seconds / ideal, seconds, ideal, cpu, result))
    best = min(measured, key=lambda m: m[0])
    return (*best[1:], round(statistics.median(m[0] for m in measured), 3))


def _search_ideal(search, slots) -> float:
    """Waves of equal fits per iteration, each as long as its measured mean fit, + refit."""
    results = pd.DataFrame(search.cv_results_)
    n_splits = search.n_splits_
    iterations = results["iter"] if "iter" in results else pd.Series(0, index=results.index)
    total = 0.0
    for _, part in results.groupby(iterations):
        fits = len(part) * n_splits
        total += math.ceil(fits / slots) * float(part["mean_fit_time"].mean())
    return total + float(getattr(search, "refit_time_", 0.0))


def case_searches(spark, slots, meter, rows):
    import spark_sklearn_bridge as ssb

    X, y = _data()
    n_candidates = 2 * slots
    grid = {"alpha": list(np.linspace(0.5, 1.5, n_candidates))}
    searches = {
        "grid": lambda: ssb.SparkGridSearchCV(
            SleepingRegressor(seconds=FIT_SECONDS), grid, cv=2, spark=spark
        ),
        "random": lambda: ssb.SparkRandomizedSearchCV(
            SleepingRegressor(seconds=FIT_SECONDS),
            grid,
            n_iter=n_candidates,
            cv=2,
            random_state=0,
            spark=spark,
        ),
    }
    ideal_of = partial(_search_ideal, slots=slots)
    seconds, cpu, search = meter.run(lambda: searches["grid"]().fit(X, y))
    rows.append(_row("grid", "ours cold", seconds, ideal_of(search), 2 * n_candidates, cpu))
    for case, make in searches.items():
        seconds, ideal, cpu, _, median = _warm(meter, lambda make=make: make().fit(X, y), ideal_of)
        rows.append(_row(case, "ours warm", seconds, ideal, 2 * n_candidates, cpu, median=median))

    # Halving (factor 4): fit time proportional to the rows, 2 s in the last iteration.
    last = int(math.log(n_candidates, 4))  # iterations - 1
    Xh, yh = _data(rows=64 * 4**last)
    halving = ssb.SparkHalvingGridSearchCV(
        SleepingRegressor(seconds=2.0 / 4**last, unit_rows=32),
        grid,
        factor=4,
        cv=2,
        min_resources=64,
        refit=False,
        spark=spark,
    )
    seconds, ideal, cpu, search, median = _warm(meter, lambda: halving.fit(Xh, yh), ideal_of)
    n_iter = search.n_iterations_
    fits = int(sum(search.n_candidates_)) * 2
    over = {"iterations": n_iter, "s/iter over ideal": round((seconds - ideal) / n_iter, 3)}
    rows.append(_row("halving", "ours warm", seconds, ideal, fits, cpu, median=median, **over))


def case_hyperopt(spark, slots, meter, rows, peers):
    import hyperopt
    from sklearn.model_selection import cross_val_score

    import spark_sklearn_bridge as ssb

    X, y = _data()
    max_evals = 2 * slots
    space = {"alpha": hyperopt.hp.uniform("alpha", 0.5, 1.5)}
    search = ssb.SparkHyperoptSearchCV(
        SleepingRegressor(seconds=FIT_SECONDS),
        space,
        max_evals=max_evals,
        parallelism=slots,
        cv=2,
        random_state=0,
        spark=spark,
    )

    # The session's first Hyperopt search (its fits unpickle Hyperopt's space: a worker not
    # forked from this package's daemon imports Hyperopt then, 0.2 s of CPU); then warm.
    def ideal_of(fitted):
        return max_evals * 2 * FIT_SECONDS / slots + fitted.refit_time_

    seconds, cpu, _ = meter.run(lambda: search.fit(X, y))
    rows.append(_row("hyperopt", "ours first", seconds, ideal_of(search), 2 * max_evals, cpu))
    seconds, ideal, cpu, _, median = _warm(meter, lambda: search.fit(X, y), ideal_of)
    rows.append(_row("hyperopt", "ours warm", seconds, ideal, 2 * max_evals, cpu, median=median))
    if not peers or not hasattr(spark, "sparkContext"):
        return

    def objective(params):
        return -cross_val_score(
            SleepingRegressor(seconds=FIT_SECONDS, **params), X, y, cv=2
        ).mean()

    def spark_trials():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trials = hyperopt.SparkTrials(parallelism=slots, spark_session=spark)
            hyperopt.fmin(
                objective,
                space,
                algo=hyperopt.tpe.suggest,
                max_evals=max_evals,
                trials=trials,
                show_progressbar=False,
                rstate=np.random.default_rng(0),
            )

    ideal = max_evals * 2 * FIT_SECONDS / slots
    try:  # once: it takes minutes
        seconds, cpu, _ = meter.run(spark_trials)
    except Exception as error:  # a peer's failure is a result, not the end of the run
        rows.append({"case": "hyperopt", "method": "SparkTrials", "failed": str(error)[:80]})
        return
    rows.append(_row("hyperopt", "SparkTrials", seconds, ideal, 2 * max_evals, cpu))


def case_grouped(spark, slots, meter, rows, n_groups=2000):
    import spark_sklearn_bridge as ssb

    sizes = [20] * n_groups + [2000]
    frame = pd.DataFrame(
        {
            "g": np.repeat(np.arange(len(sizes)), sizes),
            "x": np.random.default_rng(0).normal(size=sum(sizes)),
        }
    ).assign(y=lambda d: d["x"] * 2.0)
    data = spark.createDataFrame(frame).cache()
    data.count()
    model = ssb.GroupedEstimator(
        SleepingRegressor(seconds=GROUP_ROW_SECONDS, unit_rows=1),
        "g",
        feature_cols=["x"],
        label_col="y",
        spark=spark,
    )
    case = "grouped (1 group 100x)"
    nominal = max(max(sizes), sum(sizes) / slots) * GROUP_ROW_SECONDS

    def ideal_of(fitted):
        # As the searches' ideal: the fits as long as they were measured (a sleep on the 2
        # busy cores overruns a little: 1-2 % at 16 slots), the largest or the work / slots.
        took = fitted.model_table_.select("fit_seconds").toPandas()["fit_seconds"]
        return max(took.max(), took.sum() / slots)

    # The session's first grouped fit (its plan compiled, Python workers forked for the
    # slots the searches did not use), then warm; then placement="size" (its counting
    # job's plan is new in the first), warm.
    for placement, name in (("hash", "ours"), ("size", "ours placement='size'")):
        model.set_params(placement=placement)
        seconds, cpu, _ = meter.run(lambda: model.fit(data))
        first = _row(case, f"{name} first", seconds, ideal_of(model), len(sizes), cpu)
        seconds, ideal, cpu, _, median = _warm(meter, lambda: model.fit(data), ideal_of)
        warm = _row(case, f"{name} warm", seconds, ideal, len(sizes), cpu, median=median)
        for row in (first, warm):
            row["nominal ideal"] = round(nominal, 2)
            rows.append(row)
    data.unpersist()


def case_floor(spark, slots, meter, rows, repeat=3):
    """What one launch of ``slots`` tasks costs, doing nothing: a Python RDD job (what a
    search round, a joblib call or a halving iteration launches) and a JVM-only one
    (``spark.range`` to the ``noop`` sink), warm, best of ``repeat``. CPU per task."""
    python = spark.sparkContext.parallelize(range(slots), slots).mapPartitions(noop_partition)
    jvm = spark.range(0, slots, 1, slots).write.format("noop").mode("overwrite")
    for method, run in (
        (f"{slots} no-op Python tasks", python.collect),
        (f"{slots} no-op JVM tasks", jvm.save),
    ):
        run()  # warm-up
        best = min((meter.run(run)[:2] for _ in range(repeat)), key=lambda m: m[0])
        seconds, cpu = best
        row = {"case": "task launch floor", "method": method, "seconds": round(seconds, 3)}
        row.update({"ideal": "", "x ideal": "", "fits": slots})
        for part in ("driver", "jvm", "workers"):
            row[f"{part} ms/fit"] = round(cpu[part] / slots * 1000, 2)
        rows.append(row)


def case_joblib(spark, slots, meter, rows, peers):
    from joblib import parallel_config

    import spark_sklearn_bridge as ssb

    X, y = _data()
    grid = {"alpha": list(np.linspace(0.5, 1.5, 2 * slots))}
    ours = lambda: ssb.parallel_backend(spark=spark)  # noqa: E731
    # The first scikit-learn call, then warm; the peer: the best of as many calls.
    methods = {"ours cold": (ours, 1), "ours warm": (ours, WARM_RUNS)}
    if peers and hasattr(spark, "sparkContext"):
        from joblibspark.backend import SparkDistributedBackend

        def joblibspark():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                backend = SparkDistributedBackend()
            return parallel_config(backend=backend, n_jobs=slots)

        methods["joblibspark"] = (joblibspark, WARM_RUNS)
    for method, (config, runs) in methods.items():
        try:
            _joblib_rows(method, config, runs, slots, meter, rows, X, y, grid)
        except Exception as error:  # a peer's failure is a result, not the end of the run
            if method.startswith("ours"):
                raise
            failed = f"{type(error).__name__}: {str(error)[:60]}"
            rows.append({"case": "joblib", "method": method, "failed": failed})


def _joblib_rows(method, config, runs, slots, meter, rows, X, y, grid):
    """A ``GridSearchCV(n_jobs=-1)`` and a ``Parallel`` call under ``config()``: rows of the
    best of ``runs`` calls each (with their median when ``runs`` > 1)."""
    from joblib import Parallel, delayed
    from sklearn.model_selection import GridSearchCV

    def search():
        found = GridSearchCV(SleepingRegressor(seconds=FIT_SECONDS), grid, cv=2, n_jobs=-1)
        return found.fit(X, y)

    def sleeps():
        return Parallel(n_jobs=-1)(delayed(time.sleep)(FIT_SECONDS) for _ in range(4 * slots))

    cases = (
        ("joblib GridSearchCV", search, lambda found: 4 * FIT_SECONDS + found.refit_time_),
        ("joblib Parallel", sleeps, lambda _: 4 * FIT_SECONDS),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joblibspark's and pyspark's notes
        with config():
            for case, call, ideal_of in cases:
                seconds, ideal, cpu, _, median = _warm(meter, call, ideal_of, runs)
                median = median if runs > 1 else None
                rows.append(_row(case, method, seconds, ideal, 4 * slots, cpu, median=median))


def child(slots, master=None, extra_pids=(), peers=True, cases="all"):
    """One fresh session of ``slots`` slots: every case, rows printed as JSON."""
    from spark_sklearn_bridge._session import build_local_session

    warnings.filterwarnings("ignore", "Spark session is not provided", UserWarning)
    if master:
        # Executors of a standalone cluster start elsewhere: the sleeping estimator travels
        # by value.
        import cloudpickle
        from pyspark import cloudpickle as spark_cloudpickle  # SparkTrials', joblibspark's

        from . import _sleepy

        cloudpickle.register_pickle_by_value(_sleepy)
        spark_cloudpickle.register_pickle_by_value(_sleepy)
        spark = build_local_session(
            master,
            {
                "spark.driver.host": "127.0.0.1",
                "spark.executor.memory": "1g",
                "spark.cores.max": str(slots),
            },
        )
    else:
        spark = build_local_session(f"local[{slots}]")
    meter, rows = _Meter(extra_pids), []
    wanted = (
        set(cases.split(","))
        if cases != "all"
        else {"search", "hyperopt", "grouped", "joblib", "floor"}
    )
    # Hyperopt last: SparkTrials runs for minutes, and pyspark stops Python workers idle
    # for a minute, which would make the next case a cold one.
    if "search" in wanted:
        case_searches(spark, slots, meter, rows)
    if "joblib" in wanted:
        case_joblib(spark, slots, meter, rows, peers)
    if "grouped" in wanted:
        case_grouped(spark, slots, meter, rows)
    if "floor" in wanted:
        case_floor(spark, slots, meter, rows)
    if "hyperopt" in wanted:
        case_hyperopt(spark, slots, meter, rows, peers)
    spark.stop()
    print(json.dumps(rows))


def _run_child(args: list) -> list:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_scale", *args],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise RuntimeError(f"bench_scale {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slots", type=int, nargs="*", default=[16, 32, 64, 128])
    parser.add_argument(
        "--cluster", action="store_true", help="also a standalone 4x8-slot cluster"
    )
    parser.add_argument("--no-peers", action="store_true", help="skip joblibspark, SparkTrials")
    parser.add_argument("--cases", default="all", help="search,hyperopt,grouped,joblib,floor")
    parser.add_argument("--quick", action="store_true", help="16 and 32 slots only")
    parser.add_argument("--name", default="scale", help="results/NAME.json")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--master", help=argparse.SUPPRESS)
    parser.add_argument("--pids", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        pids = [int(p) for p in args.pids.split(",") if p]
        child(args.child, args.master, pids, not args.no_peers, args.cases)
        return
    common = ["--cases", args.cases] + (["--no-peers"] if args.no_peers else [])
    rows = []
    for slots in [16, 32] if args.quick else args.slots:
        for row in _run_child(["--child", str(slots), *common]):
            rows.append({"slots": slots, "engine": "local", **row})
    if args.cluster:
        sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "engines"))
        from harness import start_standalone

        with tempfile.TemporaryDirectory() as work:
            cluster = start_standalone(Path(work), n_workers=4, cores=8, memory="2g")
            try:
                pids = [cluster.master.pid] + [w.pid for w in cluster.workers]
                extra = ["--master", cluster.master_url, "--pids", ",".join(map(str, pids))]
                for row in _run_child(["--child", "32", *extra, *common]):
                    rows.append({"slots": 32, "engine": "standalone 4x8", **row})
            finally:
                cluster.stop()
    keys = sorted(
        {k for r in rows for k in r}, key=lambda k: list(rows[0]).index(k) if k in rows[0] else 99
    )
    rows = [{k: r.get(k, "") for k in keys} for r in rows]
    trend = []
    for case in dict.fromkeys(r["case"] for r in rows):
        ours = [
            r
            for r in rows
            if r["case"] == case
            and r["method"].startswith("ours")
            and not r["method"].endswith(("cold", "first"))
        ]
        if not ours:  # the task launch floor has no ideal
            continue
        trend.append(
            f"{case}: x ideal by slots "
            + ", ".join(
                f"{r['slots']}{'*' if r['engine'] != 'local' else ''}={r['x ideal']}" for r in ours
            )
        )
    report(args.name, rows, notes="\n".join(trend) + "\n(* a standalone cluster)")


if __name__ == "__main__":
    main()
