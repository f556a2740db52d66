"""GroupedEstimator prediction: each row scored by its own group's model.

On pandas input the driver groups the rows and calls each group's model once. On Spark input
(:func:`predict_spark`) a model table of up to 64 MiB travels with the tasks (a broadcast on
classic Spark); the rows are hash-partitioned and sorted by group so each model is called once
per group and task. A larger table stays distributed and meets its groups' rows in the same
shuffle. Streaming input always takes the first path, without the sort.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from .._base import python_scalar
from .._inputs import column, spark_column_kinds
from .._schemas import is_clusterer, output_type
from .._serialization import load_model
from .._session import get_spark
from .._spark_jobs import default_partitions, key_runs, map_in_pandas, same_key
from .._threads import limit_task_threads
from ..exceptions import ColumnError, UnseenGroupError
from ._fit import all_numeric, fits_numpy_like_pandas
from ._store import group_key

__all__ = ["predict_local", "predict_spark"]

MODEL = "__ssb_model__"
# Model tables up to this size travel with the prediction tasks (no shuffle, no sort); larger
# ones stay distributed and are joined to the rows by a repartition on the group keys.
SHIP_MODELS_BELOW_BYTES = 64 * 2**20
PREDICT_CHUNK_ROWS = 50_000  # rows gathered before each group's model is called on its share


# ------------------------------------------------------------------ driver
def predict_local(est, method, frame):
    """``method`` of each row's group model on a pandas frame; numpy, in row order."""
    table, group_cols = est._table, est.group_cols_
    check_features(est, frame.columns)
    frame = frame.reset_index(drop=True)
    groups = frame.groupby(group_cols, dropna=False, sort=False).indices
    usable, unseen, n_unseen = [], set(), 0
    for key, rows in groups.items():
        key = group_key(key)
        position = table.position(key)
        if position < 0:
            unseen.add(key)
            n_unseen += len(rows)
        else:
            usable.append((position, rows))
    handle_unseen(est, unseen, n_unseen)
    classes, features = getattr(est, "classes_", None), list(est.feature_names_in_)
    as_numpy = fits_numpy_like_pandas(est.estimator, features) and all_numeric(frame, features)
    pieces = [
        group_output(table.model_at(p), frame.iloc[rows], method, features, classes, as_numpy)
        for p, rows in usable
    ]
    return assemble(pieces, [rows for _, rows in usable], len(frame))


def predict_spark(est, method, X):
    """``X`` plus ``est.prediction_col``: ``method`` of each row's group model (lazy)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    table, group_cols = est._table, est.group_cols_
    check_features(est, spark_column_kinds(X.schema))
    missing = [c for c in group_cols if c not in X.columns]
    if missing:
        raise ColumnError(f"group_cols {missing} are not columns of the DataFrame.")
    if est.prediction_col in X.columns:
        raise ColumnError(
            f"The DataFrame already has a column {est.prediction_col!r}; choose another "
            "prediction_col."
        )
    _check_key_types(table.key_types, X)
    spark = get_spark(est.spark)
    usable = table.usable()
    if not X.isStreaming:
        _check_unseen_spark(est, spark, X, usable)
    classes = getattr(est, "classes_", None)  # the union of group classes, set at fit
    out_type = output_type(method, classes=classes, clusterer=is_clusterer(est.estimator))
    schema = T.StructType([*X.schema.fields, T.StructField(est.prediction_col, out_type)])
    features = list(est.feature_names_in_)
    spec = PredictSpec(
        method=method,
        group_cols=group_cols,
        feature_cols=features,
        classes=classes,
        output_col=est.prediction_col,
        output_is_array=isinstance(out_type, T.ArrayType),
        columns=list(X.columns),
        raise_unseen=est.unseen_groups == "raise",
        numpy_ok=fits_numpy_like_pandas(est.estimator, features),
    )
    n_partitions = est.n_partitions or default_partitions(spark)
    keys = [column(c) for c in group_cols]  # quoted: any column name works
    if X.isStreaming or table.usable_bytes() <= SHIP_MODELS_BELOW_BYTES:
        if not X.isStreaming:
            X = X.repartition(n_partitions, *keys).sortWithinPartitions(*keys)
        ship_rows = partial(
            predict_shipped,
            spec=spec,
            models=table.shipment(spark),
            chunk_rows=PREDICT_CHUNK_ROWS,
        )
        return map_in_pandas(X, ship_rows, schema)
    # A large model table stays distributed: each model row meets its group's rows, first.
    models = spark.createDataFrame(usable[group_cols + ["model"]])
    models = models.withColumnRenamed("model", MODEL)  # numeric keys widen in the union
    combined = X.withColumn(MODEL, F.lit(None).cast("binary")).unionByName(
        models, allowMissingColumns=True
    )
    packed = combined.repartition(n_partitions, *keys).sortWithinPartitions(
        *keys, F.col(MODEL).isNull()
    )
    return map_in_pandas(packed, partial(predict_partition, spec=spec), schema)


def check_features(est, columns) -> None:
    missing = [c for c in est.feature_names_in_ if c not in columns]
    if missing:
        raise ColumnError(
            f"The data lacks feature columns the group models were fitted on: {missing}."
        )


def handle_unseen(est, unseen_keys, n_rows) -> None:
    """Apply ``est.unseen_groups`` to rows whose group has no usable model."""
    if not unseen_keys:
        return
    examples = [dict(zip(est.group_cols_, map(python_scalar, k))) for k in list(unseen_keys)[:5]]
    message = (
        f"{n_rows} rows in {len(unseen_keys)} groups have no fitted model (unseen, "
        f"failed or below min_rows), e.g. {examples}."
    )
    if est.unseen_groups == "raise":
        raise UnseenGroupError(message + " Set unseen_groups='null' to predict null.")
    warnings.warn(message + " Their predictions are null.", UserWarning, stacklevel=4)


def _check_key_types(trained: dict, X) -> None:
    """Group keys match by value, so their types must be comparable with those seen at fit
    (any numeric type with any other; else the same type): a string "1" is not group 1."""
    for name, was in (trained or {}).items():
        now = X.schema[name].dataType.simpleString()
        if now != was and not (_is_numeric_type(now) and _is_numeric_type(was)):
            raise ColumnError(
                f"Group column {name!r} is {now} here but was {was} when the models were "
                f"fitted; cast it (e.g. F.col({name!r}).cast({was!r})) so keys can match."
            )


def _check_unseen_spark(est, spark, X, usable) -> None:
    """One small job before predicting: which groups of ``X`` have no usable model."""
    from pyspark.sql import functions as F

    group_cols = est.group_cols_
    keys = [column(c) for c in group_cols]
    # Repartitioned first: the aggregation then needs no shuffle of its own (Connect's
    # default of 200 shuffle partitions made this small job slow).
    n_partitions = est.n_partitions or default_partitions(spark)
    counts = X.select(*keys).repartition(n_partitions, *keys).groupBy(*keys).count()
    if len(usable):
        keys = spark.createDataFrame(usable[group_cols])
        counts = counts.alias("data").join(
            F.broadcast(keys.alias("models")),
            on=_null_safe_condition(group_cols, "data", "models"),
            how="left_anti",
        )
    unseen = counts.collect()
    handle_unseen(
        est, {tuple(r[c] for c in group_cols) for r in unseen}, sum(r["count"] for r in unseen)
    )


def _is_numeric_type(simple_string: str) -> bool:
    return simple_string.split("(")[0] in {
        "tinyint",
        "smallint",
        "int",
        "bigint",
        "float",
        "double",
        "decimal",
    }


def _null_safe_condition(cols, left, right):
    """Join condition on ``cols`` where null keys match null keys (null groups are groups)."""
    from functools import reduce

    from pyspark.sql import functions as F

    def side(name, c):
        return F.col(f"{name}.`{c.replace('`', '``')}`")

    conditions = [side(left, c).eqNullSafe(side(right, c)) for c in cols]
    return reduce(lambda a, b: a & b, conditions)


# --------------------------------------------------------------- executors
@dataclass(frozen=True)
class PredictSpec:
    """What a prediction task needs besides its rows and the models."""

    method: str
    group_cols: list
    feature_cols: list
    classes: np.ndarray | None
    output_col: str
    output_is_array: bool
    columns: list  # of the input, kept in the output
    raise_unseen: bool
    numpy_ok: bool

    def group(self, key) -> dict:
        return dict(zip(self.group_cols, map(python_scalar, key)))

    def unseen(self, key) -> None:
        """A group without a model: raise under ``unseen_groups="raise"``."""
        if self.raise_unseen:
            raise UnseenGroupError(
                f"Rows of group {self.group(key)} have no fitted model (unseen_groups='raise')."
            )

    def output(self, model, rows, as_numpy):
        return group_output(model, rows, self.method, self.feature_cols, self.classes, as_numpy)


def predict_partition(batches, *, spec):
    """mapInPandas body: rows arrive sorted by group key, each group's model row first.

    One output frame per input batch. A group may span batches: its model is carried over, and
    loaded (once per task) only when the group has rows to predict.
    """
    key, blob, model = None, None, None
    with limit_task_threads():
        for batch in batches:
            batch = batch.reset_index(drop=True)
            is_model = batch[MODEL].notna().to_numpy()
            as_numpy = spec.numpy_ok and all_numeric(batch, spec.feature_cols)
            pieces = []
            for run_key, start, end in key_runs(batch, spec.group_cols):
                if is_model[start]:
                    key, blob, model = run_key, batch[MODEL].iat[start], None
                    start += 1
                elif key is None or not same_key(key, run_key):
                    key, blob, model = run_key, None, None
                if start == end:
                    continue
                if blob is None:
                    spec.unseen(key)
                    pieces.append([None] * (end - start))
                    continue
                if model is None:
                    model = load_model(blob, what=f"model of group {spec.group(key)}")
                values = spec.output(model, batch.iloc[start:end], as_numpy)
                pieces.append(list(values) if spec.output_is_array else values)
            if pieces:
                output = _join_outputs(pieces)
                yield batch.loc[~is_model, spec.columns].assign(**{spec.output_col: output})


def predict_shipped(batches, *, spec, models, chunk_rows):
    """mapInPandas body when the model table travels with the task.

    Rows arrive key-sorted (batch input) or in any order (streaming); batches are gathered into
    chunks of at least ``chunk_rows`` rows so each group's model is called on as many rows at
    once as possible. Each group's model is loaded at most once per task.
    """
    table = models.load()  # {group key: model bytes}, deserialized once per worker
    loaded = {}
    with limit_task_threads():
        for batch in _chunks(batches, chunk_rows):
            as_numpy = spec.numpy_ok and all_numeric(batch, spec.feature_cols)
            pieces, order = [], []
            groups = batch.groupby(spec.group_cols, dropna=False, sort=False).indices
            for key, rows in groups.items():
                key = group_key(key)
                if key not in loaded:
                    blob = table.get(key)
                    if blob is None:
                        spec.unseen(key)
                    what = f"model of group {spec.group(key)}"
                    loaded[key] = None if blob is None else load_model(blob, what=what)
                if loaded[key] is not None:
                    pieces.append(spec.output(loaded[key], batch.iloc[rows], as_numpy))
                    order.append(rows)
            yield batch[spec.columns].assign(
                **{spec.output_col: _place(pieces, order, spec, len(batch))}
            )


def _place(pieces, order, spec, n_rows):
    """Output column of a chunk: each group's values at its rows, null where no model."""
    if not pieces:  # no row of this chunk has a model: all null, whatever the type
        return [None] * n_rows
    if not spec.output_is_array:
        return assemble(pieces, order, n_rows)
    column = [None] * n_rows  # one array per row: groups may differ in width
    for rows, values in zip(order, pieces):
        for row, value in zip(rows, values):
            column[row] = value
    return column


def _chunks(batches, min_rows):
    """Concatenate consecutive pandas batches into frames of at least ``min_rows`` rows."""
    pending, n_rows = [], 0
    for batch in batches:
        pending.append(batch)
        n_rows += len(batch)
        if n_rows >= min_rows:
            yield pd.concat(pending, ignore_index=True)
            pending, n_rows = [], 0
    if n_rows:
        yield pd.concat(pending, ignore_index=True)


def _join_outputs(pieces):
    """One output column from per-run pieces (arrays, or lists for array<> and null rows)."""
    if all(isinstance(p, np.ndarray) for p in pieces):
        return np.concatenate(pieces)
    return [value for piece in pieces for value in piece]


def group_output(model, frame, method, feature_cols, classes, as_numpy=False):
    """``model.method`` on the feature columns of ``frame``, probabilities aligned to ``classes``.

    ``as_numpy`` (plain scikit-learn models, numeric features) skips the per-call DataFrame
    validation: the columns are already selected by name in the order the model was fitted on.
    """
    if as_numpy:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "X does not have valid feature names")
            values = getattr(model, method)(frame[feature_cols].to_numpy())
    else:
        values = getattr(model, method)(frame[feature_cols])
    if method in ("predict_proba", "predict_log_proba") and classes is not None:
        fill = -np.inf if method == "predict_log_proba" else 0.0
        aligned = np.full((len(frame), len(classes)), fill)
        aligned[:, np.searchsorted(classes, model.classes_)] = values
        return aligned
    return np.asarray(values)


def assemble(pieces, order, n_rows):
    """Put per-group outputs back in input row order; rows without a model get NaN / None."""
    if not pieces:
        return np.full(n_rows, np.nan)
    widths = {p.shape[1:] for p in pieces}
    if len(widths) > 1:
        raise ValueError(
            f"The group models' outputs have different widths {sorted(widths)} (e.g. a "
            "transformer that learned different categories per group), so they cannot be "
            "stacked into one array. Predict on a Spark DataFrame (one array per row) instead."
        )
    dtype = np.result_type(*pieces)
    shape = (n_rows, *pieces[0].shape[1:])
    if sum(len(p) for p in pieces) == n_rows:
        out = np.empty(shape, dtype)
    else:  # some rows had no model: NaN for numbers, None otherwise
        dtype = np.dtype(np.float64 if np.issubdtype(dtype, np.number) else object)
        out = np.full(shape, None if dtype.kind == "O" else np.nan, dtype)
    for rows, values in zip(order, pieces):
        out[rows] = values
    return out
