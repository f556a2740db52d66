"""How GroupedEstimator's fit cost grows with the number of groups (issue #12, point 5).

Groups of 20 rows x 5 features, LinearRegression, for each group count in ``--groups``
(default 1,000 / 10,000 / 50,000 / 200,000): GroupedEstimator.fit on a cached Spark DataFrame
against a serial pandas loop over the same groups, as seconds, microseconds per group, the
ratio to the 2-core limit (serial / 2), and the growth of the driver process's peak RSS
during the fit (``resource.getrusage``; the peak only grows, so each case's figure is what it
added on top of the cases before it). One run per method: the loops are long.

    python -m benchmarks.bench_grouped_scale [--groups 1000 10000] [--quick]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

from spark_sklearn_bridge import GroupedEstimator
from spark_sklearn_bridge._session import build_local_session

from ._common import report

FEATURES = [f"f{i}" for i in range(5)]
ROWS_PER_GROUP = 20


def make_data(n_groups, seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), ROWS_PER_GROUP)
    X = rng.normal(size=(len(g), len(FEATURES)))
    coef = rng.normal(size=(n_groups, len(FEATURES)))
    y = np.einsum("ij,ij->i", X, coef[g]) + rng.normal(scale=0.1, size=len(g))
    return pd.DataFrame(X, columns=FEATURES).assign(g=g, y=y)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def serial_loop(frame):
    return {k: LinearRegression().fit(d[FEATURES], d["y"]) for k, d in frame.groupby("g")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, nargs="+", default=[1000, 10000, 50000, 200000])
    parser.add_argument("--quick", action="store_true", help="1,000 and 5,000 groups only")
    args = parser.parse_args(argv)
    counts = [1000, 5000] if args.quick else args.groups
    spark = build_local_session("local[2]")
    warm = spark.createDataFrame(make_data(50))
    GroupedEstimator(LinearRegression(), "g", feature_cols=FEATURES, label_col="y").fit(warm)
    rows = []
    for n_groups in counts:
        frame = make_data(n_groups)
        sdf = spark.createDataFrame(frame).cache()
        sdf.count()
        model = GroupedEstimator(LinearRegression(), "g", feature_cols=FEATURES, label_col="y")
        before = peak_rss_mib()
        start = time.perf_counter()
        model.fit(sdf)
        ours = time.perf_counter() - start
        grown = peak_rss_mib() - before
        assert model.n_groups_ == n_groups and model.n_failed_groups_ == 0
        start = time.perf_counter()
        serial_loop(frame)
        serial = time.perf_counter() - start
        rows.append(
            {
                "groups": n_groups,
                "serial s": round(serial, 1),
                "GroupedEstimator s": round(ours, 1),
                "us/group": round(ours / n_groups * 1e6),
                "x (serial/2)": round(ours / (serial / 2), 2),
                "driver peak RSS +MiB": round(grown),
            }
        )
        sdf.unpersist()
        del model
    report(
        "grouped_scale",
        rows,
        notes=f"{ROWS_PER_GROUP} rows x {len(FEATURES)} features per group, LinearRegression, "
        "local[2]; one run each",
    )


if __name__ == "__main__":
    main()
