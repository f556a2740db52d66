"""The model table of a fitted GroupedEstimator: one row per group, and its files in a save.

:class:`ModelTable` holds the table (the group columns, then the fields of :mod:`._schema`)
on the driver as pandas, an index from group key to row, the models loaded so far, and what
Spark needs of it (a Spark DataFrame view, a shipment for prediction tasks), which it
rebuilds lazily after unpickling. A table whose models add up to more than
:data:`~.._shipping.SHIP_LIMIT_BYTES` stays distributed: its models remain in a persisted
Spark DataFrame on the executors, and the driver keeps the other fields.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

from .._reserved import MODEL_BYTES
from .._serialization import blob_format, dump_model, load_model
from .._shipping import SHIP_LIMIT_BYTES, ship
from ..exceptions import GroupFitError
from ._keys import group_key, key_dict
from ._schema import STATUS_FAILED, STATUS_OK, add_later_fields, table_schema

__all__ = ["FALLBACK_FILE", "MODELS_FILE", "ModelTable", "collect_fit_output"]

#: The table's files in a save directory.
MODELS_FILE = "models.parquet"
FALLBACK_FILE = "fallback.model"


def _convert(blob, serializer, trusted=None):
    """``blob`` re-serialized as ``serializer`` (None stays None; same format: unchanged)."""
    if blob is None or blob_format(blob) == serializer:
        return blob
    return dump_model(load_model(blob, what="group model", trusted=trusted), serializer)


def collect_fit_output(fitted, schema, n_partitions: int):
    """``(frame, distributed)`` of a persisted fit output of ``n_partitions`` partitions: the
    fit runs here.

    Small tables are collected whole (``distributed`` None, the cache released); a table
    whose models add up to more than :data:`~.._shipping.SHIP_LIMIT_BYTES` stays on the executors
    (``distributed`` is ``fitted``) and only its other fields and model sizes come back.
    The sizes, then the table, are read back in an eighth as many tasks as the fit had
    (``coalesce``, no shuffle): what comes back is small, and a task per partition cost
    about 7 ms each to read the cached rows (0.9 s of the 2-core machine's CPU at 128
    slots; the sizes took 0.38 s at 64 slots in a task per partition, 0.06 s coalesced).
    The sizes are read coalesced only when the fit fills the cache in a job of its own
    (:func:`_cache_filled_apart`): otherwise the fit would run in the readers' few tasks.
    """
    from pyspark.sql import functions as F

    from .._inputs import column, to_pandas

    size = F.coalesce(F.length("model"), F.lit(0))
    # Each model's size, summed here: Spark's sum would add a stage after the fit's (about
    # 0.1 s locally, 0.3-0.5 s on a standalone cluster), for a column of one int a group.
    readers = max(1, -(-n_partitions // 8))
    sizes = fitted.select(size.alias("bytes"))
    if _cache_filled_apart(fitted.sparkSession):
        sizes = sizes.coalesce(readers)
    total = int(to_pandas(sizes)["bytes"].sum())
    if total <= SHIP_LIMIT_BYTES:
        frame = to_pandas(fitted.coalesce(readers))
        fitted.unpersist()
        return frame, None
    fields = [column(f.name) for f in schema.fields if f.name != "model"]
    return to_pandas(fitted.select(*fields, size.alias(MODEL_BYTES)).coalesce(readers)), fitted


def _cache_filled_apart(spark) -> bool:
    """Whether Spark fills a persisted frame's cache in a job of its own, in as many tasks
    as the frame has partitions, before a query that reads it runs.

    Adaptive query execution does (a table-cache query stage), so that query may read the
    cache in fewer tasks. Without it, the cache is filled by the tasks of the first query
    that reads it: a coalesced read would run the fit in those few tasks (measured: 16
    tasks instead of 127, 8.8 s instead of 4.2 s). ``test_the_fit_runs_in_every_partition``
    fails if either changes.
    """
    return str(spark.conf.get("spark.sql.adaptive.enabled", "true")).strip().lower() == "true"


class ModelTable:
    """The fitted models, one row per group.

    Parameters
    ----------
    frame : pandas.DataFrame
        Group columns followed by :data:`~._schema.TABLE_FIELDS`. For a distributed table, the
        ``model`` field is replaced by :data:`MODEL_BYTES` (each model's size).
    group_cols : list of str
    key_types : dict
        Spark type (``simpleString``) of each group column at fit time.
    fallback : bytes, optional
        The serialized fallback model.
    distributed : pyspark.sql.DataFrame, optional
        The whole table, models included, persisted on the executors: the table is then
        distributed and ``frame`` holds everything but the models.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        group_cols: list,
        key_types: dict,
        fallback=None,
        distributed=None,
    ):
        self.fallback = fallback  # serialized fallback model (fitted on all rows), or None
        frame = frame.reset_index(drop=True)
        frame.attrs.clear()
        if MODEL_BYTES in frame.columns:
            self._sizes = frame.pop(MODEL_BYTES).fillna(0).to_numpy(dtype="int64")
            frame.insert(len(group_cols), "model", None)
        else:
            self._sizes = frame["model"].map(lambda b: 0 if b is None else len(b))
            self._sizes = self._sizes.to_numpy(dtype="int64")
        self.frame = frame
        self.distributed = distributed
        self.group_cols = list(group_cols)
        self.key_types = dict(key_types)
        rows = self.frame[self.group_cols].itertuples(index=False)
        self.index = {group_key(tuple(row)): i for i, row in enumerate(rows)}
        self._ok = (self.frame["status"] == STATUS_OK).to_numpy()
        self._models: dict = {}
        self._spark_frame = None
        self._linear_frame = None
        self._shipment = None

    # ------------------------------------------------------------- summary
    @property
    def n_groups(self) -> int:
        return len(self.frame)

    @property
    def n_failed(self) -> int:
        return int((~self._ok).sum())

    def classes(self):
        """Sorted union of every group model's ``classes_``, or None (not classifiers)."""
        classes = [json.loads(c) for c in self.frame["classes"].dropna()]
        if not classes:
            return None
        return np.unique(np.concatenate([np.asarray(c) for c in classes]))

    def first_failure(self):
        """``(key dict, traceback)`` of the first failed group, or None."""
        failed = self.frame[self.frame["status"] == STATUS_FAILED]
        if not len(failed):
            return None
        row = failed.iloc[0]
        return key_dict(self.group_cols, row[self.group_cols]), row["error"]

    # -------------------------------------------------------------- lookup
    def fallback_model(self):
        """The fallback model, loaded once (None without one)."""
        if self.fallback is None:
            return None
        if "fallback" not in self._models:
            self._models["fallback"] = load_model(self.fallback, what="fallback model")
        return self._models["fallback"]

    def position(self, key: tuple) -> int:
        """Row of ``key`` if that group has a usable model, else -1."""
        position = self.index.get(key)
        return -1 if position is None or not self._ok[position] else position

    def model_at(self, position: int):
        """The model of a row, loaded (and integrity-checked) once."""
        if position not in self._models:
            if not self._ok[position]:
                row = self.frame.iloc[position]
                key = key_dict(self.group_cols, row[self.group_cols])
                raise GroupFitError(
                    f"Group {key} has no model (status {row['status']!r}): {row['error']}",
                    group=key,
                    remote_traceback=row["error"] or "",
                )
            self.prefetch([position])
        return self._models[position]

    def prefetch(self, positions) -> None:
        """Load the models of the usable rows at ``positions`` not loaded yet: from the
        driver's table, or in one Spark job from a distributed table."""
        wanted = [p for p in positions if p not in self._models and self._ok[p]]
        if not wanted:
            return
        if self.distributed is None:
            blobs = dict(zip(wanted, self.frame["model"].iloc[wanted]))
        else:
            blobs = self._fetch(wanted)
        for position, blob in blobs.items():
            key = key_dict(self.group_cols, self.frame[self.group_cols].iloc[position])
            self._models[position] = load_model(blob, what=f"model of group {key}")

    def _fetch(self, positions) -> dict:
        """``{position: model bytes}`` from the distributed table, in one Spark job."""
        from pyspark.sql import functions as F

        from .._frames import null_safe_condition
        from .._inputs import column, to_pandas

        spark = self.distributed.sparkSession
        schema = self.spark_schema()
        schema = type(schema)([schema[c] for c in self.group_cols])
        keys = spark.createDataFrame(self.frame[self.group_cols].iloc[positions], schema)
        condition = null_safe_condition(self.group_cols, "table", "keys")
        found = self.distributed.alias("table").join(
            F.broadcast(keys.alias("keys")), condition, "left_semi"
        )
        found = to_pandas(found.select(*[column(c) for c in self.group_cols], "model"))
        rows = found[self.group_cols].itertuples(index=False)
        return {
            self.index[group_key(tuple(row))]: bytes(blob)
            for row, blob in zip(rows, found["model"])
        }

    def all_linear(self) -> bool:
        """Every usable group model is linear: its ``intercept`` and ``coef`` were recorded
        at fit (:func:`._linear.linear_form`), so Spark SQL can predict for it."""
        intercepts = self.frame.loc[self._ok, "intercept"]
        return len(intercepts) > 0 and bool(intercepts.notna().all())

    def usable(self) -> pd.DataFrame:
        """Rows whose status is ``"ok"`` (for a distributed table, without their models)."""
        return self.frame[self._ok]

    def usable_bytes(self) -> int:
        return int(self._sizes[self._ok].sum())

    def with_models(self) -> pd.DataFrame:
        """:attr:`frame` with its models (collected from the executors when distributed)."""
        if self.distributed is None:
            return self.frame
        from .._inputs import to_pandas

        collected = to_pandas(self.distributed)
        index = [
            self.index[group_key(tuple(r))]
            for r in collected[self.group_cols].itertuples(index=False)
        ]
        models = pd.Series(list(collected["model"]), index=index).sort_index()
        return self.frame.assign(model=[None if b is None else bytes(b) for b in models])

    # --------------------------------------------------------------- Spark
    def spark_frame(self, spark):
        """The table as a Spark DataFrame (made once; a distributed table's own)."""
        if self.distributed is not None:
            return self.distributed
        if self._spark_frame is None:
            self._spark_frame = spark.createDataFrame(self.frame, self.spark_schema())
        return self._spark_frame

    def linear_frame(self, spark):
        """Spark DataFrame of the group columns, ``intercept`` and ``coef`` (made once; for a
        distributed table, a selection of it): what the SQL prediction of linear group
        models needs, without the model bytes."""
        columns = self.group_cols + ["intercept", "coef"]
        if self.distributed is not None:
            from .._inputs import column

            return self.distributed.select(*[column(c) for c in columns])
        if self._linear_frame is None:
            schema = self.spark_schema()
            schema = type(schema)([schema[c] for c in columns])
            self._linear_frame = spark.createDataFrame(self.frame[columns], schema)
        return self._linear_frame

    def spark_schema(self):
        """The table's Spark schema, with the group columns' types from fit time."""
        from pyspark.sql import types as T

        return table_schema(
            T.StructField(c, T.DataType.fromDDL(self.key_types[c])) for c in self.group_cols
        )

    def usable_keys(self, spark):
        """Spark DataFrame of the group columns of the groups with a usable model."""
        from pyspark.sql import functions as F

        from .._inputs import column

        if self.distributed is None:
            schema = self.spark_schema()
            schema = type(schema)([schema[c] for c in self.group_cols])
            return spark.createDataFrame(self.usable()[self.group_cols], schema)
        ok = F.col("status") == STATUS_OK
        return self.distributed.filter(ok).select(*[column(c) for c in self.group_cols])

    def served(self, spark, routing):
        """Spark DataFrame of the group columns and ``model`` of every group with a usable
        model, plus the groups without one that ``routing`` serves (their ``model`` is
        its :meth:`~._policy.Routing.unusable_blob`)."""
        from pyspark.sql import functions as F

        from .._inputs import column

        unusable_blob = routing.unusable_blob()
        if self.distributed is None:
            served = self.usable()[self.group_cols + ["model"]]
            if unusable_blob is not None:
                unusable = self.frame.loc[~self._ok, self.group_cols]
                served = pd.concat(
                    [served, unusable.assign(model=unusable_blob)], ignore_index=True
                )
            schema = self.spark_schema()
            schema = type(schema)([schema[c] for c in self.group_cols] + [schema["model"]])
            return spark.createDataFrame(served, schema)
        keys = [column(c) for c in self.group_cols]
        ok = F.col("status") == STATUS_OK
        if unusable_blob is None:
            return self.distributed.filter(ok).select(*keys, "model")
        marker = F.lit(unusable_blob).cast("binary")
        return self.distributed.select(
            *keys, F.when(ok, F.col("model")).otherwise(marker).alias("model")
        )

    def shipment(self, spark, routing):
        """``{group key: model bytes}`` of the usable models, shipped once per fitted table
        (a distributed table's models are collected for it), plus the groups without a
        model that ``routing`` serves (mapped to its
        :meth:`~._policy.Routing.unusable_blob`)."""
        if self._shipment is None:
            blobs = self.with_models()["model"]
            models = {k: blobs.iat[i] for k, i in self.index.items() if self._ok[i]}
            unusable_blob = routing.unusable_blob()
            if unusable_blob is not None:
                unused = {k: unusable_blob for k, i in self.index.items() if not self._ok[i]}
                models.update(unused)
            self._shipment = ship(spark, models, what="model table")
        return self._shipment

    def replace_groups(self, new: ModelTable, spark) -> ModelTable:
        """This table with every group of ``new`` replaced by (or added as) ``new``'s row.

        The other rows are kept as they are. The result is distributed when either table
        is, or when it outgrows :data:`~.._shipping.SHIP_LIMIT_BYTES`.
        """
        kept = np.array([key not in new.index for key in self.index], dtype=bool)
        sizes = np.concatenate([self._sizes[kept], new._sizes])
        local = self.distributed is None and new.distributed is None
        if local and sizes.sum() <= SHIP_LIMIT_BYTES:
            frame = pd.concat([self.frame[kept], new.frame], ignore_index=True)
            return ModelTable(frame, self.group_cols, self.key_types, fallback=self.fallback)
        from .._frames import null_safe_condition
        from .._inputs import column

        old, update = self.spark_frame(spark), new.spark_frame(spark)
        keys = update.select(*[column(c) for c in self.group_cols])
        condition = null_safe_condition(self.group_cols, "old", "new")
        combined = old.alias("old").join(keys.alias("new"), condition, "left_anti")
        # Computed now, and cut from its lineage: when the old tables' caches are released,
        # Spark would otherwise recompute a cached plan built on them (it re-caches such
        # plans lazily), refitting the kept groups: new fitted_at, and new models for
        # estimators that are not deterministic.
        combined = combined.unionByName(update).localCheckpoint(eager=True)
        frame = (
            pd.concat([self.frame[kept], new.frame], ignore_index=True)
            .assign(**{MODEL_BYTES: sizes})
            .drop(columns="model")
        )
        return ModelTable(
            frame, self.group_cols, self.key_types, fallback=self.fallback, distributed=combined
        )

    def release(self) -> None:
        """Free the executors' copy of the models (shipped, or a distributed table's)."""
        if self._shipment is not None:
            self._shipment.release()
            self._shipment = None
        if self.distributed is not None:
            self.distributed.unpersist()

    def __getstate__(self):
        state = self.__dict__.copy()
        # Driver-only state is dropped; a distributed table is pickled with its models.
        state.update(
            _models={}, _spark_frame=None, _linear_frame=None, _shipment=None, distributed=None
        )
        state["frame"] = self.with_models()
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("_linear_frame", None)  # pickled by an earlier release
        add_later_fields(self.frame)

    # --------------------------------------------------------- persistence
    def write(self, directory, serializer="pickle") -> dict:
        """Write the table's files (:data:`MODELS_FILE`, :data:`FALLBACK_FILE`) into a save
        directory, models in ``serializer``'s format; return what :meth:`read` needs back
        (for the estimator's metadata)."""
        frame = self.with_models()
        if serializer != "pickle":
            frame = frame.assign(model=[_convert(b, serializer) for b in frame["model"]])
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        directory.write(MODELS_FILE, buffer.getvalue())
        if self.fallback is not None:
            directory.write(FALLBACK_FILE, _convert(self.fallback, serializer))
        return {"group_cols": self.group_cols, "key_types": self.key_types}

    @staticmethod
    def saved_blobs(files: dict, metadata: dict) -> dict:
        """``{what: bytes}`` of every serialized object among the table's files (to check
        their format before any is loaded)."""
        frame = pd.read_parquet(io.BytesIO(files[MODELS_FILE]))
        keys = [
            key_dict(metadata["group_cols"], row)
            for row in frame[metadata["group_cols"]].itertuples(index=False)
        ]
        blobs = {f"model of group {k} ({MODELS_FILE})": b for k, b in zip(keys, frame["model"])}
        blobs[FALLBACK_FILE] = files.get(FALLBACK_FILE)
        return blobs

    @classmethod
    def read(cls, files: dict, metadata: dict, trusted=None) -> ModelTable:
        """The table from a verified save's ``{name: bytes}`` and :meth:`write`'s metadata.

        Models of a skops save are loaded here, once (refusing untrusted types), and kept as
        pickles like a fitted table's.
        """
        frame = add_later_fields(pd.read_parquet(io.BytesIO(files[MODELS_FILE])))
        frame["model"] = [_convert(b, "pickle", trusted) for b in frame["model"]]
        fallback = files.get(FALLBACK_FILE)
        if fallback is not None:
            fallback = _convert(fallback, "pickle", trusted)
        return cls(frame, metadata["group_cols"], metadata["key_types"], fallback=fallback)
