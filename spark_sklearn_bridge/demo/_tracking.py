"""The demo's MLflow tracking: one parent run per demo, a child run per step (the searches add
their own child runs per candidate under theirs), models with signatures, tables and the report
as artefacts."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

#: The experiment tag MLflow 3's UI reads to choose an experiment's first page.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT = "spark_sklearn_bridge demo"


class Tracking:
    """MLflow runs of one demo, in the store at ``tracking_uri``; when the experiment is
    created here with an ``artifact_dir``, its artefacts go there (else where the store's
    server puts them)."""

    def __init__(self, tracking_uri: str, artifact_dir: Path | None):
        self.tracking_uri = tracking_uri
        self.artifact_dir = artifact_dir
        self.parent_run_id = None
        self.step_run_ids = {}

    @contextlib.contextmanager
    def demo_run(self, params: dict):
        """The parent run. Like a script's ``mlflow.set_tracking_uri`` and
        ``mlflow.set_experiment``, this makes the demo's store and experiment the process's
        active ones (nested runs follow the active experiment)."""
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        if self.artifact_dir is not None and mlflow.get_experiment_by_name(EXPERIMENT) is None:
            self.artifact_dir.mkdir(parents=True, exist_ok=True)
            location = self.artifact_dir.resolve().as_uri()
            mlflow.create_experiment(EXPERIMENT, artifact_location=location)
        experiment = mlflow.set_experiment(EXPERIMENT)
        # A model-training experiment: `mlflow ui` opens it on its runs, not on MLflow 3's
        # GenAI overview (traces, latency), which is what it shows when the kind is unset.
        mlflow.MlflowClient().set_experiment_tag(
            experiment.experiment_id, EXPERIMENT_KIND_TAG, "custom_model_development"
        )
        with mlflow.start_run(run_name="demo") as run:
            self.parent_run_id = run.info.run_id
            mlflow.log_params(params)
            yield run

    @contextlib.contextmanager
    def step_run(self, name: str):
        """A child run for one step; yields ``log(result)``, which logs a summary row's
        fields as the run's parameters and metrics."""
        import mlflow

        with mlflow.start_run(run_name=name, nested=True) as run:
            self.step_run_ids[name] = run.info.run_id
            yield _log_result

    @staticmethod
    def log_table(frame, name: str) -> None:
        """A pandas DataFrame as a CSV artefact of the active run."""
        import mlflow

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, name)
            frame.to_csv(path, index=False)
            mlflow.log_artifact(str(path))

    @staticmethod
    def log_report(directory: Path) -> None:
        """The report directory as artefacts of the parent (active) run."""
        import mlflow

        mlflow.log_artifacts(str(directory), artifact_path="report")


def _log_result(result) -> None:
    import mlflow

    mlflow.log_params(
        {"rows": result.rows, "models": result.models, "agreement": result.agreement}
    )
    metrics = {"seconds": result.seconds, "agrees": float(result.agrees), **result.metrics}
    if result.sklearn_seconds is not None:
        metrics["sklearn_seconds"] = result.sklearn_seconds
    mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
