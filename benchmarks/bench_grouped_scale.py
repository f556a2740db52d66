"""How GroupedEstimator's cost grows with the number of groups (issue #12, point 5).

One run, three parts:

1. **Fit.** Groups of 20 rows x 5 features with LinearRegression, for each count in
   ``--groups`` (default 1,000 / 5,000 / 50,000 / 200,000), plus 5,000 groups of 200 rows x
   10 features with Ridge. GroupedEstimator.fit on a cached Spark DataFrame; reported as
   seconds, microseconds per group, whether the model table stayed distributed, and the
   growth of the driver process's peak RSS during the fit (``resource.getrusage``, over the
   peak before it).
2. **Predict** 2,000,000 rows (half the rows of every group of the largest case) with its
   models, written to Spark's ``noop`` sink, against a plain-Spark no-op ``mapInPandas``
   that adds a constant column to the same rows: the floor of any Python prediction.
3. **Baseline.** The serial pandas loop over the same groups for every case, last (it holds
   every model in the driver, which would inflate the RSS figures of the fits after it);
   the ratio to the 2-core limit is ours / (serial / 2).

One run per method: the loops are long (the default run takes about 20 minutes on 2 cores).

    python -m benchmarks.bench_grouped_scale [--groups 1000 5000] [--quick]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, Ridge

from spark_sklearn_bridge import GroupedEstimator
from spark_sklearn_bridge._session import build_local_session

from ._common import report


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, nargs="+", default=[1000, 5000, 50000, 200000])
    parser.add_argument("--quick", action="store_true", help="1,000 and 5,000 groups only")
    args = parser.parse_args(argv)
    counts = [1000, 5000] if args.quick else sorted(args.groups)
    cases = [(f"linreg {n}x20x5", LinearRegression(), (n, 20, 5)) for n in counts]
    cases.append(("ridge 5000x200x10", Ridge(), (5000 if not args.quick else 500, 200, 10)))
    spark = build_local_session("local[2]")
    warm = spark.createDataFrame(make_data(50, 20, 5))
    GroupedEstimator(LinearRegression(), "g", label_col="y").fit(warm)
    noop_sink(with_constant(warm))

    rows, biggest = [], None
    for name, estimator, shape in cases:  # 1. fits
        sdf = spark.createDataFrame(make_data(*shape)).cache()
        sdf.count()
        model = GroupedEstimator(estimator, "g", label_col="y")
        before = peak_rss_mib()
        start = time.perf_counter()
        model.fit(sdf)
        seconds = time.perf_counter() - start
        grown = peak_rss_mib() - before
        assert model.n_groups_ == shape[0] and model.n_failed_groups_ == 0
        rows.append(
            {
                "case": name,
                "groups": shape[0],
                "GroupedEstimator s": round(seconds, 1),
                "us/group": round(seconds / shape[0] * 1e6),
                "table": "distributed" if model._table.distributed is not None else "driver",
                "driver peak RSS +MiB": round(grown),
            }
        )
        if isinstance(estimator, LinearRegression) and shape[0] == max(counts):
            biggest = (sdf, model)
        else:
            sdf.unpersist()
            del model

    sdf, model = biggest  # 2. predict
    data = sdf.filter(sdf["f0"] > 0).limit(2_000_000).cache()  # ~half of every group's rows
    n_rows = data.count()
    before = peak_rss_mib()
    predicted = []
    for method, scored in [
        ("no-op mapInPandas (floor)", with_constant(data)),
        ("GroupedEstimator.predict", model.predict(data)),
    ]:
        start = time.perf_counter()
        noop_sink(scored)
        seconds = time.perf_counter() - start
        predicted.append(
            {
                "method": method,
                "rows": n_rows,
                "seconds": round(seconds, 1),
                "rows/s": round(n_rows / seconds),
            }
        )
    floor = predicted[0]["rows/s"]
    for row in predicted:
        row["share of floor"] = round(row["rows/s"] / floor, 2)
    predicted[-1]["driver peak RSS +MiB"] = round(peak_rss_mib() - before)
    predicted[0]["driver peak RSS +MiB"] = ""
    data.unpersist()
    sdf.unpersist()
    del model, biggest

    for row, (_, estimator, shape) in zip(rows, cases):  # 3. the serial baseline
        frame = make_data(*shape)
        start = time.perf_counter()
        serial_loop(frame, estimator)
        serial = time.perf_counter() - start
        row["serial s"] = round(serial, 1)
        row["x (serial/2)"] = round(row["GroupedEstimator s"] / (serial / 2), 2)

    report(
        "grouped_scale",
        rows,
        notes="local[2]; one run each; fits first, the serial loops last (see the docstring)",
    )
    report("grouped_scale_predict", predicted, notes=f"models of {cases[-2][0]}")


if __name__ == "__main__":
    main()
