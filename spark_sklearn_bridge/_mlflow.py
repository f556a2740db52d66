"""Everything that talks to MLflow: runs, child runs, model logging and loading.

mlflow is imported inside each function: it takes seconds to import and most calls of this
package never need it. The active tracking URI and experiment are the user's (e.g. a
``sqlite:///`` store; MLflow 3 refuses the plain file store).
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "load_model",
    "log_pyfunc",
    "log_sklearn",
    "signature_of",
    "log_best_search_result",
    "log_candidates",
    "log_directory",
    "log_parallel_call",
    "parent_run",
]

_PARAM_LIMIT = 250  # MLflow refuses longer parameter values


def param_text(value, limit: int = _PARAM_LIMIT) -> str:
    """A parameter value as MLflow stores it: text, cut to what MLflow accepts."""
    text = value if isinstance(value, str) else repr(value)
    return text[:limit]


@contextlib.contextmanager
def parent_run(name: str, tags: dict | None = None):
    """A run for one call (nested under the active run, if any), ended when the block ends."""
    import mlflow

    nested = mlflow.active_run() is not None
    with mlflow.start_run(run_name=name, nested=nested) as run:
        if tags:
            mlflow.set_tags(tags)
        yield run


def log_parallel_call(
    function: str, *, n_batches, n_items, n_failed, seconds, n_jobs, task_cpus, failure=None
) -> None:
    """One run for a joblib call that ran on Spark: its function, size, time and failures."""
    import mlflow

    with parent_run(f"joblib {function.split('(')[0]}", {"function": param_text(function)}):
        mlflow.log_params({"n_jobs": n_jobs, "task_cpus": task_cpus})
        mlflow.log_metrics(
            {"n_batches": n_batches, "n_items": n_items, "n_failed": n_failed, "seconds": seconds}
        )
        if failure is not None:
            mlflow.set_tag("failure", param_text(f"{type(failure).__name__}: {failure}"))


def log_candidates(results: dict, start: int, n_splits: int) -> int:
    """One child run per search candidate evaluated since ``start``; returns the new count.

    Each child run holds the candidate's parameters, fit time and per-split and mean test
    scores of every metric (non-finite scores are left out: MLflow stores numbers only).
    """
    import mlflow

    metric_names = [k[len("mean_test_") :] for k in results if k.startswith("mean_test_")]
    for index in range(start, len(results["params"])):
        with mlflow.start_run(run_name=f"candidate-{index}", nested=True):
            mlflow.log_params({k: param_text(v) for k, v in results["params"][index].items()})
            metrics = {"mean_fit_time": results["mean_fit_time"][index]}
            for name in metric_names:
                metrics[f"mean_test_{name}"] = results[f"mean_test_{name}"][index]
                metrics[f"std_test_{name}"] = results[f"std_test_{name}"][index]
                for split in range(n_splits):
                    key = f"split{split}_test_{name}"
                    metrics[key] = results[key][index]
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
    return len(results["params"])


def log_best_search_result(search) -> None:
    """Log a fitted search's best parameters, best score and best estimator to the active run."""
    import mlflow

    from ._serialization import dump_model

    if hasattr(search, "best_params_"):
        mlflow.log_params({f"best__{k}": param_text(v) for k, v in search.best_params_.items()})
    if hasattr(search, "best_score_"):
        mlflow.log_metric("best_score", float(search.best_score_))
    if hasattr(search, "best_estimator_"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "best_estimator.ssbmodel")
            path.write_bytes(dump_model(search.best_estimator_))
            mlflow.log_artifact(str(path), artifact_path="best_estimator")


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


def load_model(model_uri: str):
    """A logged model: a scikit-learn estimator for the ``sklearn`` flavour, else the pyfunc.

    Returns ``(model, is_sklearn)``.
    """
    import mlflow

    info = mlflow.models.get_model_info(model_uri)
    if "sklearn" in info.flavors:
        return mlflow.sklearn.load_model(model_uri), True
    return mlflow.pyfunc.load_model(model_uri), False


def log_pyfunc(
    estimator, name: str, signature, input_example=None, serializer="pickle", trusted=None
) -> str:
    """Log ``estimator`` (saved with its ``save`` in ``serializer``'s format) as an MLflow
    pyfunc model in the active run (one is started if none is); return the model URI."""
    import mlflow

    from ._pyfunc import SavedModelPyfunc  # subclasses mlflow's PythonModel: imports mlflow

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / SavedModelPyfunc.artifact  # MLflow keeps the directory name
        estimator.save(target, serializer=serializer)
        with warnings.catch_warnings():
            # Without an input example the signature is built from the fitted columns.
            warnings.filterwarnings("ignore", ".*An input example was not provided")
            # MLflow 3.9-3.16 advise models-from-code over a python_model object; ours is a
            # few bytes that load the saved directory (its own rules apply to the models).
            warnings.filterwarnings("ignore", "Passing a Python object as `python_model`")
            info = mlflow.pyfunc.log_model(
                name=name,
                python_model=SavedModelPyfunc(type(estimator), trusted=trusted),
                artifacts={SavedModelPyfunc.artifact: str(target)},
                signature=signature,
                input_example=input_example,
                pip_requirements=_requirements(),
            )
    return info.model_uri


def log_sklearn(model, name: str, example) -> str:
    """Log a scikit-learn model to the active run in MLflow's safe skops format, trusting
    exactly the types the model holds, with the signature of the ``example`` rows (a pandas
    DataFrame) and its predictions; return the model URI."""
    import mlflow
    import skops.io

    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    info = mlflow.sklearn.log_model(
        model,
        name=name,
        signature=signature_of(example, model.predict(example)),
        input_example=example,
        skops_trusted_types=trusted,
    )
    return info.model_uri


def _requirements() -> list:
    """The pinned runtime requirements of a logged model (this package is not on PyPI: serve
    it with ``--env-manager local`` from an environment that has it)."""
    from importlib.metadata import version

    return [f"{n}=={version(n)}" for n in ("scikit-learn", "pandas", "numpy", "cloudpickle")]


#: Spark SQL type names (``simpleString``) -> MLflow column types.
_MLFLOW_TYPES = {
    "boolean": "boolean",
    "tinyint": "integer",
    "smallint": "integer",
    "int": "integer",
    "bigint": "long",
    "float": "float",
    "double": "double",
    "string": "string",
    "binary": "binary",
    "date": "datetime",
    "timestamp": "datetime",
}


def signature_of(inputs, outputs):
    """An MLflow signature: from an input example (a pandas DataFrame), or from a dict
    column -> Spark type name; ``outputs`` is an example prediction."""
    import pandas as pd
    from mlflow.models import infer_signature
    from mlflow.types import ColSpec, Schema

    if isinstance(inputs, pd.DataFrame):
        with warnings.catch_warnings():
            # MLflow's hint that integer columns cannot hold missing values: group keys
            # are integers on purpose.
            warnings.filterwarnings("ignore", ".*Inferred schema contains integer column")
            return infer_signature(inputs, outputs)
    signature = infer_signature(None, outputs)
    specs = [
        ColSpec(_MLFLOW_TYPES.get(kind.split("(")[0], "string"), name)
        for name, kind in inputs.items()
    ]
    signature.inputs = Schema(specs)
    return signature
