"""The model table of a fitted GroupedEstimator: one row per group, and its save format.

:class:`ModelTable` holds the table (group keys, serialized model, row count, fit seconds,
status, error, classes) on the driver as pandas, an index from group key to row, the models
loaded so far, and what Spark needs of it (a Spark DataFrame view, a shipment for prediction
tasks), which it rebuilds lazily after unpickling.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

from .._base import python_scalar
from .._serialization import blob_format, dump_model, load_model, refuse_pickles
from .._shipping import ship
from ..exceptions import GroupFitError

__all__ = [
    "DISTRIBUTED_ABOVE_BYTES",
    "USE_FALLBACK",
    "ModelTable",
    "collect_fit_output",
    "group_key",
    "isnull",
]

STATUS_OK, STATUS_FAILED, STATUS_TOO_FEW = "ok", "failed", "too_few_rows"
TABLE_FIELDS = [
    "model",
    "n_rows",
    "fit_seconds",
    "status",
    "error",
    "classes",
    "best_params",
    "best_score",
    "fitted_at",
    "intercept",
    "coef",
]
#: Fields added after the first release: a table read from an older save gets them as nulls.
_LATER_FIELDS = ("best_params", "best_score", "fitted_at", "intercept", "coef")
#: Model bytes of a group that has no model of its own but is served by the fallback model.
USE_FALLBACK = b""
FALLBACK_FILE = "fallback.model"
#: Model tables whose models add up to more than this stay distributed (also the limit above
#: which prediction joins the models to the rows instead of shipping them with the tasks).
DISTRIBUTED_ABOVE_BYTES = 64 * 2**20
#: Byte size of each model, a column of a distributed table's driver part.
MODEL_BYTES = "__ssb_model_bytes__"


def isnull(value) -> bool:
    """``pd.isna`` for one value; False for values it cannot judge (arrays, objects)."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def group_key(values) -> tuple:
    """Hashable key with NaN/None normalised, so null groups can be looked up."""
    if not isinstance(values, tuple):
        values = (values,)
    return tuple(None if isnull(v) else python_scalar(v) for v in values)


def _convert(blob, serializer, trusted=None):
    """``blob`` re-serialized as ``serializer`` (None stays None; same format: unchanged)."""
    if blob is None or blob_format(blob) == serializer:
        return blob
    return dump_model(load_model(blob, what="group model", trusted=trusted), serializer)


def collect_fit_output(fitted, schema):
    """``(frame, distributed)`` of a persisted fit output: the fit runs here.

    Small tables are collected whole (``distributed`` None, the cache released); a table
    whose models add up to more than :data:`DISTRIBUTED_ABOVE_BYTES` stays on the executors
    (``distributed`` is ``fitted``) and only its other fields and model sizes come back.
    """
    from pyspark.sql import functions as F

    from .._inputs import column, to_pandas

    size = F.coalesce(F.length("model"), F.lit(0))
    total = fitted.select(F.sum(size).alias("bytes")).first()["bytes"] or 0
    if total <= DISTRIBUTED_ABOVE_BYTES:
        frame = to_pandas(fitted)
        fitted.unpersist()
        return frame, None
    fields = [column(f.name) for f in schema.fields if f.name != "model"]
    return to_pandas(fitted.select(*fields, size.alias(MODEL_BYTES))), fitted


class ModelTable:
    """The fitted models, one row per group.

    Parameters
    ----------
    frame : pandas.DataFrame
        Group columns followed by :data:`TABLE_FIELDS`. For a distributed table, the
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
        return {c: python_scalar(row[c]) for c in self.group_cols}, row["error"]

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
                key = {c: python_scalar(row[c]) for c in self.group_cols}
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
            key = dict(zip(self.group_cols, self.frame[self.group_cols].iloc[position]))
            key = {c: python_scalar(v) for c, v in key.items()}
            self._models[position] = load_model(blob, what=f"model of group {key}")

    def _fetch(self, positions) -> dict:
        """``{position: model bytes}`` from the distributed table, in one Spark job."""
        from pyspark.sql import functions as F

        from .._inputs import column, to_pandas
        from .._spark_jobs import null_safe_condition

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

        from ._fit import table_schema

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

    def served(self, spark):
        """Spark DataFrame of the group columns and ``model`` of every group with a usable
        model, plus (with a fallback model) the groups without one, whose ``model`` is
        :data:`USE_FALLBACK`."""
        from pyspark.sql import functions as F

        from .._inputs import column

        if self.distributed is None:
            served = self.usable()[self.group_cols + ["model"]]
            if self.fallback is not None:
                unusable = self.frame.loc[~self._ok, self.group_cols]
                served = pd.concat(
                    [served, unusable.assign(model=USE_FALLBACK)], ignore_index=True
                )
            schema = self.spark_schema()
            schema = type(schema)([schema[c] for c in self.group_cols] + [schema["model"]])
            return spark.createDataFrame(served, schema)
        keys = [column(c) for c in self.group_cols]
        ok = F.col("status") == STATUS_OK
        if self.fallback is None:
            return self.distributed.filter(ok).select(*keys, "model")
        marker = F.lit("").cast("binary")
        return self.distributed.select(
            *keys, F.when(ok, F.col("model")).otherwise(marker).alias("model")
        )

    def shipment(self, spark):
        """``{group key: model bytes}`` of the usable models, shipped once per fitted table
        (a distributed table's models are collected for it).

        With a fallback model, the groups without a model of their own (failed, too few
        rows) map to :data:`USE_FALLBACK`.
        """
        if self._shipment is None:
            blobs = self.with_models()["model"]
            models = {k: blobs.iat[i] for k, i in self.index.items() if self._ok[i]}
            if self.fallback is not None:
                models.update({k: USE_FALLBACK for k, i in self.index.items() if not self._ok[i]})
            self._shipment = ship(spark, models, what="model table")
        return self._shipment

    def replace_groups(self, new: ModelTable, spark) -> ModelTable:
        """This table with every group of ``new`` replaced by (or added as) ``new``'s row.

        The other rows are kept as they are. The result is distributed when either table
        is, or when it outgrows :data:`DISTRIBUTED_ABOVE_BYTES`.
        """
        kept = np.array([key not in new.index for key in self.index], dtype=bool)
        sizes = np.concatenate([self._sizes[kept], new._sizes])
        local = self.distributed is None and new.distributed is None
        if local and sizes.sum() <= DISTRIBUTED_ABOVE_BYTES:
            frame = pd.concat([self.frame[kept], new.frame], ignore_index=True)
            return ModelTable(frame, self.group_cols, self.key_types, fallback=self.fallback)
        from .._inputs import column
        from .._spark_jobs import null_safe_condition

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
        for name in _LATER_FIELDS:
            if name not in self.frame.columns:
                self.frame[name] = None

    # --------------------------------------------------------- persistence
    def write(self, directory, *, params: dict, feature_cols: list, serializer="pickle") -> None:
        """Write ``models.parquet`` and ``metadata.json`` into a save directory (models and
        parameters in ``serializer``'s format)."""
        frame = self.with_models()
        if serializer != "pickle":
            frame = frame.assign(model=[_convert(b, serializer) for b in frame["model"]])
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        directory.write("models.parquet", buffer.getvalue())
        if self.fallback is not None:
            directory.write(FALLBACK_FILE, _convert(self.fallback, serializer))
        directory.write_json(
            "metadata.json",
            {
                "group_cols": self.group_cols,
                "key_types": self.key_types,
                "feature_cols": list(feature_cols),
                "params": dump_model(params, serializer).hex(),
            },
        )

    @classmethod
    def read(cls, files: dict, trusted=None, allow_pickle=True):
        """``(table, params, feature_cols)`` from a verified save's ``{name: bytes}``.

        Models of a skops save are loaded here, once (refusing untrusted types), and kept as
        pickles like a fitted table's. Without ``allow_pickle``, every serialized object of
        the save (parameters, models, fallback) is checked to be skops before any is loaded.
        """
        metadata = json.loads(files["metadata.json"])
        params_blob = bytes.fromhex(metadata["params"])
        frame = pd.read_parquet(io.BytesIO(files["models.parquet"]))
        if not allow_pickle:
            blobs = {
                "parameters (metadata.json)": params_blob,
                FALLBACK_FILE: files.get(FALLBACK_FILE),
            }
            keys = frame[metadata["group_cols"]].to_dict("records")
            blobs.update(
                {f"model of group {k} (models.parquet)": b for k, b in zip(keys, frame["model"])}
            )
            refuse_pickles(blobs)
        params = load_model(
            params_blob, what="saved parameters", trusted=trusted, allow_pickle=allow_pickle
        )
        for name in _LATER_FIELDS:
            if name not in frame.columns:
                frame[name] = None
        frame["model"] = [_convert(b, "pickle", trusted) for b in frame["model"]]
        fallback = files.get(FALLBACK_FILE)
        if fallback is not None:
            fallback = _convert(fallback, "pickle", trusted)
        table = cls(frame, metadata["group_cols"], metadata["key_types"], fallback=fallback)
        return table, params, metadata["feature_cols"]
