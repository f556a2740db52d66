"""Executor side of GroupedEstimator.fit: fit every group of one partition.

How the work is packed: rows are hash-partitioned on the group keys into a few partitions per
core, then ONE ``mapInPandas`` call per partition groups its rows with pandas and fits each
group. Spark's per-task overhead is paid per partition, not per group (``applyInPandas`` pays
it per group, which dominates small models).
"""

from __future__ import annotations

import json
import pickle
import time
import traceback
from functools import partial

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator, clone

from .._base import python_scalar
from .._isolation import run_isolated
from .._linear import linear_form
from .._reserved import ROW_ID
from .._serialization import dump_model, load_model
from .._threads import limit_task_threads
from ..exceptions import GroupFitError
from ._features import FeatureMatrix, fits_numpy_like_pandas
from ._keys import group_key, key_dict
from ._schema import STATUS_FAILED, STATUS_OK, STATUS_TOO_FEW, new_record, records_frame

__all__ = ["fallback_blob", "fit_partition", "fresh_copies"]


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
    one_column=False,
    model_feature_names=None,
):
    """mapInPandas body: fit every group of one hash partition.

    The partition is grouped here rather than sorted by Spark: a pandas sort of one partition
    is much cheaper than Spark's external sort, and sorting by the row id first keeps each
    group's rows in input order, so every fit sees exactly the rows a by-hand fit would.
    With ``stop_on_failure`` (``on_error="raise"``) the partition stops at its first failed
    group: the fit is going to raise, so the remaining groups would be wasted work.
    With ``isolate`` each group is fitted in a child process (:mod:`.._isolation`), killed
    after ``timeout`` seconds: a group that crashes, is killed or hangs is recorded as failed
    and the partition goes on. With ``one_column`` each group gets its one feature column
    1-D (texts for a vectorizer), as :mod:`~spark_sklearn_bridge._model_input` says. With
    ``model_feature_names`` (the pandas sparse columns packed into one vector column), every
    group model records those names, as a fit on the sparse DataFrame would.
    """
    frames = [b for b in batches if len(b)]
    if not frames:
        return
    partition = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    partition = partition.sort_values(ROW_ID, kind="stable", ignore_index=True)
    groups = partition.groupby(group_cols, sort=False, dropna=False).indices
    # Each group's rows made contiguous, in input order: every fit then gets a slice (a
    # view) of one matrix instead of a gathered copy.
    order = np.concatenate(list(groups.values()))
    partition = partition.take(order).reset_index(drop=True)
    estimator = load_model(estimator_blob, what="base estimator")
    numpy_ok = fits_numpy_like_pandas(estimator, feature_cols)
    features = FeatureMatrix(partition, feature_cols, numpy_ok, one_column)
    labels = partition[label_col].to_numpy() if label_col is not None else None
    checks = SharedChecks(estimator, features, labels, fit_params)
    fresh = fresh_copies(estimator)
    names = features.names if features.use_numpy else None
    if model_feature_names is not None:
        names = np.asarray(model_feature_names, dtype=object)
    rows, end = [], 0
    with limit_task_threads():
        for key, positions in groups.items():
            key = group_key(key)
            start, end = end, end + len(positions)
            X = features.rows(slice(start, end))
            y = labels[start:end] if labels is not None else None
            fit = partial(
                _fit_one, fresh, key, X, names, y, min_rows, fit_params,
                config=checks.config(),
            )  # fmt: skip
            if isolate:
                record = _fit_isolated(fit, new_record(key, len(positions)), group_cols, timeout)
            else:
                record = fit()
            checks.after(record)
            rows.append(record)
            if progress is not None:
                progress.add(1)
            if stop_on_failure and record["status"] == STATUS_FAILED:
                break
            if len(rows) >= 256:
                yield records_frame(rows, group_cols)
                rows = []
    if progress is not None:
        progress.flush()
    if rows:
        yield records_frame(rows, group_cols)


def _fit_isolated(fit, record, group_cols, timeout):
    """``fit()`` in a child process; a crash, kill or timeout becomes a failed ``record``."""
    start = time.perf_counter()
    name = f"The fit of group {key_dict(group_cols, record['key'])}"
    outcome = run_isolated(fit, timeout, name=name)
    if outcome.failure is None:
        return outcome.value
    elapsed = time.perf_counter() - start
    return {**record, "status": STATUS_FAILED, "error": outcome.failure, "fit_seconds": elapsed}


def fresh_copies(estimator):
    """A function returning a new unfitted copy of ``estimator`` per call: ``clone``.

    Cloning is a fifth of a small model's fit; a pickle of one clone, loaded per call, gives
    the same fresh copies (every parameter deep-copied) twenty times faster. That is used for
    estimators that keep scikit-learn's own cloning (``__sklearn_clone__``): one with its own
    cloning (e.g. ``FrozenEstimator``) is cloned every time.
    """
    try:
        prototype = clone(estimator)
        if getattr(type(prototype), "__sklearn_clone__", None) is not _DEFAULT_CLONE:
            return partial(clone, estimator)
        blob = pickle.dumps(prototype, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # e.g. a lambda parameter (only cloudpickle can copy it), or an
        # estimator clone refuses: each group's fit then clones, and records the error
        return partial(clone, estimator)
    return partial(pickle.loads, blob)


_DEFAULT_CLONE = BaseEstimator.__sklearn_clone__


def _search_result(model):
    """``(best_params JSON, best_score)`` of a fitted search (GridSearchCV & co), else Nones."""
    params = getattr(model, "best_params_", None)
    if params is None:
        return None, None
    score = getattr(model, "best_score_", None)
    text = json.dumps({k: python_scalar(v) for k, v in params.items()}, default=repr)
    return text, None if score is None else float(score)


class SharedChecks:
    """scikit-learn's per-fit checks that hold for every group of a partition, made once.

    Every group fits a clone of one estimator on a slice of one partition, so two of the
    checks scikit-learn repeats in each fit can be made once instead (a fifth of a small
    linear model's fit time), through scikit-learn's public configuration:

    * **Parameters** (``skip_parameter_validation``): once a group's fit has succeeded, the
      shared parameters are known valid for every other group. Only for estimators without
      estimator-valued parameters, whose own ``fit`` validates all there is.
    * **Finite input** (``assume_finite``): the partition's feature matrix and labels are
      checked once, vectorized: numbers no larger than 1e100 in magnitude (so no sum of their
      squares overflows inside a fit), no NaN, and no per-fit parameters. Anything else keeps
      scikit-learn's own per-fit checks and their error messages.
    """

    MAX_MAGNITUDE = 1e100

    def __init__(self, estimator, features, labels, fit_params):
        get_params = getattr(estimator, "get_params", None)
        self.simple = get_params is not None and not _holds_estimator(
            list(get_params(deep=False).values())
        )
        self.params_valid = False
        self.finite = (
            self.simple
            and not fit_params
            and features.use_numpy
            and _moderate(features.data)
            and (labels is None or _moderate(labels))
        )

    def config(self) -> dict:
        """Keyword arguments of :func:`sklearn.config_context` for the next fit."""
        config = {}
        if self.finite:
            config["assume_finite"] = True
        if self.params_valid:
            config["skip_parameter_validation"] = True
        return config

    def after(self, record) -> None:
        """Learn from a group's fit record."""
        if self.simple and record["status"] == STATUS_OK:
            self.params_valid = True


def _holds_estimator(value) -> bool:
    """``value`` is an estimator or holds one (Pipeline steps, ensembles' lists)."""
    if isinstance(value, BaseEstimator):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_estimator(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_estimator(v) for v in value.values())
    return False


def _moderate(values: np.ndarray) -> bool:
    """No missing value, and numbers finite and no larger than ``MAX_MAGNITUDE``."""
    if hasattr(values, "tocsr"):  # a sparse matrix: its stored values
        values = values.data
    kind = values.dtype.kind
    if kind in "biu":
        return True
    if kind == "f":
        return bool((np.abs(values) <= SharedChecks.MAX_MAGNITUDE).all())  # NaN: False
    if kind == "O":  # e.g. string class labels: sklearn checks them for None / NaN only
        return not pd.isna(values).any()
    return False


def _fit_one(fresh, key, X, names, y, min_rows, fit_params, config=None):
    """Fit ``fresh()`` on one group's ``X`` and ``y`` into a model table record. ``names``:
    the feature names of a numpy ``X``, recorded as if the model was fitted on a DataFrame."""
    n_rows = X.shape[0]
    record = new_record(key, n_rows)
    if n_rows < min_rows:
        record.update(status=STATUS_TOO_FEW, error=f"{n_rows} rows < min_rows={min_rows}")
        return record
    start = time.perf_counter()
    try:
        model = fresh()
        with sklearn.config_context(**(config or {})):
            if y is None:
                model.fit(X, **fit_params)
            else:
                model.fit(X, y, **fit_params)
        if names is not None:
            # As if fitted on the DataFrame: predict then checks the columns by name.
            model.feature_names_in_ = names
        record["model"] = dump_model(model)
        classes = getattr(model, "classes_", None)
        if classes is not None:
            record["classes"] = json.dumps(np.asarray(classes).tolist())
        record["best_params"], record["best_score"] = _search_result(model)
        record["intercept"], record["coef"] = linear_form(model)
    except Exception:  # recorded with its traceback, never lost
        record.update(status=STATUS_FAILED, error=traceback.format_exc())
    record["fit_seconds"] = time.perf_counter() - start
    return record


def fallback_blob(frame):
    """The fallback model's bytes from its one-row fit table (its one "group" is every row,
    :data:`~.._reserved.ALL_ROWS`); a failed fit raises."""
    record = frame.iloc[0]
    if record["status"] != STATUS_OK:
        raise GroupFitError(
            f"The fallback model failed to fit on all rows:\n{record['error']}",
            group="fallback",
            remote_traceback=record["error"] or "",
        )
    return record["model"]
