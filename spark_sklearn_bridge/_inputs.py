"""Input adaptation shared by every paradigm: pandas / numpy / Spark DataFrame in, columns out.

Column settings (``feature_cols``, ``label_col``, ``group_cols``) are resolved here once, with
errors that name the offending column, before any Spark job starts.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import pandas as pd

from ._reserved import RESERVED_PREFIX, ROW_ID
from .exceptions import ColumnError, EmptyInputError

__all__ = [
    "as_column_list",
    "check_column_names",
    "check_not_empty",
    "check_feature_types",
    "check_string_features",
    "count_invalid",
    "check_y_none",
    "collect_features",
    "column",
    "is_spark_dataframe",
    "n_rows",
    "numeric_only",
    "pandas_column_kinds",
    "resolve_columns",
    "spark_column_kinds",
    "to_pandas",
]


NUMERIC, VECTOR = "numeric", "vector"  # any other kind is the column's type name, e.g. "string"


def is_spark_dataframe(obj) -> bool:
    """True for a classic or Spark Connect DataFrame (both subclass ``pyspark.sql.DataFrame``)."""
    try:
        from pyspark.sql import DataFrame
    except ImportError:  # pragma: no cover - pyspark is a dependency
        return False
    return isinstance(obj, DataFrame)


def as_column_list(cols, name: str, *, allow_none: bool = True) -> list | None:
    """Normalise a column setting to a list: ``"a"`` -> ``["a"]``; duplicates are an error."""
    if cols is None:
        if allow_none:
            return None
        raise ColumnError(f"{name} must name at least one column; got None.")
    cols = [cols] if isinstance(cols, (str, int)) else list(cols)
    if not cols and not allow_none:
        raise ColumnError(f"{name} must name at least one column; got an empty list.")
    dupes = _repeated(cols)
    if dupes:
        raise ColumnError(f"{name} lists these columns more than once: {dupes}.")
    return cols


def _repeated(names) -> list:
    """Names that occur more than once, in order of first repetition."""
    seen, dupes = set(), []
    for name in names:
        if name in seen and name not in dupes:
            dupes.append(name)
        seen.add(name)
    return dupes


def check_column_names(names) -> None:
    """Refuse input columns the package cannot address unambiguously.

    Two columns with one name (Spark's ``AMBIGUOUS_REFERENCE``, pandas' frame-valued
    ``df[name]``) and names with the package's reserved prefix (its helper columns) are
    errors that name the columns. Any other name works, dots and spaces included: columns
    reach Spark SQL quoted (:func:`column`).

    Raises
    ------
    ColumnError
    """
    dupes = _repeated(names)
    if dupes:
        raise ColumnError(
            f"The data has more than one column named {dupes}: a column must be named "
            "uniquely to be used. Rename or drop the duplicates (after a join, select the "
            "columns you need with aliases)."
        )
    reserved = [n for n in names if isinstance(n, str) and n.startswith(RESERVED_PREFIX)]
    if reserved:
        raise ColumnError(
            f"Columns {reserved} start with {RESERVED_PREFIX!r}, which is reserved for "
            "spark_sklearn_bridge's helper columns; rename them."
        )


def spark_column_kinds(schema, *, check_names: bool = True) -> dict[str, str]:
    """Map each top-level column of a Spark schema to ``numeric``, ``vector`` or its type name.

    Duplicate and reserved column names are refused (:func:`check_column_names`) unless
    ``check_names`` is false (a frame the package built itself, with helper columns).
    """
    from pyspark.sql import types as T

    if check_names:
        check_column_names(schema.names)
    kinds = {}
    for field in schema.fields:
        dtype = field.dataType
        if isinstance(dtype, (T.NumericType, T.BooleanType)):
            kinds[field.name] = NUMERIC
        elif (
            isinstance(dtype, T.ArrayType)
            and isinstance(dtype.elementType, (T.NumericType, T.BooleanType))
            or type(dtype).__name__ == "VectorUDT"
        ):
            kinds[field.name] = VECTOR
        else:
            kinds[field.name] = dtype.simpleString()
    return kinds


def pandas_column_kinds(frame: pd.DataFrame) -> dict:
    """Map each column of a pandas DataFrame to ``numeric`` or its dtype's name (duplicate and
    reserved column names are refused, :func:`check_column_names`)."""
    check_column_names(list(frame.columns))
    return {
        col: NUMERIC
        if (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
        else str(dtype)
        for col, dtype in frame.dtypes.items()
    }


def _missing_error(setting: str, missing: Sequence, available: Iterable) -> ColumnError:
    available = list(available)
    hints = []
    for col in missing:
        close = difflib.get_close_matches(str(col), [str(a) for a in available], n=1, cutoff=0.5)
        if close:
            hints.append(f"{col!r} -> did you mean {close[0]!r}?")
    hint = (" " + " ".join(hints)) if hints else ""
    return ColumnError(
        f"{setting} names columns that are not in the data: {list(missing)}.{hint} "
        f"Available columns: {available}."
    )


def resolve_columns(
    kinds: dict,
    *,
    feature_cols=None,
    label_col=None,
    group_cols=None,
    exclude: Iterable = (),
    allow_vector: bool = False,
    allow_other: bool = False,
    default_any_type: bool = False,
) -> list:
    """Check column settings against the data's columns and return the feature columns.

    Parameters
    ----------
    kinds : dict
        Column name -> kind, from :func:`spark_column_kinds` or :func:`pandas_column_kinds`.
    feature_cols : list of str, optional
        ``None`` means every column that is not a group, label or excluded column.
    label_col, group_cols :
        Must exist; must not overlap the features or each other.
    exclude : iterable of str
        Columns never used as features by default (e.g. an output column).
    allow_vector : bool
        Accept array / ``pyspark.ml`` Vector columns as features (one such column, alone).
    allow_other : bool
        Accept explicitly named non-numeric features (strings, dates), for models that take a
        DataFrame and encode them (a Pipeline with a ColumnTransformer).
    default_any_type : bool
        With ``feature_cols=None``, take every remaining column whatever its type (for data
        collected to one node, where the estimator decides what it accepts).

    Raises
    ------
    ColumnError
        A column is missing, duplicated, overlapping, or not numeric.
    """
    group_cols = as_column_list(group_cols, "group_cols") or []
    features = as_column_list(feature_cols, "feature_cols")
    for setting, cols in (
        ("group_cols", group_cols),
        ("label_col", [label_col] if label_col is not None else []),
    ):
        missing = [c for c in cols if c not in kinds]
        if missing:
            raise _missing_error(setting, missing, kinds)
    if label_col is not None and label_col in group_cols:
        raise ColumnError(f"label_col {label_col!r} is also one of group_cols {group_cols}.")

    reserved = set(group_cols) | ({label_col} if label_col is not None else set())
    if features is None:
        excluded = reserved | set(exclude) | {ROW_ID}
        features = [c for c in kinds if c not in excluded]
        unusable = [c for c in features if kinds[c] != NUMERIC]
        single_vector = allow_vector and len(features) == 1 and kinds[features[0]] == VECTOR
        if unusable and not (single_vector or default_any_type):
            raise ColumnError(
                f"Columns {unusable} are not numeric, so they cannot be features by default. "
                "Pass feature_cols=[...] to choose the feature columns explicitly (encode "
                "categorical columns first, e.g. with a Pipeline)."
            )
    else:
        missing = [c for c in features if c not in kinds]
        if missing:
            raise _missing_error("feature_cols", missing, kinds)
        overlap = [c for c in features if c in reserved]
        if overlap:
            raise ColumnError(
                f"feature_cols {overlap} are also used as group_cols or label_col; a column "
                "can play only one role."
            )
        vectors = [c for c in features if kinds[c] == VECTOR]
        others = [c for c in features if kinds[c] not in (NUMERIC, VECTOR)]
        if others and not allow_other:
            raise ColumnError(
                f"feature_cols {others} are neither numeric nor numeric arrays/vectors "
                f"(types: {', '.join(f'{c}={kinds[c]}' for c in others)}); this estimator "
                "needs numeric columns."
            )
        if vectors and not (allow_vector and len(features) == 1):
            raise ColumnError(
                f"feature_cols {vectors} are array/vector columns; "
                + (
                    "use one such column alone, or only scalar columns."
                    if allow_vector
                    else "this estimator needs one scalar column per feature."
                )
            )
    if not features:
        raise ColumnError("No feature columns are left after removing group/label columns.")
    return features


def check_y_none(X, y) -> None:
    """A Spark DataFrame carries its label in a column: ``y`` must not be given too."""
    if y is not None:
        raise ValueError(
            "y must be None for Spark DataFrame input: the label is a column of the "
            "DataFrame; name it with label_col."
        )


def count_invalid(col):
    """Spark aggregate: rows where ``col``, read as a double, is null, NaN or infinite (what
    scikit-learn and Spark ML refuse to fit on)."""
    from pyspark.sql import functions as F

    x = col.cast("double")
    return F.sum((x.isNull() | F.isnan(x) | (F.abs(x) == float("inf"))).cast("long"))


def check_not_empty(n_rows: int, what: str = "The input data") -> None:
    """Refuse empty input: a "fitted" estimator without data would be silently useless."""
    if n_rows == 0:
        raise EmptyInputError(f"{what} has no rows: there is nothing to fit.")


def to_pandas(df) -> pd.DataFrame:
    """``df.toPandas()`` without Spark Connect's plan metrics in ``DataFrame.attrs``.

    Connect stores ``PlanMetrics`` objects there; they are not data, and they break anything
    that serializes ``attrs`` (Parquet metadata, JSON).
    """
    import warnings

    with warnings.catch_warnings():
        # A job that fails midway raises its error; pyspark also warns that Arrow "can not
        # continue", which says nothing more.
        warnings.filterwarnings("ignore", "toPandas attempted Arrow optimization")
        frame = df.toPandas()
    frame.attrs.clear()
    return frame


def collect_features(X, y, *, feature_cols, label_col, exclude=(), what="The input data"):
    """Split ``X`` into the model's features and a label array, for work done on one node.

    A Spark DataFrame is collected (only its feature and label columns). Its default features
    are every column but the label and ``exclude``, of any type (the estimator decides what
    it can take); they reach the model as :mod:`._model_input` says (a frame, one column
    named by a string as a Series, a Vector column as a matrix, CSR when sparse). pandas /
    numpy input is returned as is. Empty input raises :class:`EmptyInputError`.
    """
    if not is_spark_dataframe(X):
        check_not_empty(n_rows(X), what)
        return X, y
    check_y_none(X, y)
    features = resolve_columns(
        spark_column_kinds(X.schema),
        feature_cols=feature_cols,
        label_col=label_col,
        exclude=exclude,
        allow_vector=True,
        allow_other=True,
        default_any_type=True,
    )
    label = [label_col] if label_col is not None else []
    frame = to_pandas(X.select(*[column(c) for c in features + label]))
    check_not_empty(len(frame), what)
    from ._model_input import FeatureColumns, pandas_input

    requested = FeatureColumns(features, one_column=isinstance(feature_cols, str))
    y = frame[label_col].to_numpy() if label_col is not None else None
    return pandas_input(frame, requested), y


def column(name: str, alias: str | None = None):
    """``F.col`` of a column by its exact name (quoted: dots and backticks are literal),
    of the DataFrame aliased ``alias`` if given (a side of a join)."""
    from pyspark.sql import functions as F

    quoted = f"`{name.replace('`', '``')}`"
    return F.col(quoted if alias is None else f"{alias}.{quoted}")


def n_rows(X) -> int:
    """Rows of array-like ``X``; -1 when it has no length (its own validation will speak)."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape):
        return int(shape[0])
    try:
        return len(X)
    except TypeError:  # not sized: let the estimator's own validation speak
        return -1


def numeric_only(estimator) -> bool:
    """True when ``estimator`` certainly needs numeric features: a plain scikit-learn
    estimator (not a Pipeline / ColumnTransformer, which may encode columns by name) whose
    tags accept neither categorical nor string input. Third-party estimators are trusted."""
    from sklearn.utils import get_tags

    module = type(estimator).__module__
    composite = hasattr(estimator, "steps") or hasattr(estimator, "transformers")
    if not module.startswith("sklearn.") or composite:
        return False
    try:
        tags = get_tags(estimator).input_tags
    except Exception:  # no tags: do not guess
        return False
    return not (tags.categorical or tags.string)


def check_feature_types(estimator, data, kinds: dict, features, one_column=False) -> None:
    """Refuse, before any job, feature columns of a type the model cannot take, naming them:
    non-numeric columns for a model that takes numbers only (:func:`check_string_features`)
    and, for ONE column named by a string, a non-text column for a model that reads text
    (:func:`~spark_sklearn_bridge._model_input.check_text_column`: by its Spark type, or
    by its values when ``data`` is a pandas frame)."""
    from ._model_input import check_text_column

    check_string_features(estimator, kinds, features)
    if not one_column:
        return
    name = features[0]
    if is_spark_dataframe(data):
        check_text_column(estimator, name, data.schema[name].dataType.simpleString())
    else:
        check_text_column(estimator, name, kinds[name], values=data[name])


def check_string_features(estimator, kinds: dict, features) -> None:
    """Refuse non-numeric feature columns for an estimator that needs numbers, naming them.

    Raised before any Spark job, instead of "could not convert string to float" inside every
    task.
    """
    others = [c for c in features if kinds.get(c, NUMERIC) not in (NUMERIC, VECTOR)]
    if others and numeric_only(estimator):
        types = ", ".join(f"{c}={kinds[c]}" for c in others)
        raise ColumnError(
            f"Feature columns {others} are not numeric ({types}), and "
            f"{type(estimator).__name__} takes numbers only. Encode them inside the model, "
            "e.g. make_pipeline(make_column_transformer((OneHotEncoder(), "
            f"{others}), remainder='passthrough'), {type(estimator).__name__}(...)), or "
            "leave them out of feature_cols."
        )
