"""Step 3: batch scoring of a million new rows with the search's best Pipeline."""

from __future__ import annotations

import time

import numpy as np

from ..inference import SparkBatchPredictor
from ._data import scoring_rows
from ._results import StepResult
from ._search import FEATURES

SAMPLE = 20_000  # rows compared one by one with local predict


def run(spark, rows, local, model, tracking) -> StepResult:
    """Score the cached ``rows`` on Spark (written to Spark's no-op sink, so the figure is
    the scoring itself), beside a no-op pandas UDF over the same rows (the floor) and local
    ``predict`` of ``local`` (the same rows, collected) in this process."""
    n_rows = len(local)
    predictor = SparkBatchPredictor(model, spark=spark)

    start = time.perf_counter()
    rows.mapInPandas(lambda batches: batches, rows.schema).write.format("noop").mode(
        "overwrite"
    ).save()
    floor_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predictor.predict(rows).write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - start

    start = time.perf_counter()
    expected = model.predict(local[FEATURES])
    sklearn_seconds = time.perf_counter() - start

    sample = predictor.predict(rows.filter(rows["id"] < SAMPLE)).toPandas().sort_values("id")
    by_id = dict(zip(local["id"], expected))
    difference = float(np.max(np.abs(sample["prediction"] - sample["id"].map(by_id))))
    rates = {
        "no-op pandas UDF (floor)": n_rows / floor_seconds,
        "SparkBatchPredictor": n_rows / seconds,
        "scikit-learn predict, one process": n_rows / sklearn_seconds,
    }
    result = StepResult(
        step="batch scoring (SparkBatchPredictor)",
        rows=n_rows,
        models="1 model",
        score=f"{rates['SparkBatchPredictor']:,.0f} rows/s",
        seconds=seconds,
        sklearn_seconds=sklearn_seconds,
        agreement=f"max |prediction - local predict| = {difference:.1e} on {len(sample):,} rows",
        difference=difference,
        agrees=len(sample) == min(SAMPLE, n_rows) and difference <= 1e-9,
        metrics={
            "rows_per_second": rates["SparkBatchPredictor"],
            "noop_rows_per_second": rates["no-op pandas UDF (floor)"],
            "sklearn_rows_per_second": rates["scikit-learn predict, one process"],
        },
        details={"rates": rates},
    )
    with tracking.step_run("batch scoring") as log:
        log(result)
    return result


def cached_rows(spark, frame, n_rows: int):
    """The scoring rows, computed once and cached (their count runs the job)."""
    rows = scoring_rows(spark, frame, n_rows).cache()
    rows.count()
    return rows
