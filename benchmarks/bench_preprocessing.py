"""A real table's pipeline on Spark: SparkMLEstimator against the same hand-written pyspark.ml
Pipeline (issue #24, point 6).

``python -m benchmarks.bench_preprocessing [--rows N] [--repeat N]``

A cached table of ``--rows`` rows (5,000,000 by default) with 3 string columns (50, 12 and 8
categories) and 10 double columns, and a binary label; on ``local[2]``, side by side in one
run:

- ours: ``SparkMLEstimator(make_pipeline(make_column_transformer((OneHotEncoder(), strings),
  (StandardScaler(), numbers)), LogisticRegression()))``;
- by hand: ``StringIndexer`` (alphabetical, as scikit-learn orders categories) +
  ``OneHotEncoder(dropLast=False)`` + ``VectorAssembler`` + ``StandardScaler`` (with the
  population-std correction) + ``VectorAssembler`` + ``LogisticRegression`` with the same
  translated parameters (``regParam = 1 / (C n)``, no standardization, same ``maxIter`` and
  ``tol``), which is what a user who knows both libraries would write;
- for context, scikit-learn's own pipeline on a 500,000-row sample collected to the driver.

Reported: the cold first fit of each (the order alternates between the two), then the best
of ``--repeat`` warm fits, their ratio (goal: ours <= 1.1x by hand), and the L-BFGS
iterations of each (equal work needs equal iterations).
"""

from __future__ import annotations

import argparse
import time

from ._common import report, timed

STRINGS = {"city": 50, "plan": 12, "device": 8}
NUMBERS = [f"n{i}" for i in range(10)]


def make_table(spark, rows: int):
    from pyspark.sql import functions as F

    frame = spark.range(rows).repartition(8)
    columns = [
        F.concat(F.lit(name[0]), F.floor(F.rand(i) * k).cast("string")).alias(name)
        for i, (name, k) in enumerate(STRINGS.items())
    ]
    columns += [(F.randn(10 + i) * (i + 1) + i).alias(n) for i, n in enumerate(NUMBERS)]
    frame = frame.select(*columns)
    signal = F.col("n0") / 1 - F.col("n1") / 2 + (F.col("city") < "c3").cast("double")
    frame = frame.withColumn("label", (signal + F.randn(99) > 0).cast("int"))
    return frame.cache()


def ours(table):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from spark_sklearn_bridge import SparkMLEstimator

    pipeline = make_pipeline(
        make_column_transformer((OneHotEncoder(), list(STRINGS)), (StandardScaler(), NUMBERS)),
        LogisticRegression(),
    )
    model = SparkMLEstimator(pipeline, feature_cols=[*STRINGS, *NUMBERS]).fit(table)
    return model.spark_model_.stages[-1].summary.totalIterations


def by_hand(table):
    import numpy as np
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import (
        ElementwiseProduct,
        OneHotEncoder,
        StandardScaler,
        StringIndexer,
        VectorAssembler,
    )
    from pyspark.ml.linalg import Vectors

    n = table.count()
    strings = list(STRINGS)
    factor = float(np.sqrt(n / (n - 1)))  # Spark's sample std -> scikit-learn's population std
    stages = [
        StringIndexer(
            inputCols=strings,
            outputCols=[f"{s}_i" for s in strings],
            stringOrderType="alphabetAsc",
        ),
        OneHotEncoder(
            inputCols=[f"{s}_i" for s in strings],
            outputCols=[f"{s}_v" for s in strings],
            dropLast=False,
        ),
        VectorAssembler(inputCols=NUMBERS, outputCol="numbers"),
        StandardScaler(withMean=True, withStd=True, inputCol="numbers", outputCol="scaled0"),
        ElementwiseProduct(
            scalingVec=Vectors.dense([factor] * len(NUMBERS)),
            inputCol="scaled0",
            outputCol="scaled",
        ),
        VectorAssembler(inputCols=[f"{s}_v" for s in strings] + ["scaled"], outputCol="features"),
        LogisticRegression(
            regParam=1.0 / n,
            elasticNetParam=0.0,
            standardization=False,
            maxIter=100,
            tol=1e-4,
            labelCol="label",
        ),
    ]
    data = table.withColumn("label", table["label"].cast("double"))
    model = Pipeline(stages=stages).fit(data)
    return model.stages[-1].summary.totalIterations


def sklearn_sample(table, rows: int):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    sample = table.limit(rows).toPandas()
    pipeline = make_pipeline(
        make_column_transformer((OneHotEncoder(), list(STRINGS)), (StandardScaler(), NUMBERS)),
        LogisticRegression(),
    )
    start = time.perf_counter()
    pipeline.fit(sample[[*STRINGS, *NUMBERS]], sample["label"])
    return time.perf_counter() - start, int(pipeline[-1].n_iter_[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--sample", type=int, default=500_000)
    args = parser.parse_args(argv)

    from spark_sklearn_bridge._session import build_local_session

    spark = build_local_session("local[2]")
    table = make_table(spark, args.rows)
    table.count()  # cached before either method runs
    cold = {}
    for name, fn in (("ours", ours), ("by hand", by_hand)):
        cold[name] = timed(fn, table)
    warm = {
        name: timed(fn, table, repeat=args.repeat)
        for name, fn in (("by hand", by_hand), ("ours", ours))
    }
    sk_seconds, sk_iterations = sklearn_sample(table, args.sample)
    rows = []
    for name in ("ours", "by hand"):
        rows.append(
            {
                "method": name,
                "rows": args.rows,
                "cold s": round(cold[name][0], 2),
                "warm s": round(warm[name][0], 2),
                "iterations": warm[name][1],
                "warm ratio ours/by hand": round(warm["ours"][0] / warm["by hand"][0], 3),
                "cold ratio ours/by hand": round(cold["ours"][0] / cold["by hand"][0], 3),
            }
        )
    rows.append(
        {
            "method": f"scikit-learn on a {args.sample:,}-row sample",
            "rows": args.sample,
            "cold s": round(sk_seconds, 2),
            "warm s": round(sk_seconds, 2),
            "iterations": sk_iterations,
            "warm ratio ours/by hand": "",
            "cold ratio ours/by hand": "",
        }
    )
    report("preprocessing", rows, notes="goal: warm ratio ours/by hand <= 1.1")
    spark.stop()


if __name__ == "__main__":
    main()
