"""Group keys: normalised for lookup, written for messages, their types checked.

A key is a tuple of the group columns' values. :func:`group_key` normalises it (null and NaN
become None, numpy scalars Python ones) so the same group found in pandas, Spark or a saved
table looks up the same row; :func:`key_dict` writes it for messages and errors. Keys match
by value, so :func:`check_key_types` refuses a group column whose type cannot compare with
the type it had at fit (a string "1" is not group 1).
"""

from __future__ import annotations

import pandas as pd

from .._base import python_scalar
from ..exceptions import ColumnError

__all__ = [
    "check_key_types",
    "check_key_values",
    "group_key",
    "is_numeric_type",
    "isnull",
    "key_dict",
    "pandas_key_type",
]


def isnull(value) -> bool:
    """``pd.isna`` for one value; False for values it cannot judge (arrays, objects)."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def group_key(values) -> tuple:
    """Hashable key with NaN/None normalised, so null groups can be looked up.

    Examples
    --------
    >>> import numpy as np
    >>> group_key((np.int64(3), float("nan")))
    (3, None)
    """
    if not isinstance(values, tuple):
        values = (values,)
    return tuple(None if isnull(v) else python_scalar(v) for v in values)


def key_dict(group_cols, key) -> dict:
    """``{column: value}`` of a key, with plain Python values: how messages name a group.

    Examples
    --------
    >>> key_dict(["store", "day"], (3, None))
    {'store': 3, 'day': None}
    """
    return dict(zip(group_cols, group_key(tuple(key))))


_NUMERIC = {"tinyint", "smallint", "int", "bigint", "float", "double", "decimal"}


def is_numeric_type(simple_string: str) -> bool:
    """A Spark type name (``simpleString``) of a number."""
    return simple_string.split("(")[0] in _NUMERIC


def check_key_types(fitted: dict, now: dict, where: str = "here") -> None:
    """Refuse a group column whose type (``now``) cannot compare with its type at fit.

    Any numeric type matches any other; other types must be the same.
    """
    for name, was in (fitted or {}).items():
        new = now.get(name, was)
        if new != was and not (is_numeric_type(new) and is_numeric_type(was)):
            raise ColumnError(
                f"Group column {name!r} is {new} {where} but was {was} when the models were "
                f"fitted; cast it (e.g. F.col({name!r}).cast({was!r})) so keys can match."
            )


def check_key_values(frame, group_cols) -> None:
    """Refuse an object group column mixing value types: Spark would store both as strings,
    merging e.g. the groups ``0`` and ``"0"``."""
    for col in group_cols:
        values = frame[col]
        if values.dtype != object:
            continue
        kinds = {type(python_scalar(v)) for v in values.dropna().unique()}
        if bool in kinds and kinds & {int, float}:
            kinds.discard(bool)
        numeric = kinds & {int, float}
        if len(kinds - numeric) + bool(numeric) > 1:
            names = ", ".join(sorted(k.__name__ for k in kinds))
            raise ColumnError(
                f"group column {col!r} mixes value types ({names}): Spark would turn them "
                "into one type and merge groups such as 0 and '0'. Convert the column to one "
                f"type first, e.g. X[{col!r}] = X[{col!r}].astype(str)."
            )


def pandas_key_type(values) -> str:
    """The Spark type name a pandas group column becomes (for the key-type check)."""
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "bigint"
    if pd.api.types.is_float_dtype(values):
        return "double"
    return "string"
