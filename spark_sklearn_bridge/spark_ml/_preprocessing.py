"""scikit-learn preprocessing fitted with Spark aggregates and applied as Spark columns.

Each supported transformer has one :class:`Prep` entry in :data:`PREPROCESSING`:

- ``aggregates(est, cols)``: the Spark aggregate expressions its fit needs (one pass over the
  data, shared with every other transformer that fits in the same round);
- ``build(est, cols, values, ctx)``: the fitted scikit-learn transformer made from those
  values, with scikit-learn's own semantics (category order, missing values, ties, dropped
  empty columns), so :meth:`SparkMLEstimator.to_sklearn` returns it as is;
- ``apply(fitted, cols)``: the fitted transformer as Spark column expressions, used both for
  the rest of the fit and at predict time (the fitted scikit-learn object is the only state:
  it is what is saved).

The statistics are exact, as scikit-learn's: medians and quantiles use Spark's exact
``percentile`` (not ``approxQuantile``), most-frequent ties go to the smallest value, and
categories are sorted as Python sorts them (Spark compares strings by UTF-8 bytes, which is
code-point order). Where the two libraries cannot agree a parameter is refused by name.

A fitted transformer is built by fitting a clone of the user's transformer on a few
synthetic rows that carry exactly the statistics measured on Spark (the category lists, a
column's min and max, an imputer's value), then setting the sample counts: every fitted
attribute is scikit-learn's own, no private attribute is written.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn import impute, preprocessing
from sklearn.base import clone

from .._base import python_scalar
from ..exceptions import UnsupportedEstimatorError

__all__ = ["PREPROCESSING", "Col", "FitContext", "OneHot", "Prep", "raw_col"]

NUMERIC, STRING = "numeric", "string"


@dataclass(frozen=True)
class Col:
    """One feature as a Spark expression, with what scikit-learn would see of it.

    ``kind`` is ``"numeric"`` or ``"string"`` (anything else is refused when consumed);
    ``dtype`` the pandas dtype ``toPandas`` gives the raw column (categories keep it);
    ``raw`` the input column's name while the value is still the raw column (its null / NaN /
    infinity counts come from the first pass), ``None`` once a transformer produced it
    (every transformer here produces finite numbers or refuses).
    """

    name: str
    expr: object
    kind: str
    dtype: str = "float64"
    raw: str | None = None
    #: For one output of a OneHotEncoder: ``OneHot`` (its column's category index and this
    #: output's position), so the assembly can build the column's sparse vector in one step.
    onehot: OneHot | None = None

    def value(self):
        """The value, with Spark's nulls and (numeric) NaNs both as null."""
        from pyspark.sql import functions as F

        if self.kind != NUMERIC:
            return self.expr
        x = self.expr.cast("double")
        return F.when(F.isnan(x), F.lit(None)).otherwise(x)

    def missing(self):
        """True where scikit-learn would see a missing value (None or NaN)."""
        from pyspark.sql import functions as F

        if self.kind != NUMERIC:
            return self.expr.isNull()
        return self.expr.isNull() | F.isnan(self.expr.cast("double"))


@dataclass(frozen=True)
class OneHot:
    """Where a one-hot output comes from: ``index`` (a double expression, the category's
    position; ``size`` for an unknown value that encodes as zeros), the encoder column it
    belongs to (``group``), how many outputs it has (``size``) and which one this is."""

    group: str
    index: object
    size: int
    position: int


def raw_col(name: str, spark_type) -> Col:
    """The :class:`Col` of an input column, from its Spark type."""
    from pyspark.sql import types as T

    from .._inputs import column

    if isinstance(spark_type, T.BooleanType):
        kind, dtype = NUMERIC, "bool"
    elif isinstance(spark_type, T.IntegralType):
        kind, dtype = NUMERIC, "int64"
    elif isinstance(spark_type, T.NumericType):
        kind, dtype = NUMERIC, "float64"
    elif isinstance(spark_type, T.StringType):
        kind, dtype = STRING, "object"
    else:
        kind, dtype = spark_type.simpleString(), "object"
    return Col(name, column(name), kind, dtype, raw=name)


@dataclass
class FitContext:
    """What the first pass measured: the row count and each raw column's bad values."""

    n: int = 0
    named: bool = True  # the input has column names (a DataFrame), as scikit-learn sees it
    missing: dict = field(default_factory=dict)  # raw column -> null or NaN count
    infinite: dict = field(default_factory=dict)  # raw numeric column -> +-inf count

    def first_pass(self, cols) -> list:
        """Aggregates of the first pass: per raw numeric or string column, its bad values."""
        from pyspark.sql import functions as F

        exprs = []
        for c in cols:
            if c.kind in (NUMERIC, STRING):
                exprs.append(F.sum(c.missing().cast("long")))
            if c.kind == NUMERIC:
                exprs.append(F.sum((F.abs(c.expr.cast("double")) == float("inf")).cast("long")))
        return exprs

    def read_first_pass(self, cols, values) -> None:
        values = iter(values)
        for c in cols:
            if c.kind in (NUMERIC, STRING):
                self.missing[c.name] = int(next(values) or 0)
            if c.kind == NUMERIC:
                self.infinite[c.name] = int(next(values) or 0)

    def n_bad(self, col: Col, *, missing_ok: bool = False) -> int:
        """Values of ``col`` a consumer cannot take: infinities, and missing unless allowed."""
        if col.raw is None:
            return 0
        bad = self.infinite.get(col.raw, 0)
        return bad if missing_ok else bad + self.missing.get(col.raw, 0)


@dataclass(frozen=True)
class Prep:
    """One supported transformer: its aggregates, how it is built, how it is applied.

    ``second(est, cols, values)``, if given, returns the aggregates of a second pass that
    depend on the first pass's values (an encoder's per-category counts); ``build`` then
    gets both passes' values, concatenated.
    """

    aggregates: Callable
    build: Callable
    apply: Callable
    second: Callable | None = None


# ------------------------------------------------------------------- helpers
def _refuse(est, name, why):
    raise UnsupportedEstimatorError(
        f"{type(est).__name__}({name}={getattr(est, name)!r}) has no faithful translation to "
        f"Spark here: {why}"
    )


def _numeric(est, cols):
    for c in cols:
        if c.kind != NUMERIC:
            raise UnsupportedEstimatorError(
                f"{type(est).__name__} needs numeric input; column {c.name!r} is {c.kind}. "
                "Route it to an encoder (OneHotEncoder, OrdinalEncoder) in a ColumnTransformer."
            )


def check_finite(est, cols, ctx, *, missing_ok=False) -> None:
    """Refuse, naming the column, input scikit-learn's transformer would refuse too."""
    for c in cols:
        bad = ctx.n_bad(c, missing_ok=missing_ok)
        if bad:
            what = "infinite" if missing_ok else "null, NaN or infinite"
            raise ValueError(
                f"Input X: column {c.name!r} has {bad} {what} values, which "
                f"{type(est).__name__} refuses (as in scikit-learn). Impute or drop them first "
                "(e.g. a SimpleImputer before it in the Pipeline)."
            )


def _frame(cols, rows) -> pd.DataFrame:
    """A synthetic frame with the columns' names and dtypes: ``rows[j]`` fills column j
    (shorter columns repeat their first value)."""
    length = max([len(r) for r in rows] + [1])
    data = {}
    for c, values in zip(cols, rows):
        values = list(values) or [0]
        values = values + [values[0]] * (length - len(values))
        if c.kind != NUMERIC:
            dtype = object
        else:  # NaN among the values: pandas infers a float column
            dtype = None if _has_nan(values) else c.dtype
        data[c.name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data)


def _has_nan(values):
    return any(v is None or (isinstance(v, float) and np.isnan(v)) for v in values)


def _fit_on(est, cols, rows, ctx):
    """A clone of ``est`` fitted on synthetic rows; ``n_samples_seen_`` set to the real count.

    It sees a DataFrame where scikit-learn would (the input columns themselves, named), an
    array after another step, as in a scikit-learn Pipeline.
    """
    frame = _frame(cols, rows)
    named = ctx.named and all(c.raw == c.name for c in cols)
    fitted = clone(est).fit(frame if named else frame.to_numpy())
    if hasattr(fitted, "n_samples_seen_"):
        fitted.n_samples_seen_ = ctx.n
    return fitted


def _lit(value):
    from pyspark.sql import functions as F

    return F.lit(python_scalar(value))


def _out(cols, exprs, names=None):
    names = names or [c.name for c in cols]
    return [Col(n, e, NUMERIC) for n, e in zip(names, exprs)]


def _names_out(fitted, cols):
    return [str(n) for n in fitted.get_feature_names_out([c.name for c in cols])]


# ------------------------------------------------------------------- scalers
def _scaler_aggregates(est, cols):
    from pyspark.sql import functions as F

    _numeric(est, cols)
    if isinstance(est, preprocessing.StandardScaler):
        return [
            agg
            for c in cols
            for agg in (F.avg(c.value()), F.var_pop(c.value()), F.count(c.value()))
        ]
    if isinstance(est, preprocessing.MinMaxScaler):
        return [agg for c in cols for agg in (F.min(c.value()), F.max(c.value()))]
    return [F.max(F.abs(c.value())) for c in cols]


def _build_standard_scaler(est, cols, values, ctx):
    check_finite(est, cols, ctx)
    # Fitted on one synthetic row, then given the measured moments (public attributes).
    fitted = _fit_on(est, cols, [[0.0] for _ in cols], ctx)
    mean = np.array([float(v or 0.0) for v in values[0::3]])
    var = np.array([float(v or 0.0) for v in values[1::3]])
    if est.with_mean or est.with_std:
        fitted.mean_ = mean
    if est.with_std:
        fitted.var_ = var
        # scikit-learn's test for a constant feature (sklearn.preprocessing._data): variance
        # within rounding of zero; such a feature is scaled by 1.
        eps = np.finfo(np.float64).eps
        n = float(ctx.n)
        constant = var <= n * eps * var + (n * mean * eps) ** 2
        fitted.scale_ = np.where(constant, 1.0, np.sqrt(var))
    return fitted


def _apply_standard_scaler(fitted, cols):
    exprs = []
    for j, c in enumerate(cols):
        x = c.expr.cast("double")
        if fitted.with_mean:
            x = x - float(fitted.mean_[j])
        if fitted.with_std:
            x = x / float(fitted.scale_[j])
        exprs.append(x)
    return _out(cols, exprs)


def _build_minmax_scaler(est, cols, values, ctx):
    check_finite(est, cols, ctx)
    lows, highs = values[0::2], values[1::2]
    return _fit_on(est, cols, [[float(lo), float(hi)] for lo, hi in zip(lows, highs)], ctx)


def _apply_minmax_scaler(fitted, cols):
    from pyspark.sql import functions as F

    low, high = fitted.feature_range
    exprs = []
    for j, c in enumerate(cols):
        x = c.expr.cast("double") * float(fitted.scale_[j]) + float(fitted.min_[j])
        if fitted.clip:
            x = F.least(F.greatest(x, F.lit(float(low))), F.lit(float(high)))
        exprs.append(x)
    return _out(cols, exprs)


def _build_maxabs_scaler(est, cols, values, ctx):
    check_finite(est, cols, ctx)
    return _fit_on(est, cols, [[float(v)] for v in values], ctx)


def _apply_maxabs_scaler(fitted, cols):
    return _out(cols, [c.expr.cast("double") / float(s) for c, s in zip(cols, fitted.scale_)])


# ------------------------------------------------------------------- imputer
def _imputer_missing(est, col):
    """Where ``col`` is missing for this imputer (None when it never is)."""
    mv = est.missing_values
    if col.kind == NUMERIC:
        if mv is None or not (isinstance(mv, float) and np.isnan(mv)):
            _refuse(est, "missing_values", "on numeric columns only np.nan is translated.")
        return col.missing()
    if col.kind != STRING:
        _numeric(est, [col])
    if mv is None:
        return col.missing()
    if isinstance(mv, float) and np.isnan(mv):
        return None  # scikit-learn does not see None as NaN in a column of strings
    _refuse(est, "missing_values", "on string columns only None (or np.nan) is translated.")


def _imputer_aggregates(est, cols):
    from pyspark.sql import functions as F

    if est.add_indicator:
        _refuse(est, "add_indicator", "the indicator columns are not translated.")
    if est.strategy not in ("mean", "median", "most_frequent", "constant"):
        _refuse(est, "strategy", "only mean, median, most_frequent and constant are.")
    aggs = []
    for c in cols:
        missing = _imputer_missing(est, c)
        if est.strategy in ("mean", "median"):
            _numeric(est, [c])
        value = c.expr if missing is None else F.when(~missing, c.expr)
        if c.kind == NUMERIC:
            value = value.cast("double")
        # A string column holding nulls that this imputer does not treat as missing:
        # scikit-learn would count None as a value; refused instead of guessed.
        aggs.append(F.sum(c.expr.isNull().cast("long")) if missing is None else F.lit(0))
        if est.strategy == "mean":
            aggs.append(F.avg(value))
        elif est.strategy == "median":
            aggs.append(F.percentile(value, F.lit(0.5)))
        elif est.strategy == "most_frequent":
            aggs.append(F.mode(value, deterministic=True))  # ties: the smallest value
        else:
            aggs.append(F.lit(None))
    return aggs


def _build_imputer(est, cols, values, ctx):
    check_finite(est, cols, ctx, missing_ok=True)
    rows = []
    for c, nulls, stat in zip(cols, values[0::2], values[1::2]):
        if nulls:
            raise UnsupportedEstimatorError(
                f"SimpleImputer(missing_values=np.nan) on the string column {c.name!r}, which "
                f"has {nulls} nulls: scikit-learn does not treat None as missing there. Set "
                "missing_values=None to impute them."
            )
        missing_marker = np.nan if c.kind == NUMERIC else None
        if est.strategy == "constant":
            rows.append([0.0 if c.kind == NUMERIC else "x"])  # any value that is not missing
        else:  # an all-missing column: scikit-learn drops it (or keeps it, as asked)
            rows.append([missing_marker if stat is None else stat])
    return _fit_on(est, cols, rows, ctx)


def _apply_imputer(fitted, cols):
    from pyspark.sql import functions as F

    kept = set(_names_out(fitted, cols))
    out = []
    for c, stat in zip(cols, fitted.statistics_):
        if c.name not in kept:
            continue
        missing = _imputer_missing(fitted, c)
        value = c.expr.cast("double") if c.kind == NUMERIC else c.expr
        if missing is not None:
            value = F.when(missing, _lit(stat)).otherwise(value)
        out.append(Col(c.name, value, c.kind, c.dtype if c.kind != NUMERIC else "float64"))
    return out


# ------------------------------------------------------------------- encoders
def _encoder_aggregates(est, cols):
    from pyspark.sql import functions as F

    for c in cols:
        if c.kind not in (NUMERIC, STRING):
            _numeric(est, [c])
    if _infrequent(est) and not (isinstance(est.categories, str) and est.categories == "auto"):
        name = "min_frequency" if est.min_frequency is not None else "max_categories"
        _refuse(est, name, "infrequent categories are translated with categories='auto'.")
    if _infrequent(est) and isinstance(est, preprocessing.OneHotEncoder) and est.drop is not None:
        _refuse(est, "drop", "dropping a category is not translated with infrequent ones.")
    aggs = []
    for c in cols:
        aggs.append(F.array_sort(F.collect_set(c.value())))
        aggs.append(F.sum(c.missing().cast("long")))
    return aggs


def _infrequent(est) -> bool:
    return getattr(est, "min_frequency", None) is not None or (
        getattr(est, "max_categories", None) is not None
    )


def _encoder_counts(est, cols, values):
    """Second pass for infrequent categories: each found category's count."""
    from pyspark.sql import functions as F

    if not _infrequent(est):
        return []
    aggs = []
    for c, present in zip(cols, values[0::2]):
        for category in present or []:
            aggs.append(F.sum((c.value() == F.lit(python_scalar(category))).cast("long")))
    return aggs


def _categories(cols, values):
    """Each column's sorted categories as scikit-learn finds them (missing value last)."""
    found = []
    for c, present, n_missing in zip(cols, values[0::2], values[1::2]):
        present = list(present or [])
        if c.kind == NUMERIC:
            as_int = c.dtype in ("int64", "bool") and not n_missing
            present = [int(v) if as_int else float(v) for v in present]
            if c.dtype == "bool" and not n_missing:
                present = [bool(v) for v in present]
        if n_missing:
            present.append(np.nan if c.kind == NUMERIC else None)
        found.append(present)
    return found


def _build_encoder(est, cols, values, ctx):
    check_finite(est, cols, ctx, missing_ok=True)
    first = values[: 2 * len(cols)]
    found = _categories(cols, first)
    if _infrequent(est):
        return _build_infrequent(est, cols, first, values[2 * len(cols) :], found, ctx)
    if est.categories != "auto":  # given categories: the data must fit them (as in fit)
        given = [list(g) for g in est.categories]
        if est.handle_unknown == "error":
            for c, cats, allowed in zip(cols, found, given):
                unknown = [v for v in cats if not _contains(allowed, v)]
                if unknown:
                    raise ValueError(
                        f"Found unknown categories {unknown} in column {c.name!r} during fit "
                        f"({type(est).__name__}, handle_unknown='error')."
                    )
        found = given
    fitted = _fit_on(est, cols, found, ctx)
    if isinstance(est, preprocessing.OrdinalEncoder) and np.isnan(est.encoded_missing_value):
        for c, cats in zip(cols, fitted.categories_):
            if c.kind == NUMERIC and _has_nan(list(cats)):
                raise ValueError(
                    f"Input X: column {c.name!r} has {ctx.missing.get(c.raw, 0)} missing values, "
                    "which OrdinalEncoder encodes as NaN (encoded_missing_value=np.nan) and the "
                    "model refuses. Set encoded_missing_value or impute them first."
                )
    return fitted


def _build_infrequent(est, cols, first, counts, found, ctx):
    """An encoder with infrequent categories, fitted by scikit-learn on synthetic columns whose
    counts keep every decision it makes from the real ones.

    scikit-learn marks a category infrequent by comparing its count with ``min_frequency``
    (absolute, or a fraction of the rows) and, for ``max_categories``, by the order of the
    counts (ties kept in category order). Each count is replaced by its rank among the
    column's distinct counts below the threshold (1, 2, ...) or, at or above it, by
    ``m + rank`` with one common ``m`` above every low rank; the synthetic encoder gets
    ``min_frequency=m``. The columns are padded to one length with the value scikit-learn
    leaves out of the decision (NaN, when a numeric column has it) or on the top category,
    which stays on top. ``min_frequency`` is restored after the fit (it is read only there).
    """
    n = ctx.n
    threshold = 0.0
    if isinstance(est.min_frequency, numbers.Integral):
        threshold = float(est.min_frequency)
    elif est.min_frequency is not None:
        threshold = est.min_frequency * n
    per_column, position = [], 0
    for c, present, n_missing in zip(cols, first[0::2], first[1::2]):
        k = len(present or [])
        real = np.array(counts[position : position + k], dtype=float)
        position += k
        if n_missing and c.kind != NUMERIC:  # None is a category of strings: counted
            real = np.append(real, float(n_missing))
        per_column.append(real)
    lows = [np.unique(r[r < threshold]) for r in per_column]
    m = 1 + max([len(low) for low in lows] + [0])
    synthetic_counts = []
    for real, low in zip(per_column, lows):
        high = np.unique(real[real >= threshold])
        mapped = np.where(
            real < threshold,
            np.searchsorted(low, real) + 1,
            m + np.searchsorted(high, real),
        )
        synthetic_counts.append(mapped.astype(int))
    has_nan = [
        c.kind == NUMERIC and any(_has_nan([v]) for v in cats) for c, cats in zip(cols, found)
    ]
    length = max(int(sc.sum()) + nan for sc, nan in zip(synthetic_counts, has_nan))
    rows = []
    for c, cats, sc, nan in zip(cols, found, synthetic_counts, has_nan):
        regular = [cat for cat in cats if not (c.kind == NUMERIC and _has_nan([cat]))]
        pad = length - int(sc.sum())
        if nan:  # numeric NaN: a category left out of the decision, it takes the padding
            column = [v for v, times in zip(regular, sc) for _ in range(times)]
            rows.append(column + [np.nan] * pad)
            continue
        if pad:
            top = len(sc) - 1 - int(np.argmax(sc[::-1]))  # the last of the largest: kept
            if sc[top] < m <= sc[top] + pad and est.min_frequency is not None:
                _refuse(
                    est,
                    "min_frequency",
                    f"column {c.name!r} has only infrequent categories while another has "
                    "frequent ones; this combination is not translated.",
                )
            sc = sc.copy()
            sc[top] += pad
        rows.append([v for v, times in zip(regular, sc) for _ in range(times)])
    synthetic = clone(est)
    if est.min_frequency is not None:
        synthetic.set_params(min_frequency=int(m))
    fitted = _fit_on(synthetic, cols, rows, ctx)
    fitted.set_params(min_frequency=est.min_frequency)
    return fitted


def _contains(values, v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return any(_has_nan([a]) for a in values)
    return v in values


def _is_category(c, category):
    """Spark condition: ``c`` equals ``category`` (None / NaN: the value is missing)."""
    if category is None or (isinstance(category, float) and np.isnan(category)):
        return c.missing()
    if c.kind == NUMERIC:
        return c.expr.cast("double") == float(category)
    return c.expr == _lit(category)


def _known(c, cats):
    """Spark condition: ``c`` holds one of ``cats`` (never null)."""
    from pyspark.sql import functions as F

    values = [python_scalar(v) for v in cats if not _has_nan([v])]
    if c.kind == NUMERIC:
        known = c.value().isin([float(v) for v in values])
    else:
        known = c.expr.isin(values)
    known = F.coalesce(known, F.lit(False))
    if len(values) < len(cats):  # the missing value is a category
        known = known | c.missing()
    return known


def _unknown_error(est_name, c):
    """A double expression that fails the job naming the column and the value.

    It is only ever the last branch of a CASE (never wrapped in ``coalesce``: with one per
    column, whole-stage code generation made a method too large for the JVM to compile,
    and a projection of 80 columns ran 5x slower, measured).
    """
    from pyspark.sql import functions as F

    message = F.concat(
        F.lit(
            f"Found an unknown category in column {c.name!r} during {est_name} "
            "(handle_unknown='error'): "
        ),
        F.coalesce(c.expr.cast("string"), F.lit("None")),
    )
    return F.raise_error(message).cast("double")


def _output_positions(fitted, j, cats):
    """Where each of column ``j``'s categories goes: its output (OneHotEncoder) or code
    (OrdinalEncoder) position, with every infrequent category at the one position after the
    frequent ones; and that position (None when the column has no infrequent category)."""
    infrequent = getattr(fitted, "infrequent_categories_", None)
    rare = None if infrequent is None else infrequent[j]
    if rare is None:
        return list(range(len(cats))), None
    rare = list(rare)
    positions, n_frequent = [], 0
    for cat in cats:
        if _contains(rare, cat):
            positions.append(None)
        else:
            positions.append(n_frequent)
            n_frequent += 1
    return [n_frequent if p is None else p for p in positions], n_frequent


def _apply_onehot(fitted, cols):
    from pyspark.sql import functions as F

    drop = getattr(fitted, "drop_idx_", None)
    exprs, tags = [], []
    for j, (c, cats) in enumerate(zip(cols, fitted.categories_)):
        strict = fitted.handle_unknown == "error"
        dropped = None if drop is None else drop[j]
        positions, rare = _output_positions(fitted, j, cats)
        size = max(positions) + 1 if positions else 0
        to_rare = rare is not None and fitted.handle_unknown == "infrequent_if_exist"
        index = None
        if dropped is None:  # the column's outputs are its categories (and the rare ones)
            if strict:
                unknown = _unknown_error("OneHotEncoder", c)
            else:  # the rare output, or the size: pyspark.ml encodes it as zeros
                unknown = F.lit(float(rare if to_rare else size))
            index = _category_index(c, cats, unknown, positions)
        for position in range(size):
            if dropped is not None and position == dropped:
                continue
            members = [cat for cat, p in zip(cats, positions) if p == position]
            hit = _is_category(c, members[0])
            for cat in members[1:]:
                hit = hit | F.coalesce(_is_category(c, cat), F.lit(False))
            if to_rare and position == rare:
                hit = hit | ~_known(c, cats)
            one = F.when(hit, F.lit(1.0))
            if strict:  # the column's first output checks it: an unknown value fails the job
                one = one.when(_known(c, cats), F.lit(0.0)).otherwise(
                    _unknown_error("OneHotEncoder", c)
                )
                strict = False
            else:
                one = one.otherwise(F.lit(0.0))
            exprs.append(one)
            group = f"{id(fitted)}:{j}"
            tags.append(None if index is None else OneHot(group, index, size, position))
    out = _out(cols, exprs, _names_out(fitted, cols))
    return [replace(col, onehot=tag) for col, tag in zip(out, tags)]


def _category_index(c, cats, unknown, positions=None):
    """A double expression: the position of ``c``'s value among ``cats`` (``positions[k]``
    for ``cats[k]`` if given; the missing value's own if it is a category), else
    ``unknown``."""
    from pyspark.sql import functions as F

    positions = positions if positions is not None else list(range(len(cats)))
    pairs = [
        item
        for cat, where in zip(cats, positions)
        if not _has_nan([cat])
        for item in (_lit(float(cat) if c.kind == NUMERIC else cat), F.lit(float(where)))
    ]
    key = c.value() if c.kind == NUMERIC else c.expr
    code = F.create_map(*pairs)[key] if pairs else F.lit(None).cast("double")
    missing = unknown
    for cat, where in zip(cats, positions):
        if _has_nan([cat]):
            missing = F.lit(float(where))
    return F.when(c.missing(), missing).otherwise(F.coalesce(code, unknown))


def _apply_ordinal(fitted, cols):
    from pyspark.sql import functions as F

    exprs = []
    for j, (c, cats) in enumerate(zip(cols, fitted.categories_)):
        if fitted.handle_unknown == "error":
            unknown = _unknown_error("OrdinalEncoder", c)
        else:
            unknown = F.lit(float(fitted.unknown_value))
        positions, _ = _output_positions(fitted, j, cats)
        code = _category_index(c, cats, unknown, positions)
        if c.kind == NUMERIC and any(_has_nan([cat]) for cat in cats):
            # A NaN category encodes as encoded_missing_value (None in strings: its index).
            code = F.when(c.missing(), F.lit(float(fitted.encoded_missing_value))).otherwise(code)
        exprs.append(code)
    return _out(cols, exprs)


# ------------------------------------------------------ stateless / binning
def _no_aggregates(est, cols):
    _numeric(est, cols)
    return []


def _build_stateless(est, cols, values, ctx):
    check_finite(est, cols, ctx)
    return _fit_on(est, cols, [[0.0] for _ in cols], ctx)


def _apply_binarizer(fitted, cols):
    from pyspark.sql import functions as F

    t = float(fitted.threshold)
    return _out(cols, [F.when(c.expr.cast("double") > t, 1.0).otherwise(0.0) for c in cols])


def _apply_polynomial(fitted, cols):
    from pyspark.sql import functions as F

    exprs = []
    for powers in fitted.powers_:
        term = F.lit(1.0)
        for c, p in zip(cols, powers):
            for _ in range(int(p)):
                term = term * c.expr.cast("double")
        exprs.append(term)
    return _out(cols, exprs, _names_out(fitted, cols))


def _kbins_aggregates(est, cols):
    from pyspark.sql import functions as F

    _numeric(est, cols)
    if est.strategy == "uniform":
        return [agg for c in cols for agg in (F.min(c.value()), F.max(c.value()))]
    if est.strategy != "quantile":
        _refuse(est, "strategy", "only 'uniform' and 'quantile' are matched exactly.")
    if getattr(est, "quantile_method", "linear") != "linear":
        _refuse(
            est,
            "quantile_method",
            "only 'linear' (numpy's default percentile) is matched exactly by Spark's "
            "percentile; set quantile_method='linear'.",
        )
    if np.ndim(est.n_bins):
        _refuse(est, "n_bins", "one n_bins for all columns is translated for 'quantile'.")
    levels = _kbins_levels(est, len(cols))
    return [
        F.percentile(c.value(), F.array(*[F.lit(q) for q in lv])) for c, lv in zip(cols, levels)
    ]


def _kbins_levels(est, n_cols):
    n_bins = np.broadcast_to(np.asarray(est.n_bins), (n_cols,))
    return [np.linspace(0, 1, int(b) + 1).tolist() for b in n_bins]


def _build_kbins(est, cols, values, ctx):
    check_finite(est, cols, ctx)
    if est.strategy == "uniform":
        rows = [[float(lo), float(hi)] for lo, hi in zip(values[0::2], values[1::2])]
        return _fit_on(est, cols, rows, ctx)
    if est.subsample is not None and ctx.n > est.subsample:
        _refuse(
            est,
            "subsample",
            f"the data has {ctx.n} rows, so scikit-learn would find the quantiles of a random "
            "subsample; Spark finds them on all rows. Set subsample=None.",
        )
    edges = [np.asarray(v, dtype=float) for v in values]
    # The edges as data: scikit-learn finds (the same) edges, drops the same too-narrow
    # bins and builds its encoder; the exact edges are then set back.
    fitted = _fit_on(est, cols, [list(e) for e in edges], ctx)
    for j, e in enumerate(edges):
        keep = np.ediff1d(e, to_begin=np.inf) > 1e-8  # scikit-learn's rule for narrow bins
        fitted.bin_edges_[j] = e[keep]
    return fitted


def _apply_kbins(fitted, cols):
    from pyspark.sql import functions as F

    exprs = []
    for c, edges, n_bins in zip(cols, fitted.bin_edges_, fitted.n_bins_):
        x = c.expr.cast("double")
        bin_ = F.lit(0.0)
        for edge in edges[1:-1]:  # numpy.searchsorted(side="right") on the inner edges
            bin_ = bin_ + F.when(x >= float(edge), 1.0).otherwise(0.0)
        if fitted.encode == "ordinal":
            exprs.append(bin_)
        else:
            exprs.extend(F.when(bin_ == k, 1.0).otherwise(0.0) for k in range(int(n_bins)))
    return _out(cols, exprs, _names_out(fitted, cols))


_SCALER = dict(aggregates=_scaler_aggregates)

#: scikit-learn transformer class -> its Spark translation.
PREPROCESSING: dict[type, Prep] = {
    preprocessing.StandardScaler: Prep(
        build=_build_standard_scaler, apply=_apply_standard_scaler, **_SCALER
    ),
    preprocessing.MinMaxScaler: Prep(
        build=_build_minmax_scaler, apply=_apply_minmax_scaler, **_SCALER
    ),
    preprocessing.MaxAbsScaler: Prep(
        build=_build_maxabs_scaler, apply=_apply_maxabs_scaler, **_SCALER
    ),
    impute.SimpleImputer: Prep(_imputer_aggregates, _build_imputer, _apply_imputer),
    preprocessing.OneHotEncoder: Prep(
        _encoder_aggregates, _build_encoder, _apply_onehot, second=_encoder_counts
    ),
    preprocessing.OrdinalEncoder: Prep(
        _encoder_aggregates, _build_encoder, _apply_ordinal, second=_encoder_counts
    ),
    preprocessing.Binarizer: Prep(_no_aggregates, _build_stateless, _apply_binarizer),
    preprocessing.PolynomialFeatures: Prep(_no_aggregates, _build_stateless, _apply_polynomial),
    preprocessing.KBinsDiscretizer: Prep(_kbins_aggregates, _build_kbins, _apply_kbins),
}


def renamed(cols, names):
    """``cols`` under new feature names."""
    return [replace(c, name=n) for c, n in zip(cols, names)]
