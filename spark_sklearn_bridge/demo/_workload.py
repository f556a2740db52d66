"""The demo's workload: the four steps in order, tracked in MLflow, then the report."""

from __future__ import annotations

import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from .._session import is_spark_connect
from . import _per_group, _scoring, _search, _spark_ml
from ._data import load_gapminder, scale_up
from ._report import write_report
from ._results import StepResult
from ._tracking import Tracking


def run_demo(
    spark,
    output: str | Path = "demo-output",
    *,
    mlflow_uri: str | None = None,
    quick: bool = False,
    scale: int = 1,
    n_rows: int | None = None,
) -> tuple[list[StepResult], Tracking]:
    """Run the demo's four steps on ``spark``; write the report and the MLflow runs.

    Parameters
    ----------
    spark : SparkSession
        Classic or Spark Connect.
    output : str or Path, default="demo-output"
        Directory of the report (``report/report.html``), the default MLflow store
        (``mlflow.db``) and its artefacts (``mlartifacts/``).
    mlflow_uri : str, optional
        Tracking URI. Default: ``sqlite:///<output>/mlflow.db``. As a script would, the demo
        makes it (and its experiment, ``"spark_sklearn_bridge demo"``) the active ones.
    quick : bool, default=False
        Smaller grids and budgets, 100,000 scoring rows: a smoke run.
    scale : int, default=1
        Copies of every country (``scale * 142`` groups) and millions of scoring rows.
    n_rows : int, optional
        Scoring rows. Default: ``scale`` million (100,000 with ``quick``).

    Returns
    -------
    results : list of StepResult
        One per summary row.
    tracking : Tracking
        The run ids (``parent_run_id``, ``step_run_ids``) and the store.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    mlflow_uri = mlflow_uri or f"sqlite:///{(output / 'mlflow.db').resolve()}"
    # A local store's new experiment keeps its artefacts in the output directory (MLflow's
    # default is ./mlruns of the working directory); a tracking server decides for itself.
    served = mlflow_uri.startswith(("http://", "https://", "databricks"))
    artifact_dir = None if served else output / "mlartifacts"
    n_rows = n_rows or (100_000 if quick else 1_000_000 * scale)
    frame = scale_up(load_gapminder(), scale)
    tracking = Tracking(mlflow_uri, artifact_dir)
    context = {
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "Spark": f"{spark.version} ({_engine(spark)})",
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "countries (groups)": frame["country"].nunique(),
        "country-years": len(frame),
        "scoring rows": n_rows,
        "mode": "quick" if quick else "full",
    }
    context["Python workers started (s)"] = round(warm_up(spark), 1)
    params = {"scale": scale, "quick": quick, "n_rows": n_rows, "spark": context["Spark"]}
    with tracking.demo_run(params):
        results = [_per_group.run(spark, frame, tracking)]
        search_results, best = _search.run(spark, frame, tracking, quick)
        results += search_results
        rows = _scoring.cached_rows(spark, frame, n_rows)
        try:
            local = rows.toPandas()  # for the scikit-learn side of both steps
            results.append(_scoring.run(spark, rows, local, best, tracking))
            results.append(_spark_ml.run(spark, rows, local, tracking))
        finally:
            rows.unpersist()
        report = write_report(output / "report", results, context)
        tracking.log_report(report.parent)
        tracking.log_table(_summary_frame(results), "summary.csv")
    return results, tracking


def warm_up(spark) -> float:
    """Start the Python workers and import scikit-learn in them, so that the first step's
    time is its own work (a second or two per worker that every Spark session pays once).
    Returns the seconds it took."""
    from .._jobs import cluster_cores

    def touch(batches):
        import sklearn.ensemble
        import sklearn.linear_model  # noqa: F401

        yield from batches

    start = time.perf_counter()
    n = cluster_cores(spark)
    spark.range(n, numPartitions=n).mapInPandas(touch, "id long").collect()
    return time.perf_counter() - start


def _engine(spark) -> str:
    return "Spark Connect" if is_spark_connect(spark) else spark.sparkContext.master


def _summary_frame(results):
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "step": r.step,
                "rows": r.rows,
                "models": r.models,
                "score": r.score,
                "seconds": r.seconds,
                "sklearn_seconds": r.sklearn_seconds,
                "agreement": r.agreement,
                "agrees": r.agrees,
            }
            for r in results
        ]
    )
