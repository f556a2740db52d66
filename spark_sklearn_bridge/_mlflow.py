"""MLflow helpers shared by the paradigms (imported lazily: mlflow is slow to import)."""

from __future__ import annotations

import tempfile
from pathlib import Path

__all__ = ["log_directory"]


def log_directory(save, artifact_path: str) -> str:
    """Call ``save(directory)`` into a temporary directory and log it to the active MLflow run.

    Starts a run if none is active (as ``mlflow.log_artifacts`` does). Returns the artifact URI.
    """
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "saved"
        save(target)
        mlflow.log_artifacts(str(target), artifact_path=artifact_path)
    return mlflow.get_artifact_uri(artifact_path)
