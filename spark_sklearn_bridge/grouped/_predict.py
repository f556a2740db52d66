"""GroupedEstimator prediction: each row scored by its own group's model.

On pandas input the driver groups the rows and calls each group's model once. On Spark input
(:func:`predict_spark`) a model table of up to :data:`~.._shipping.SHIP_LIMIT_BYTES` travels
with the tasks (a broadcast on classic Spark); the rows are sorted by group within each
partition, after hash-partitioning them by group when there are more than
:data:`UNSHUFFLED_MAX_GROUPS` groups, so each model is called once per group and task. A
larger table stays distributed and meets its groups' rows in the same shuffle. Streaming
input always takes the first path, neither shuffled nor sorted. Which model serves a group
without its own is :mod:`._policy`'s call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from .._frames import (
    coalesce_for_shuffle,
    key_runs,
    map_in_pandas,
    null_safe_condition,
    rebatch,
    same_key,
)
from .._inputs import column, spark_column_kinds
from .._linear import plain_numbers
from .._model_input import is_vector_type, output_vectors
from .._reserved import KNOWN, MODEL
from .._schemas import is_clusterer, output_type
from .._serialization import load_model
from .._session import get_spark
from .._shipping import SHIP_LIMIT_BYTES
from .._threads import limit_task_threads
from ..exceptions import ColumnError
from ._features import FeatureMatrix, fits_numpy_like_pandas, numpy_features
from ._keys import check_key_types, group_key, key_dict
from ._linear import join_coefficients, linear_prediction
from ._policy import Missing, Routing

__all__ = ["predict_local", "predict_spark"]

SOURCE_COL = "model_source"  # with a fallback model: "group" or "fallback", per output row
#: Linear group models are predicted in Spark SQL (:mod:`._linear`); tests turn it off to
#: run the same models through the per-group model path.
LINEAR_IN_SQL = True
PREDICT_CHUNK_ROWS = 50_000  # rows gathered before each group's model is called on its share
#: With a shipped table, up to this many groups to predict (the table's plus the unseen ones
#: the fallback serves) are not shuffled: each input partition is sorted by group and each
#: model called about once per partition that has its rows (once per chunk of it).
#: Measured on 2M rows x 10 doubles in 4 partitions (local[2]): decision trees over 20 and
#: 200 groups 1.2x and 1.4x faster than hash-partitioning the rows first; a 20-tree forest,
#: whose calls cost more, 1.2x faster over 20 groups and even over 200.
UNSHUFFLED_MAX_GROUPS = 64


# ------------------------------------------------------------------ driver
def predict_local(est, method, frame):
    """``method`` of each row's group model on a pandas frame; numpy, in row order."""
    table, group_cols = est._table, est.group_cols_
    check_features(est, frame.columns)
    frame = frame.reset_index(drop=True)
    groups = frame.groupby(group_cols, dropna=False, sort=False).indices
    positions, missing = {}, Missing()
    for key, rows in groups.items():
        key = group_key(key)
        position = table.position(key)
        if position < 0:
            missing.add(key, len(rows), known=key in table.index)
        else:
            positions[position] = rows
    table.prefetch(list(positions))  # one job for a distributed table
    usable = [(table.model_at(position), rows) for position, rows in positions.items()]
    fallback_keys = _routing(est).route(missing, partial(key_dict, group_cols))
    if fallback_keys:
        rows = np.concatenate([groups_by_key(groups)[k] for k in fallback_keys])
        usable.append((table.fallback_model(), np.sort(rows)))
    classes, features = getattr(est, "classes_", None), list(est.feature_names_in_)
    numpy_ok = fits_numpy_like_pandas(est.estimator, features)
    X = FeatureMatrix(frame, features, numpy_ok, est._one_column)
    with numpy_features():
        pieces = [group_output(model, X.rows(rows), method, classes) for model, rows in usable]
    return assemble(pieces, [rows for _, rows in usable], len(frame))


def groups_by_key(groups) -> dict:
    """pandas ``groupby(...).indices`` keyed by normalised group keys."""
    return {group_key(k): rows for k, rows in groups.items()}


def predict_spark(est, method, X):
    """``X`` plus ``est.prediction_col``: ``method`` of each row's group model (lazy)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    table, group_cols = est._table, est.group_cols_
    check_features(est, spark_column_kinds(X.schema))
    missing = [c for c in group_cols if c not in X.columns]
    if missing:
        raise ColumnError(f"group_cols {missing} are not columns of the DataFrame.")
    outputs = [est.prediction_col] + ([SOURCE_COL] if table.fallback is not None else [])
    for name in outputs:
        if name in X.columns:
            raise ColumnError(
                f"The DataFrame already has a column {name!r}"
                + ("; choose another prediction_col." if name == est.prediction_col else ".")
            )
    types = {name: X.schema[name].dataType.simpleString() for name in table.key_types}
    check_key_types(table.key_types, types)
    spark = get_spark(est.spark)
    to_fallback = []
    if not X.isStreaming:
        to_fallback = _check_unseen_spark(est, spark, X, usable=len(table.usable()) > 0)
    classes = getattr(est, "classes_", None)  # the union of group classes, set at fit
    out_type = output_type(method, classes=classes, clusterer=is_clusterer(est.estimator))
    fields = [*X.schema.fields, T.StructField(est.prediction_col, out_type)]
    if table.fallback is not None:
        fields.append(T.StructField(SOURCE_COL, T.StringType()))
    schema = T.StructType(fields)
    features = list(est.feature_names_in_)
    spec = PredictSpec(
        method=method,
        group_cols=group_cols,
        feature_cols=features,
        classes=classes,
        output_col=est.prediction_col,
        output_is_array=isinstance(out_type, T.ArrayType),
        columns=list(X.columns),
        vector_columns=[f.name for f in X.schema.fields if is_vector_type(f.dataType)],
        numpy_ok=fits_numpy_like_pandas(est.estimator, features),
        one_column=est._one_column,
        routing=_routing(est),
        fallback=table.fallback,
    )
    linear = LINEAR_IN_SQL and method == "predict" and not X.isStreaming
    if linear and table.all_linear() and plain_numbers(X.schema, features):
        return _predict_linear(X, table, spark, spec, schema, bool(to_fallback))
    n_partitions = est._partitions(spark)
    keys = [column(c) for c in group_cols]  # quoted: any column name works
    small = table.distributed is None and table.usable_bytes() <= SHIP_LIMIT_BYTES
    if X.isStreaming or small:
        if not X.isStreaming:
            unseen = sum(key not in table.index for key in to_fallback)  # not in n_groups
            if table.n_groups + unseen > UNSHUFFLED_MAX_GROUPS:
                X = coalesce_for_shuffle(X, spark).repartition(n_partitions, *keys)
            X = X.sortWithinPartitions(*keys)
        ship_rows = partial(
            predict_shipped,
            spec=spec,
            models=table.shipment(spark, spec.routing),
            chunk_rows=PREDICT_CHUNK_ROWS,
        )
        return map_in_pandas(X, ship_rows, schema)
    # A large model table stays distributed: each model row meets its group's rows, first.
    models = table.served(spark, spec.routing).withColumnRenamed("model", MODEL)
    rows = coalesce_for_shuffle(X, spark).withColumn(MODEL, F.lit(None).cast("binary"))
    combined = rows.unionByName(models, allowMissingColumns=True)
    packed = combined.repartition(n_partitions, *keys).sortWithinPartitions(
        *keys, F.col(MODEL).isNull()
    )
    return map_in_pandas(packed, partial(predict_partition, spec=spec), schema)


def _predict_linear(X, table, spark, spec, schema, fallback_rows):
    """Every usable group model is linear (:mod:`._linear`): the prediction is computed in
    Spark SQL from the joined coefficients; only rows routed to the fallback model (if
    ``fallback_rows``) go through Python."""
    from pyspark.sql import functions as F

    joined, has_model = join_coefficients(
        X,
        table.linear_frame(spark),
        group_cols=spec.group_cols,
        n_features=len(spec.feature_cols),
        n_groups=table.n_groups,
    )
    inputs = [column(c) for c in X.columns]
    prediction = linear_prediction(spec.group_cols, spec.feature_cols)
    if not fallback_rows:  # rows without a model get null (counted before the job)
        outputs = [F.when(has_model, prediction).alias(spec.output_col)]
        if spec.with_source:
            outputs.append(F.when(has_model, F.lit("group")).alias(SOURCE_COL))
        return joined.select(*inputs, *outputs)
    scored = joined.filter(has_model).select(
        *inputs, prediction.alias(spec.output_col), F.lit("group").alias(SOURCE_COL)
    )
    rest = joined.filter(~has_model).select(*inputs, KNOWN)
    return scored.unionByName(map_in_pandas(rest, partial(predict_rest, spec=spec), schema))


def predict_rest(batches, *, spec):
    """mapInPandas body for the rows without a group model (:func:`_predict_linear`): the
    fallback model predicts the rows of known groups (failed, too few rows) and, under
    ``unseen_groups="fallback"``, of unseen ones; the other rows get null."""
    cache = {}
    with limit_task_threads(), numpy_features():
        for batch in batches:
            use = spec.routing.rows_to_fallback(batch.pop(KNOWN).notna().to_numpy())
            prediction = np.full(len(batch), np.nan)  # NaN arrives in Spark as null
            if use.any():
                model = spec.fallback_model(cache)
                X = batch.loc[use, spec.feature_cols]
                prediction[use] = spec.output(model, X)
            source = np.where(use, "fallback", None)
            yield batch.assign(**{spec.output_col: prediction, SOURCE_COL: source})


def check_features(est, columns) -> None:
    missing = [c for c in est.feature_names_in_ if c not in columns]
    if missing:
        raise ColumnError(
            f"The data lacks feature columns the group models were fitted on: {missing}."
        )


def _routing(est) -> Routing:
    return Routing(est.unseen_groups, est._table.fallback is not None)


def _check_unseen_spark(est, spark, X, usable) -> list:
    """One small job before predicting: which groups of ``X`` have no usable model. Returns
    the keys of those the fallback model predicts (:meth:`~._policy.Routing.route`)."""
    from pyspark.sql import functions as F

    group_cols = est.group_cols_
    keys = [column(c) for c in group_cols]
    # Repartitioned first: the aggregation then needs no shuffle of its own (Connect's
    # default of 200 shuffle partitions made this small job slow).
    n_partitions = est._partitions(spark)
    counts = X.select(*keys).repartition(n_partitions, *keys).groupBy(*keys).count()
    if usable:
        keys = est._table.usable_keys(spark)
        counts = counts.alias("data").join(
            F.broadcast(keys.alias("models")),
            on=null_safe_condition(group_cols, "data", "models"),
            how="left_anti",
        )
    missing = Missing()
    for row in counts.collect():
        key = group_key(tuple(row[c] for c in group_cols))
        missing.add(key, row["count"], known=key in est._table.index)
    return _routing(est).route(missing, partial(key_dict, group_cols))


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
    vector_columns: list  # of those, the pyspark.ml Vector columns
    numpy_ok: bool
    one_column: bool
    routing: Routing
    fallback: bytes | None = None  # the fallback model's bytes

    def model(self, key, blob, cache: dict):
        """``(model, source)`` for a group's rows, from what the task got for it (its model
        bytes, the fallback marker, or None for an unseen group): see
        :meth:`~._policy.Routing.source`. ``(None, None)``: null output."""
        source = self.routing.source(blob, lambda: key_dict(self.group_cols, key))
        if source == "fallback":
            return self.fallback_model(cache), source
        if source is None:
            return None, None
        return load_model(blob, what=f"model of group {key_dict(self.group_cols, key)}"), source

    def fallback_model(self, cache: dict):
        """The fallback model, loaded once per task (``cache``)."""
        if "fallback" not in cache:
            cache["fallback"] = load_model(self.fallback, what="fallback model")
        return cache["fallback"]

    @property
    def with_source(self) -> bool:
        return self.fallback is not None

    def output(self, model, X):
        return group_output(model, X, self.method, self.classes)

    def kept(self, frame):
        """The input columns of ``frame`` as the output keeps them (Vector columns in the
        form the installed pyspark's output takes)."""
        out = frame[self.columns]
        for name in self.vector_columns:
            out[name] = output_vectors(out[name])
        return out


def predict_partition(batches, *, spec):
    """mapInPandas body: rows arrive sorted by group key, each group's model row first.

    One output frame per input batch. A group may span batches: its model is carried over, and
    loaded (once per task) only when the group has rows to predict.
    """
    key, blob, model, source, cache = None, None, None, None, {}
    with limit_task_threads(), numpy_features():
        for batch in batches:
            batch = batch.reset_index(drop=True)
            is_model = batch[MODEL].notna().to_numpy()
            features = FeatureMatrix(batch, spec.feature_cols, spec.numpy_ok, spec.one_column)
            pieces, sources = [], []
            for run_key, start, end in key_runs(batch, spec.group_cols):
                if is_model[start]:
                    key, blob, model = run_key, batch[MODEL].iat[start], None
                    start += 1
                elif key is None or not same_key(key, run_key):
                    key, blob, model = run_key, None, None
                if start == end:
                    continue
                if model is None:
                    model, source = spec.model(key, blob, cache)
                sources.append([source] * (end - start))
                if model is None:
                    pieces.append([None] * (end - start))
                    continue
                values = spec.output(model, features.rows(slice(start, end)))
                pieces.append(list(values) if spec.output_is_array else values)
            if pieces:
                out = spec.kept(batch.loc[~is_model]).assign(
                    **{spec.output_col: _join_outputs(pieces)}
                )
                if spec.with_source:
                    out[SOURCE_COL] = [s for run in sources for s in run]
                yield out


def predict_shipped(batches, *, spec, models, chunk_rows):
    """mapInPandas body when the model table travels with the task.

    Rows arrive key-sorted (batch input) or in any order (streaming); batches are gathered into
    chunks of at least ``chunk_rows`` rows so each group's model is called on as many rows at
    once as possible. Each group's model is loaded at most once per task.
    """
    table = models.load()  # {group key: model bytes}, deserialized once per worker
    loaded, cache = {}, {}
    with limit_task_threads(), numpy_features():
        for batch in rebatch(batches, chunk_rows):
            features = FeatureMatrix(batch, spec.feature_cols, spec.numpy_ok, spec.one_column)
            pieces, order = [], []
            source_col = np.full(len(batch), None, dtype=object)
            groups = batch.groupby(spec.group_cols, dropna=False, sort=False).indices
            for key, rows in groups.items():
                key = group_key(key)
                if key not in loaded:
                    loaded[key] = spec.model(key, table.get(key), cache)
                model, source = loaded[key]
                source_col[rows] = source
                if model is not None:
                    pieces.append(spec.output(model, features.rows(rows)))
                    order.append(rows)
            out = spec.kept(batch).assign(
                **{spec.output_col: _place(pieces, order, spec, len(batch))}
            )
            if spec.with_source:
                out[SOURCE_COL] = source_col
            yield out


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


def _join_outputs(pieces):
    """One output column from per-run pieces (arrays, or lists for array<> and null rows)."""
    if all(isinstance(p, np.ndarray) for p in pieces):
        return np.concatenate(pieces)
    return [value for piece in pieces for value in piece]


def group_output(model, X, method, classes):
    """``model.method(X)``, probabilities aligned to ``classes``.

    ``X`` is the group's feature DataFrame, or (plain scikit-learn models, numeric features)
    its numpy matrix, which skips the per-call DataFrame validation: the columns are already
    selected by name in the order the model was fitted on. Callers of the numpy form run it
    under :func:`~._features.numpy_features`.
    """
    values = getattr(model, method)(X)
    if method in ("predict_proba", "predict_log_proba") and classes is not None:
        fill = -np.inf if method == "predict_log_proba" else 0.0
        aligned = np.full((X.shape[0], len(classes)), fill)
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
