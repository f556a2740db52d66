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
from .._serialization import blob_format, dump_model, load_model
from .._shipping import ship
from ..exceptions import GroupFitError

__all__ = ["USE_FALLBACK", "ModelTable", "group_key", "isnull"]

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
]
#: Fields added after the first release: a table read from an older save gets them as nulls.
_LATER_FIELDS = ("best_params", "best_score", "fitted_at")
#: Model bytes of a group that has no model of its own but is served by the fallback model.
USE_FALLBACK = b""
FALLBACK_FILE = "fallback.model"


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


class ModelTable:
    """The fitted models, one row per group.

    Parameters
    ----------
    frame : pandas.DataFrame
        Group columns followed by :data:`TABLE_FIELDS`.
    group_cols : list of str
    key_types : dict
        Spark type (``simpleString``) of each group column at fit time.
    """

    def __init__(self, frame: pd.DataFrame, group_cols: list, key_types: dict, fallback=None):
        self.fallback = fallback  # serialized fallback model (fitted on all rows), or None
        self.frame = frame.reset_index(drop=True)
        self.frame.attrs.clear()
        self.group_cols = list(group_cols)
        self.key_types = dict(key_types)
        rows = self.frame[self.group_cols].itertuples(index=False)
        self.index = {group_key(tuple(row)): i for i, row in enumerate(rows)}
        self._ok = (self.frame["status"] == STATUS_OK).to_numpy()
        self._models: dict = {}
        self._spark_frame = None
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
            row = self.frame.iloc[position]
            key = {c: python_scalar(row[c]) for c in self.group_cols}
            if not self._ok[position]:
                raise GroupFitError(
                    f"Group {key} has no model (status {row['status']!r}): {row['error']}",
                    group=key,
                    remote_traceback=row["error"] or "",
                )
            self._models[position] = load_model(row["model"], what=f"model of group {key}")
        return self._models[position]

    def usable(self) -> pd.DataFrame:
        """Rows whose status is ``"ok"``."""
        return self.frame[self._ok]

    def usable_bytes(self) -> int:
        return int(self.usable()["model"].map(len).sum())

    # --------------------------------------------------------------- Spark
    def spark_frame(self, spark):
        """The table as a Spark DataFrame (made once)."""
        if self._spark_frame is None:
            self._spark_frame = spark.createDataFrame(self.frame)
        return self._spark_frame

    def shipment(self, spark):
        """``{group key: model bytes}`` of the usable models, shipped once per fitted table.

        With a fallback model, the groups without a model of their own (failed, too few
        rows) map to :data:`USE_FALLBACK`.
        """
        if self._shipment is None:
            blobs = self.frame["model"]
            models = {k: blobs.iat[i] for k, i in self.index.items() if self._ok[i]}
            if self.fallback is not None:
                models.update({k: USE_FALLBACK for k, i in self.index.items() if not self._ok[i]})
            self._shipment = ship(spark, models, what="model table")
        return self._shipment

    def release(self) -> None:
        """Free the executors' copy of the shipped models."""
        if self._shipment is not None:
            self._shipment.release()
            self._shipment = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_models={}, _spark_frame=None, _shipment=None)  # driver-only
        return state

    # --------------------------------------------------------- persistence
    def write(self, directory, *, params: dict, feature_cols: list, serializer="pickle") -> None:
        """Write ``models.parquet`` and ``metadata.json`` into a save directory (models and
        parameters in ``serializer``'s format)."""
        frame = self.frame
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
    def read(cls, files: dict, trusted=None):
        """``(table, params, feature_cols)`` from a verified save's ``{name: bytes}``.

        Models of a skops save are loaded here, once (refusing untrusted types), and kept as
        pickles like a fitted table's.
        """
        metadata = json.loads(files["metadata.json"])
        params = load_model(
            bytes.fromhex(metadata["params"]), what="saved parameters", trusted=trusted
        )
        frame = pd.read_parquet(io.BytesIO(files["models.parquet"]))
        for name in _LATER_FIELDS:
            if name not in frame.columns:
                frame[name] = None
        frame["model"] = [_convert(b, "pickle", trusted) for b in frame["model"]]
        fallback = files.get(FALLBACK_FILE)
        if fallback is not None:
            fallback = _convert(fallback, "pickle", trusted)
        table = cls(frame, metadata["group_cols"], metadata["key_types"], fallback=fallback)
        return table, params, metadata["feature_cols"]
