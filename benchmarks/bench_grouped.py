"""GroupedEstimator vs the usual ways to fit one model per group, side by side in one run.

Cases: (a) 5,000 groups x 200 rows x 10 features, Ridge; (b) 500 groups x 200 rows, a 10-tree
RandomForestRegressor; (c) skew: 500 small groups plus one group 100x larger (Ridge).
Baselines: serial pandas groupby loop, serial loop over numpy slices (one matrix, each
group's rows by index), joblib(n_jobs=2) loop, hand-written applyInPandas. Targets:
GroupedEstimator <= 1.3 x (serial / 2) on (a) and (b); on (a) <= 2.0 x (numpy loop / 2) warm,
and its first fit of the session (timed once, before any warm-up: the Python workers start
then) <= 1.0 x (serial / 2). Then prediction with the
Ridge models of (a) on its 1,000,000 rows: a serial pandas loop over the groups, a hand-written
``applyInPandas`` (models dict in the closure) and ``GroupedEstimator.predict`` (both Spark
methods written to a no-op sink), no target. Spark inputs are cached
DataFrames; every method is warmed up once on a small subset, then timed as the best of
``--repeat`` runs (default 3).

    python -m benchmarks.bench_grouped [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge

from spark_sklearn_bridge import GroupedEstimator
from spark_sklearn_bridge._session import build_local_session

from ._common import report, timed

FEATURES = [f"f{i}" for i in range(10)]


def make_data(n_groups, n_rows, seed=0, big_group_factor=1):
    rng = np.random.default_rng(seed)
    sizes = np.full(n_groups, n_rows)
    sizes[0] *= big_group_factor
    g = np.repeat(np.arange(n_groups), sizes)
    X = rng.normal(size=(len(g), len(FEATURES)))
    coef = rng.normal(size=(n_groups, len(FEATURES)))
    y = np.einsum("ij,ij->i", X, coef[g]) + rng.normal(scale=0.1, size=len(g))
    frame = pd.DataFrame(X, columns=FEATURES).assign(g=g, y=y)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def serial_loop(frame, estimator):
    return {k: clone(estimator).fit(d[FEATURES], d["y"]) for k, d in frame.groupby("g")}


def numpy_slice_loop(frame, estimator):
    """The leanest by-hand loop: one matrix, each group's rows as index arrays, a fresh
    estimator fitted on each slice (no DataFrame per group)."""
    X, y = frame[FEATURES].to_numpy(), frame["y"].to_numpy()
    return {
        k: clone(estimator).fit(X[rows], y[rows]) for k, rows in frame.groupby("g").indices.items()
    }


def joblib_loop(frame, estimator):
    groups = list(frame.groupby("g"))
    fitted = Parallel(n_jobs=2)(
        delayed(clone(estimator).fit)(d[FEATURES], d["y"]) for _, d in groups
    )
    return dict(zip((k for k, _ in groups), fitted))


def hand_written_apply_in_pandas(sdf, estimator):
    import pickle

    def fit_group(pdf):
        model = clone(estimator).fit(pdf[FEATURES], pdf["y"])
        return pd.DataFrame({"g": [pdf["g"].iat[0]], "model": [pickle.dumps(model)]})

    return sdf.groupBy("g").applyInPandas(fit_group, "g long, model binary").toPandas()


def predict_serial(frame, models):
    out = np.empty(len(frame))
    for key, rows in frame.groupby("g").indices.items():
        out[rows] = models[key].predict(frame.iloc[rows][FEATURES])
    return out


def predict_hand_written_apply_in_pandas(sdf, models):
    def predict_group(pdf):
        return pdf.assign(prediction=models[pdf["g"].iat[0]].predict(pdf[FEATURES]))

    from pyspark.sql.types import DoubleType, StructField, StructType

    schema = StructType([*sdf.schema.fields, StructField("prediction", DoubleType())])
    scored = sdf.groupBy("g").applyInPandas(predict_group, schema)
    scored.write.format("noop").mode("overwrite").save()


def predict_grouped(sdf, model):
    model.predict(sdf).write.format("noop").mode("overwrite").save()


def predict_case(spark, frame, model, rows, repeat):
    sdf = spark.createDataFrame(frame).cache()
    sdf.count()
    models = {key: model.get_group_model(key) for key in frame["g"].unique()}
    small = frame[frame["g"] < 20]
    predict_hand_written_apply_in_pandas(spark.createDataFrame(small), models)  # warm-up
    predict_grouped(spark.createDataFrame(small), model)
    for method, fn, data in [
        ("serial pandas loop", predict_serial, frame),
        ("hand-written applyInPandas", predict_hand_written_apply_in_pandas, sdf),
        ("GroupedEstimator.predict", predict_grouped, sdf),
    ]:
        seconds, _ = timed(fn, data, models if fn is not predict_grouped else model, repeat=repeat)
        rows.append(
            {
                "method": method,
                "best seconds": round(seconds, 2),
                "rows/s": f"{len(frame) / seconds:,.0f}",
            }
        )
    sdf.unpersist()


def fit_grouped(sdf, estimator):
    return GroupedEstimator(estimator, "g", label_col="y", feature_cols=FEATURES).fit(sdf)


def warm_up(spark, frame, estimator):
    """One small run of every method first: worker start-up and imports are paid once per
    process, not per fit, so they are kept out of every timing alike."""
    small = frame[frame["g"] < 20]
    sdf = spark.createDataFrame(small)
    joblib_loop(small, estimator)
    hand_written_apply_in_pandas(sdf, estimator)
    fit_grouped(sdf, estimator)


def run_case(spark, name, frame, estimator, rows, repeat, first=False):
    sdf = spark.createDataFrame(frame).cache()
    sdf.count()
    n_groups = frame["g"].nunique()
    methods = []
    if first:  # the session's first Python job: what a notebook's first fit costs
        methods.append(
            ("GroupedEstimator, first fit of the session", timed(fit_grouped, sdf, estimator)[0])
        )
    warm_up(spark, frame, estimator)
    ours, model = timed(fit_grouped, sdf, estimator, repeat=repeat)
    hand, _ = timed(hand_written_apply_in_pandas, sdf, estimator, repeat=repeat)
    serial, _ = timed(serial_loop, frame, estimator, repeat=repeat)
    lean, _ = timed(numpy_slice_loop, frame, estimator, repeat=repeat)
    par, _ = timed(joblib_loop, frame, estimator, repeat=repeat)
    assert model.n_groups_ == n_groups and model.n_failed_groups_ == 0
    limit, lean_limit = serial / 2, lean / 2
    methods = [
        ("serial pandas loop", serial),
        ("serial numpy-slice loop", lean),
        ("joblib(n_jobs=2) loop", par),
        ("hand-written applyInPandas", hand),
        *methods,
        ("GroupedEstimator", ours),
    ]
    for method, seconds in methods:
        rows.append(
            {
                "case": name,
                "method": method,
                "best seconds": round(seconds, 2),
                "x (serial/2)": round(seconds / limit, 2),
                "x (numpy loop/2)": round(seconds / lean_limit, 2),
            }
        )
    table = model.model_table_.toPandas()
    sdf.unpersist()
    return table, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10x fewer groups (smoke run)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per method (best)")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    spark = build_local_session("local[2]")
    rows = []
    ridge, forest = Ridge(), RandomForestRegressor(n_estimators=10, random_state=0, n_jobs=1)
    ridge_data = make_data(5000 // scale, 200)
    _, ridge_model = run_case(
        spark, "ridge 5000x200", ridge_data, ridge, rows, args.repeat, first=True
    )
    run_case(spark, "forest 500x200", make_data(500 // scale, 200), forest, rows, args.repeat)
    skewed = make_data(500 // scale, 200, 1, 100)
    skew, _ = run_case(spark, "skew 500 + 1x100", skewed, ridge, rows, args.repeat)
    big = skew.sort_values("n_rows").iloc[-1]
    report(
        "grouped",
        rows,
        notes=f"skewed case: all {len(skew)} groups fitted; largest group {big['g']} has "
        f"{big['n_rows']} rows, fitted in {big['fit_seconds']:.3f} s (status {big['status']}).",
    )
    predict_rows = []
    predict_case(spark, ridge_data, ridge_model, predict_rows, args.repeat)
    report(
        "grouped_predict",
        predict_rows,
        notes="Ridge models of case (a) on its rows; Spark methods write to a no-op sink",
    )


if __name__ == "__main__":
    main()
