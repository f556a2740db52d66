"""Checks of a finished demo run (its output directory and MLflow store), shared by the
classic suite (tests/test_demo.py) and the engine suites (tests/engines/test_demo_engines.py)."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import numpy as np

STEPS = [
    "per-group models",
    "grid search",
    "halving search",
    "TPE search",
    "batch scoring",
    "data-parallel fit",
]
PLOTS = ["per_group_mae.png", "search_curves.png", "scoring_throughput.png", "agreement.png"]


def check_summary(stdout: str) -> None:
    """The printed summary: a header, one row per step, each agreeing with scikit-learn."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("step "))
    rows = lines[header + 2 : header + 2 + len(STEPS)]
    for step, row in zip(STEPS, rows):
        assert row.startswith(step), (step, row)
        assert "  yes: " in row, row  # "NO: " when Spark and scikit-learn disagree
    assert "mlflow ui --backend-store-uri sqlite:///" in stdout


def check_report(directory: Path) -> None:
    """report.html shows each plot, and each plot is a real picture (not blank)."""
    import matplotlib.image

    page = (directory / "report.html").read_text()
    assert re.findall(r'<img src="([^"]+)"', page) == PLOTS
    for name in PLOTS:
        path = directory / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[0] > 300 and pixels.shape[1] > 600, (name, pixels.shape)
        colours = np.unique(pixels.reshape(-1, pixels.shape[-1]).round(2), axis=0)
        assert len(colours) > 20, f"{name} looks blank ({len(colours)} colours)"
    for step in ("GroupedEstimator", "SparkGridSearchCV", "SparkBatchPredictor"):
        assert step in page


def check_store(tracking_uri: str) -> dict:
    """The runs, models and artefacts of one demo in the store; returns the model URIs."""
    mlflow.set_tracking_uri(tracking_uri)  # models:/ URIs resolve in the global store
    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("spark_sklearn_bridge demo")
    # MLflow's UI opens a model-training experiment on its runs (not the GenAI overview).
    assert experiment.tags.get("mlflow.experimentKind") == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id], max_results=1000)

    def children(run):
        return [r for r in runs if r.data.tags.get("mlflow.parentRunId") == run.info.run_id]

    (demo,) = [r for r in runs if r.info.run_name == "demo"]
    steps = {r.info.run_name: r for r in children(demo)}
    assert sorted(steps) == sorted(STEPS)
    for step in steps.values():
        assert step.data.metrics["agrees"] == 1.0, step.info.run_name
        assert step.info.status == "FINISHED"

    def candidates_of(step):  # the step's summary row: "18 candidates"
        return int(steps[step].data.params["models"].split()[0])

    # Each search's own run, with one child run per candidate.
    (grid,) = children(steps["grid search"])
    assert grid.info.run_name == "SparkGridSearchCV"
    assert len(children(grid)) == candidates_of("grid search") > 1
    assert all("mean_test_score" in c.data.metrics for c in children(grid))
    (halving,) = children(steps["halving search"])
    assert len(children(halving)) == candidates_of("halving search") > 1
    hyperopt = children(steps["TPE search"])  # random, then TPE
    assert [len(children(r)) for r in hyperopt] == [candidates_of("TPE search")] * 2

    def artifacts(run, path=None):
        return {Path(f.path).name for f in client.list_artifacts(run.info.run_id, path)}

    assert {"report", "summary.csv"} <= artifacts(demo)
    assert set(PLOTS) | {"report.html"} <= artifacts(demo, "report")
    assert "model_table.csv" in artifacts(steps["per-group models"])

    models = {m.name: m for m in client.search_logged_models([experiment.experiment_id])}
    assert {"grouped_model", "best_model"} <= set(models)
    uris = {}
    for name, inputs in {
        "grouped_model": ["country", "year", "log_gdp", "log_pop"],
        "best_model": ["continent", "year", "log_gdp", "log_pop"],
    }.items():
        uri = f"models:/{models[name].model_id}"
        info = mlflow.models.get_model_info(uri)
        assert info.signature.inputs.input_names() == inputs
        uris[name] = uri
    return uris
