"""Executor side of GroupedEstimator.fit: fit every group of one partition.

How the work is packed: rows are hash-partitioned on the group keys into a few partitions per
core, then ONE ``mapInPandas`` call per partition groups its rows with pandas and fits each
group. Spark's per-task overhead is paid per partition, not per group (``applyInPandas`` pays
it per group, which dominates small models).
"""

from __future__ import annotations

import json
import time
import traceback
from functools import partial

import numpy as np
import pandas as pd
from sklearn.base import clone

from .._base import python_scalar
from .._inputs import ROW_ID
from .._isolation import run_isolated
from .._serialization import dump_model, load_model
from .._threads import limit_task_threads
from ._store import STATUS_FAILED, STATUS_OK, STATUS_TOO_FEW, TABLE_FIELDS, isnull

__all__ = ["all_numeric", "fit_partition", "fits_numpy_like_pandas", "table_schema"]


def table_schema(key_fields):
    """Spark schema of the model table: the group key fields, then :data:`TABLE_FIELDS`."""
    from pyspark.sql import types as T

    return T.StructType(
        list(key_fields)
        + [
            T.StructField("model", T.BinaryType()),
            T.StructField("n_rows", T.LongType()),
            T.StructField("fit_seconds", T.DoubleType()),
            T.StructField("status", T.StringType()),
            T.StructField("error", T.StringType()),
            T.StructField("classes", T.StringType()),
            T.StructField("best_params", T.StringType()),
            T.StructField("best_score", T.DoubleType()),
            T.StructField("fitted_at", T.TimestampType()),
        ]
    )


def fit_partition(
    batches,
    *,
    estimator_blob,
    group_cols,
    feature_cols,
    label_col,
    min_rows,
    fit_params,
    stop_on_failure,
    progress,
    isolate=False,
    timeout=None,
):
    """mapInPandas body: fit every group of one hash partition.

    The partition is grouped here rather than sorted by Spark: a pandas sort of one partition
    is much cheaper than Spark's external sort, and sorting by the row id first keeps each
    group's rows in input order, so every fit sees exactly the rows a by-hand fit would.
    With ``stop_on_failure`` (``on_error="raise"``) the partition stops at its first failed
    group: the fit is going to raise, so the remaining groups would be wasted work.
    With ``isolate`` each group is fitted in a child process (:mod:`.._isolation`), killed
    after ``timeout`` seconds: a group that crashes, is killed or hangs is recorded as failed
    and the partition goes on.
    """
    frames = [b for b in batches if len(b)]
    if not frames:
        return
    partition = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    partition = partition.sort_values(ROW_ID, kind="stable", ignore_index=True)
    estimator = load_model(estimator_blob, what="base estimator")
    numpy_ok = fits_numpy_like_pandas(estimator, feature_cols)
    features = _FeatureSource(partition, feature_cols, numpy_ok)
    labels = partition[label_col].to_numpy() if label_col is not None else None
    rows = []
    with limit_task_threads():
        groups = partition.groupby(group_cols, sort=False, dropna=False).indices
        for key, positions in groups.items():
            key = tuple(
                None if isnull(k) else k for k in (key if isinstance(key, tuple) else (key,))
            )
            y = labels[positions] if labels is not None else None
            fit = partial(_fit_one, estimator, key, features, positions, y, min_rows, fit_params)
            if isolate:
                record = _fit_isolated(fit, _record(key, len(positions)), group_cols, timeout)
            else:
                record = fit()
            rows.append(record)
            if progress is not None:
                progress.add(1)
            if stop_on_failure and record["status"] == STATUS_FAILED:
                break
            if len(rows) >= 256:
                yield _table_frame(rows, group_cols)
                rows = []
    if progress is not None:
        progress.flush()
    if rows:
        yield _table_frame(rows, group_cols)


def _fit_isolated(fit, record, group_cols, timeout):
    """``fit()`` in a child process; a crash, kill or timeout becomes a failed ``record``."""
    start = time.perf_counter()
    key = {c: python_scalar(k) for c, k in zip(group_cols, record["key"])}
    name = f"The fit of group {key}"
    outcome = run_isolated(fit, timeout, name=name)
    if outcome.failure is None:
        return outcome.value
    elapsed = time.perf_counter() - start
    return {**record, "status": STATUS_FAILED, "error": outcome.failure, "fit_seconds": elapsed}


def fits_numpy_like_pandas(estimator, feature_cols) -> bool:
    """True when fitting on a numpy matrix and then recording the column names gives the
    model a DataFrame fit would: a scikit-learn estimator that is not a composite (Pipelines
    and ColumnTransformers may select columns by name, so they get DataFrames) and has no
    parameter naming a feature column (e.g. ``categorical_features=["store_type"]``)."""
    module = type(estimator).__module__
    composite = hasattr(estimator, "steps") or hasattr(estimator, "transformers")
    if not module.startswith("sklearn.") or composite:
        return False
    names = set(feature_cols)
    for value in estimator.get_params(deep=True).values():
        values = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
        if any(isinstance(v, str) and v in names for v in values):
            return False
    return True


class _FeatureSource:
    """Feature rows of one partition, as numpy (fast path) or as a pandas DataFrame."""

    def __init__(self, partition, feature_cols, use_numpy):
        self.feature_cols = feature_cols
        self.names = np.asarray(feature_cols, dtype=object)
        # Only all-numeric columns convert to one matrix without changing what the model sees.
        self.use_numpy = use_numpy and all_numeric(partition, feature_cols)
        features = partition[feature_cols]
        self.data = features.to_numpy() if self.use_numpy else features

    def rows(self, positions):
        return self.data[positions] if self.use_numpy else self.data.take(positions)


def _record(key, n_rows):
    return {
        "key": key,
        "model": None,
        "n_rows": n_rows,
        "fit_seconds": 0.0,
        "status": STATUS_OK,
        "error": None,
        "classes": None,
        "best_params": None,
        "best_score": None,
        "fitted_at": pd.Timestamp.now(tz="UTC"),
    }


def _search_result(model):
    """``(best_params JSON, best_score)`` of a fitted search (GridSearchCV & co), else Nones."""
    params = getattr(model, "best_params_", None)
    if params is None:
        return None, None
    score = getattr(model, "best_score_", None)
    text = json.dumps({k: python_scalar(v) for k, v in params.items()}, default=repr)
    return text, None if score is None else float(score)


def _fit_one(estimator, key, features, positions, y, min_rows, fit_params):
    n_rows = len(positions)
    record = _record(key, n_rows)
    if n_rows < min_rows:
        record.update(status=STATUS_TOO_FEW, error=f"{n_rows} rows < min_rows={min_rows}")
        return record
    start = time.perf_counter()
    try:
        model = clone(estimator)
        X = features.rows(positions)
        if y is None:
            model.fit(X, **fit_params)
        else:
            model.fit(X, y, **fit_params)
        if features.use_numpy:
            # As if fitted on the DataFrame: predict then checks the columns by name.
            model.feature_names_in_ = features.names
        record["model"] = dump_model(model)
        classes = getattr(model, "classes_", None)
        if classes is not None:
            record["classes"] = json.dumps(np.asarray(classes).tolist())
        record["best_params"], record["best_score"] = _search_result(model)
    except Exception:  # recorded with its traceback, never lost
        record.update(status=STATUS_FAILED, error=traceback.format_exc())
    record["fit_seconds"] = time.perf_counter() - start
    return record


def _table_frame(rows, group_cols):
    keys = pd.DataFrame([r["key"] for r in rows], columns=group_cols)
    body = pd.DataFrame({f: [r[f] for r in rows] for f in TABLE_FIELDS})
    return pd.concat([keys, body], axis=1)


def all_numeric(frame, columns) -> bool:
    """Every one of ``columns`` of ``frame`` has a numeric dtype."""
    return all(pd.api.types.is_numeric_dtype(frame[c]) for c in columns)
