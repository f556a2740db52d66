"""How GroupedEstimator's cost grows with the number of groups (issue #12, point 5).

One run, three parts:

1. **Fit.** Groups of 20 rows x 5 features with LinearRegression, for each count in
   ``--groups`` (default 1,000 / 5,000 / 50,000 / 200,000), plus 5,000 groups of 200 rows x
   10 features with Ridge. GroupedEstimator.fit on a cached Spark DataFrame; reported as
   seconds, microseconds per group, whether the model table stayed distributed, and the
   growth of the driver process's resident memory during the fit (sampled every 20 ms:
   ``getrusage``'s peak only grows, and building the data already set it; the run's
   ``getrusage`` peak is printed too).
2. **Predict** 2,000,000 new rows with the models of the largest LinearRegression case
   (200,000 groups: 10 rows per group, a distributed table) and of the Ridge case (5,000
   groups: 400 rows per group, a shipped table), written to Spark's ``noop`` sink, each
   against a plain-Spark no-op ``mapInPandas`` that adds a constant column to the same rows:
   the floor of any Python prediction. Linear models are predicted in Spark SQL from their
   coefficients; with 400 rows per group the per-group model path that other estimators
   take is measured too.
   Then 2M rows over 20 and 200 groups of decision trees (a shipped table; the model path):
   the no-op floor, the rows hash-partitioned by group first, and each partition predicted as
   it is (the default up to ``UNSHUFFLED_MAX_GROUPS`` groups), interleaved, best of three.
3. **Baseline.** The serial pandas loop over the same groups for every case, last (it holds
   every model in the driver); the ratio to the 2-core limit is ours / (serial / 2).

One run per method: the loops are long (the default run takes about 20 minutes on 2 cores).

    python -m benchmarks.bench_grouped_scale [--groups 1000 5000] [--quick] [--no-serial]
        [--few-groups-only]
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time
from functools import partial

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, Ridge

from spark_sklearn_bridge import GroupedEstimator
from spark_sklearn_bridge._session import build_local_session

from ._common import report, timed


def make_data(n_groups, n_rows, n_features, seed=0):
    rng = np.random.default_rng(seed)
    features = [f"f{i}" for i in range(n_features)]
    g = np.repeat(np.arange(n_groups), n_rows)
    X = rng.normal(size=(len(g), n_features))
    coef = rng.normal(size=(n_groups, n_features))
    y = np.einsum("ij,ij->i", X, coef[g]) + rng.normal(scale=0.1, size=len(g))
    return pd.DataFrame(X, columns=features).assign(g=g, y=y)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def serial_loop(frame, estimator):
    features = [c for c in frame.columns if c.startswith("f")]
    return {k: clone(estimator).fit(d[features], d["y"]) for k, d in frame.groupby("g")}


def noop_sink(df):
    df.write.format("noop").mode("overwrite").save()


def add_constant(batches):
    for batch in batches:
        yield batch.assign(prediction=0.0)


def with_constant(sdf):
    """The plain-Spark floor: a no-op ``mapInPandas`` adding a ``prediction`` column."""
    from pyspark.sql import types as T

    schema = T.StructType([*sdf.schema.fields, T.StructField("prediction", T.DoubleType())])
    return sdf.mapInPandas(add_constant, schema)


class RssSampler:
    """Peak resident memory of this (driver) process while the block runs, sampled from
    ``/proc/self/statm`` every 20 ms: ``getrusage``'s peak only grows, so after the data is
    built it cannot show what a fit adds."""

    def __init__(self):
        self.page = os.sysconf("SC_PAGE_SIZE")

    def rss_mib(self) -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * self.page / 2**20

    def __enter__(self):
        self.start = self.peak = self.rss_mib()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self.done.wait(0.02):
            self.peak = max(self.peak, self.rss_mib())

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, self.rss_mib())

    @property
    def growth(self) -> float:
        return self.peak - self.start


def predict_rows(spark, model, n_groups, n_features, n_rows=2_000_000):
    """2M new rows spread over the model's groups: the no-op floor, then predict."""
    per_group = max(1, n_rows // n_groups)
    data = spark.createDataFrame(make_data(n_groups, per_group, n_features, seed=1))
    # 2 partitions per core, as a user's table would have (a 2M-row pandas frame becomes 200
    # partitions of 10,000 rows, whose task overhead would dominate the floor)
    data = data.drop("y").repartition(4).cache()
    count = data.count()
    where = "distributed" if model._table.distributed is not None else "shipped"
    rows = []
    methods = [  # each timed from the predict call on (its check for unseen groups is a job)
        ("no-op mapInPandas (floor)", with_constant),
        ("GroupedEstimator.predict (linear, Spark SQL)", model.predict),
    ]
    if per_group >= 100:  # the per-group model path: one model load + predict per group
        methods.append(("GroupedEstimator.predict (model path)", partial(model_path, model)))
    for method, predict in methods:
        with RssSampler() as rss:  # best of two runs: the first may still fill caches
            seconds = timed(lambda: noop_sink(predict(data)), repeat=2)[0]  # noqa: B023
        rows.append(
            {
                "models": f"{n_groups} groups ({where})",
                "rows per group": per_group,
                "method": method,
                "rows": count,
                "seconds": round(seconds, 1),
                "rows/s": round(count / seconds),
                "driver RSS peak +MiB": round(rss.growth),
            }
        )
    for row in rows:
        row["share of floor"] = round(row["rows/s"] / rows[0]["rows/s"], 2)
    data.unpersist()
    return rows


def model_path(model, data):
    """``model.predict(data)`` through the per-group model path that every estimator type
    takes (the linear columns hidden from the table; a benchmark-only knob)."""
    linear = model._table.frame["intercept"].copy()
    model._table.frame["intercept"] = None
    try:
        return model.predict(data)
    finally:
        model._table.frame["intercept"] = linear


def few_groups_rows(spark, counts=(20, 200), n_rows=2_000_000):
    """The model path over a few groups of trees, with and without the shuffle by group."""
    from sklearn.tree import DecisionTreeRegressor

    from spark_sklearn_bridge.grouped import _predict

    default = _predict.UNSHUFFLED_MAX_GROUPS
    rows = []
    for n_groups in counts:
        tree = DecisionTreeRegressor(max_depth=8, random_state=0)
        model = GroupedEstimator(tree, "g", label_col="y")
        model.fit(spark.createDataFrame(make_data(n_groups, 200, 10)))
        data = spark.createDataFrame(make_data(n_groups, n_rows // n_groups, 10, seed=1))
        data = data.drop("y").repartition(4).cache()  # rows of every group in each partition
        count = data.count()
        methods = {
            "no-op mapInPandas (floor)": (None, with_constant),
            "model path, hash-partitioned by group": (0, model.predict),
            "model path, each partition as it is": (10**9, model.predict),
        }
        best = dict.fromkeys(methods, float("inf"))
        try:
            for _ in range(3):  # interleaved: the machine's drift hits every method alike
                for method, (limit, predict) in methods.items():
                    _predict.UNSHUFFLED_MAX_GROUPS = default if limit is None else limit
                    # timed from the predict call on: its check for unseen groups is a job
                    seconds = timed(lambda: noop_sink(predict(data)))[0]  # noqa: B023
                    best[method] = min(best[method], seconds)
        finally:
            _predict.UNSHUFFLED_MAX_GROUPS = default
        chosen = "as it is" if n_groups <= default else "hash-partitioned"
        for method, seconds in best.items():
            rows.append(
                {
                    "models": f"{n_groups} groups (trees, shipped)",
                    "method": method + (" (default)" if method.endswith(chosen) else ""),
                    "rows": count,
                    "seconds": round(seconds, 2),
                    "share of floor": round(best["no-op mapInPandas (floor)"] / seconds, 2),
                }
            )
        data.unpersist()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, nargs="+", default=[1000, 5000, 50000, 200000])
    parser.add_argument("--quick", action="store_true", help="1,000 and 5,000 groups only")
    parser.add_argument("--no-serial", action="store_true", help="skip the serial baselines")
    parser.add_argument(
        "--few-groups-only", action="store_true", help="only the few-groups predictions"
    )
    args = parser.parse_args(argv)
    counts = [1000, 5000] if args.quick else sorted(args.groups)
    cases = [(f"linreg {n}x20x5", LinearRegression(), (n, 20, 5)) for n in counts]
    cases.append(("ridge 5000x200x10", Ridge(), (5000 if not args.quick else 500, 200, 10)))
    spark = build_local_session("local[2]")
    warm = spark.createDataFrame(make_data(50, 20, 5))
    GroupedEstimator(LinearRegression(), "g", label_col="y").fit(warm)
    noop_sink(with_constant(warm))
    few = few_groups_rows(spark)
    report("grouped_scale_predict_few", few, notes="2M new rows to Spark's noop sink")
    if args.few_groups_only:
        return

    rows, predicted = [], []
    for name, estimator, shape in cases:  # 1. fits, 2. predictions with the largest tables
        sdf = spark.createDataFrame(make_data(*shape)).cache()
        sdf.count()
        model = GroupedEstimator(estimator, "g", label_col="y")
        with RssSampler() as rss:
            start = time.perf_counter()
            model.fit(sdf)
            seconds = time.perf_counter() - start
        assert model.n_groups_ == shape[0] and model.n_failed_groups_ == 0
        rows.append(
            {
                "case": name,
                "groups": shape[0],
                "GroupedEstimator s": round(seconds, 1),
                "us/group": round(seconds / shape[0] * 1e6),
                "table": "distributed" if model._table.distributed is not None else "driver",
                "driver RSS peak +MiB": round(rss.growth),
            }
        )
        sdf.unpersist()
        if shape[0] == max(counts) or isinstance(estimator, Ridge):
            predicted += predict_rows(spark, model, shape[0], shape[2])
        model._table.release()
        del model

    for row, (_, estimator, shape) in zip(rows, cases):  # 3. the serial baseline
        if args.no_serial:
            break
        frame = make_data(*shape)
        start = time.perf_counter()
        serial_loop(frame, estimator)
        serial = time.perf_counter() - start
        row["serial s"] = round(serial, 1)
        row["x (serial/2)"] = round(row["GroupedEstimator s"] / (serial / 2), 2)

    report(
        "grouped_scale",
        rows,
        notes="local[2]; one run each; fits first, the serial loops last (see the docstring); "
        f"driver peak RSS over the whole run (getrusage): {peak_rss_mib():.0f} MiB",
    )
    report("grouped_scale_predict", predicted, notes="2M new rows to Spark's noop sink")


if __name__ == "__main__":
    main()
