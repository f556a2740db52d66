"""The model table's schema, written once: its fields and their types, a fit record, the
names group columns may not take.

A model table has one row per group: the group columns, then :data:`TABLE_FIELDS`.
:func:`table_schema` is its Spark schema (the fit job's output, the table's DataFrame),
:func:`new_record` a fit's row before the fit fills it, :func:`records_frame` the pandas
frame of such rows.
"""

from __future__ import annotations

import pandas as pd

from ..exceptions import ColumnError

__all__ = [
    "FIELDS",
    "LATER_FIELDS",
    "STATUS_FAILED",
    "STATUS_OK",
    "STATUS_TOO_FEW",
    "TABLE_FIELDS",
    "add_later_fields",
    "check_group_names",
    "new_record",
    "records_frame",
    "table_schema",
]

STATUS_OK, STATUS_FAILED, STATUS_TOO_FEW = "ok", "failed", "too_few_rows"


#: Each field after the group columns, in table order, with its Spark type's name.
FIELDS = (
    ("model", "binary"),  # the model's bytes (dump_model); null unless status is ok
    ("n_rows", "bigint"),
    ("fit_seconds", "double"),
    ("status", "string"),  # STATUS_OK, STATUS_FAILED or STATUS_TOO_FEW
    ("error", "string"),  # a traceback, or why the group has no model
    ("classes", "string"),  # a classifier's classes_, as JSON
    ("best_params", "string"),  # a search's best_params_, as JSON
    ("best_score", "double"),  # a search's best_score_
    ("fitted_at", "timestamp"),  # UTC
    ("intercept", "double"),  # a linear regressor's (grouped/_linear.py)
    ("coef", "array<double>"),
)
TABLE_FIELDS = [name for name, _ in FIELDS]
#: Fields added after the first release: a table read from an older save (or pickle) gets
#: them as nulls.
LATER_FIELDS = ("best_params", "best_score", "fitted_at", "intercept", "coef")


def table_schema(key_fields):
    """Spark schema of the model table: the group key fields, then :data:`TABLE_FIELDS`."""
    from pyspark.sql import types as T

    types = {
        "binary": T.BinaryType(),
        "bigint": T.LongType(),
        "double": T.DoubleType(),
        "string": T.StringType(),
        "timestamp": T.TimestampType(),
        "array<double>": T.ArrayType(T.DoubleType()),
    }
    return T.StructType([*key_fields, *(T.StructField(f, types[t]) for f, t in FIELDS)])


def new_record(key: tuple, n_rows: int) -> dict:
    """A group's row before its fit: ``key`` (the group's values) and every field."""
    record = dict.fromkeys(TABLE_FIELDS)
    record.update(
        key=key,
        n_rows=n_rows,
        fit_seconds=0.0,
        status=STATUS_OK,
        fitted_at=pd.Timestamp.now(tz="UTC"),
    )
    return record


def records_frame(records, group_cols) -> pd.DataFrame:
    """The table rows of ``records`` (:func:`new_record` dicts): group columns, then fields."""
    keys = pd.DataFrame([r["key"] for r in records], columns=group_cols)
    body = pd.DataFrame({f: [r[f] for r in records] for f in TABLE_FIELDS})
    return pd.concat([keys, body], axis=1)


def add_later_fields(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every :data:`LATER_FIELDS` it lacks, as nulls."""
    for name in LATER_FIELDS:
        if name not in frame.columns:
            frame[name] = None
    return frame


def check_group_names(group_cols) -> None:
    """Refuse group columns named like a field of the table (they would collide in it)."""
    clash = [c for c in group_cols if c in TABLE_FIELDS]
    if clash:
        raise ColumnError(
            f"Group columns {clash} have the names of the model table's own columns "
            f"({', '.join(TABLE_FIELDS)}); rename them, e.g. "
            f"X.withColumnRenamed({clash[0]!r}, {clash[0] + '_key'!r}) (pandas: "
            f"X.rename(columns={{{clash[0]!r}: {clash[0] + '_key'!r}}}))."
        )
