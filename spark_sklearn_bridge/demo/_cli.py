"""``python -m spark_sklearn_bridge demo`` (and the ``spark-sklearn-bridge`` console script)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="spark-sklearn-bridge demo",
        description="Per-country models, a tuned Pipeline, batch scoring of a million rows and "
        "a data-parallel fit on Gapminder, each compared with scikit-learn; tracked in MLflow, "
        "with an HTML report.",
    )
    engine = p.add_mutually_exclusive_group()
    engine.add_argument(
        "--spark-remote",
        metavar="URL",
        help="Spark Connect: sc://host:port, or local[N] for a local server",
    )
    engine.add_argument(
        "--master",
        metavar="URL",
        help="classic Spark master, e.g. local[2] or spark://host:7077 "
        "(default: the embedded local session on all cores)",
    )
    p.add_argument(
        "--mlflow-uri",
        metavar="URI",
        help="MLflow tracking URI (default: sqlite:///OUTPUT/mlflow.db)",
    )
    p.add_argument(
        "--output",
        metavar="DIR",
        default="demo-output",
        type=Path,
        help="report, MLflow store and artefacts (default: ./demo-output)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smaller grids and budgets, 100,000 scoring rows (about a minute)",
    )
    p.add_argument(
        "--scale",
        type=_positive,
        default=1,
        metavar="K",
        help="K copies of each of the 142 countries, K million scoring rows",
    )
    p.add_argument("--rows", type=_positive, metavar="N", help="scoring rows (overrides)")
    return p


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text}")
    return value


def session(args):
    """The Spark session the options ask for."""
    from .._session import build_local_session, connect_session, get_spark

    if args.spark_remote:
        return connect_session(args.spark_remote)
    if args.master:
        return build_local_session(args.master)
    return get_spark()


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    _quiet_mlflow()
    from ._results import format_table
    from ._workload import run_demo

    start = time.perf_counter()
    spark = session(args)
    print(f"Spark {spark.version}; output in {args.output.resolve()}", flush=True)
    results, tracking = run_demo(
        spark,
        args.output,
        mlflow_uri=args.mlflow_uri,
        quick=args.quick,
        scale=args.scale,
        n_rows=args.rows,
    )
    print()
    print(format_table(results))
    print()
    print(f"report:  {(args.output / 'report' / 'report.html').resolve()}")
    print(f"MLflow:  mlflow ui --backend-store-uri {tracking.tracking_uri}")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0 if all(r.agrees for r in results) else 1


def _quiet_mlflow() -> None:
    """MLflow's informational logs and download bars would bury the summary."""
    import logging
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    logging.getLogger("alembic").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
