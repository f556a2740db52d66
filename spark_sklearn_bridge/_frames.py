"""DataFrame helpers shared by the paradigms: partitioning, any column name through
``mapInPandas``, row order, runs of equal group keys, and re-batching.

Everything about shaping a job's data (as opposed to running it, :mod:`._jobs`).
"""

from __future__ import annotations

import contextlib
from functools import partial

import numpy as np
import pandas as pd

from ._inputs import column
from ._jobs import cluster_cores
from ._reserved import HELPER_COLUMN, ROW_ID

__all__ = [
    "coalesce_for_shuffle",
    "default_partitions",
    "key_runs",
    "larger_arrow_batches",
    "map_in_pandas",
    "null_safe_condition",
    "rebatch",
    "same_key",
    "spark_frame_with_row_id",
]


def default_partitions(spark, per_core: int = 2) -> int:
    """How many partitions to pack work into: a few per core, so skew evens out."""
    return max(1, per_core * cluster_cores(spark))


def coalesce_for_shuffle(data, spark, columns=None):
    """``data`` (its ``columns``, default all) read in at most :func:`default_partitions`
    tasks, for the shuffle that follows. The columns come back in another order: callers
    name them.

    A shuffle's map stage pays per task, not only per row: each task writes its own files,
    and each reduce task fetches a block from every one. An input of many small partitions
    (``createDataFrame`` of a pandas frame gives one per 10,000 rows; a cached table keeps
    them) then costs more in tasks than in rows: 5,000 groups x 200 rows in 100 cached
    partitions fitted in 3.07 s, 2.65 s read in 4 tasks (2 cores, best of 9). ``coalesce``
    merges partitions without a shuffle and never adds any; two tasks per core keep every
    core busy.

    Spark's optimizer drops a ``coalesce`` right under a ``repartition`` (its rule
    ``CollapseRepartition``: the shuffle moves every row anyway; what it does not weigh is
    the number of map tasks). A projection between the two keeps it, so the columns are
    selected rotated by one: never the same list, which Spark would remove as a no-op,
    unless there is only one. ``test_a_grouped_fit_shuffles_from_at_most_two_tasks_a_core``
    fails if the coalesce is dropped.
    """
    names = list(data.columns if columns is None else columns)
    rotated = names[-1:] + names[:-1]
    return data.coalesce(default_partitions(spark)).select(*[column(c) for c in rotated])


def map_in_pandas(df, func, schema):
    """``df.mapInPandas(func, schema)`` for any column names.

    pyspark's ``mapInPandas`` refers to each input column by its unquoted name, so a name
    with a dot or a backtick (``a.b``) fails to resolve. Such frames travel under helper
    names and ``func`` gets its batches with the real names back.
    """
    names = df.columns
    if not any("." in n or "`" in n for n in names):
        return df.mapInPandas(func, schema)
    helper = [HELPER_COLUMN.format(i) for i in range(len(names))]
    renamed = df.select(*[column(n).alias(h) for n, h in zip(names, helper)])
    return renamed.mapInPandas(partial(_with_names, func=func, names=names), schema)


def _with_names(batches, *, func, names):
    return func(batch.set_axis(names, axis=1) for batch in batches)


#: Rows per Arrow batch for jobs whose Python side concatenates its whole partition anyway.
WHOLE_PARTITION_BATCH_ROWS = 100_000
_ARROW_BATCH_CONF = "spark.sql.execution.arrow.maxRecordsPerBatch"


@contextlib.contextmanager
def larger_arrow_batches(spark, rows: int = WHOLE_PARTITION_BATCH_ROWS):
    """Run the block's actions with Arrow batches of at least ``rows`` rows.

    For jobs whose Python side gathers its whole partition before working on it (the grouped
    fit): each batch costs a fixed conversion to pandas, so Spark's default of 10,000 rows
    made a third of a 5,000-group fit's time. The session's setting is restored after the
    block; a larger setting is left as it is. Other jobs of the session running at the same
    time see the larger batches too (a speed difference, never a result difference).
    """
    previous = spark.conf.get(_ARROW_BATCH_CONF, None)
    try:
        current = int(previous) if previous is not None else 10_000
    except ValueError:
        current = 10_000
    if current <= 0 or current >= rows:  # <= 0 means "no limit" to Spark
        yield
        return
    spark.conf.set(_ARROW_BATCH_CONF, str(rows))
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(_ARROW_BATCH_CONF)
        else:
            spark.conf.set(_ARROW_BATCH_CONF, previous)


def spark_frame_with_row_id(spark, frame: pd.DataFrame, vector_cols=()):
    """A Spark DataFrame of ``frame`` plus a :data:`ROW_ID` column holding its row positions.

    ``vector_cols`` hold ``pyspark.ml`` vectors, which Arrow cannot infer a type for: their
    type is given (``VectorUDT``), the other columns' types are inferred as usual.
    """
    frame = frame.reset_index(drop=True)
    frame = frame.assign(**{ROW_ID: np.arange(len(frame), dtype="int64")})
    if not vector_cols:
        return spark.createDataFrame(frame)
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql.types import StructField, StructType

    inferred = spark.createDataFrame(frame.drop(columns=list(vector_cols))).schema
    fields = {f.name: f for f in inferred.fields}
    schema = StructType(
        [fields.get(c) or StructField(c, VectorUDT(), nullable=True) for c in frame.columns]
    )
    return spark.createDataFrame(frame, schema=schema)


def key_runs(batch: pd.DataFrame, group_cols: list) -> list:
    """``(key_tuple, start, end)`` of each run of equal keys in a key-sorted batch.

    Null keys are equal to each other (a null group is a group, as in ``groupBy``).

    Examples
    --------
    >>> key_runs(pd.DataFrame({"g": ["a", "a", None, None, "b"]}), ["g"])
    [(('a',), 0, 2), ((None,), 2, 4), (('b',), 4, 5)]
    """
    if batch.empty:
        return []
    changed = np.zeros(len(batch) - 1, dtype=bool)
    for col in group_cols:
        values = batch[col].to_numpy()
        nulls = pd.isna(values)
        equal = (values[:-1] == values[1:]) | (nulls[:-1] & nulls[1:])
        changed |= ~np.asarray(equal, dtype=bool)
    starts = [0, *(np.flatnonzero(changed) + 1).tolist()]
    ends = [*starts[1:], len(batch)]
    return [
        (tuple(batch[c].iat[start] for c in group_cols), start, end)
        for start, end in zip(starts, ends)
    ]


def same_key(a, b) -> bool:
    """Key tuples equal, with null equal to null."""
    return all((x == y) or (pd.isna(x) and pd.isna(y)) for x, y in zip(a, b))


def null_safe_condition(cols, left, right):
    """Join condition on ``cols`` where null keys match null keys (null groups are groups)."""
    from functools import reduce

    conditions = [column(c, left).eqNullSafe(column(c, right)) for c in cols]
    return reduce(lambda a, b: a & b, conditions)


def rebatch(parts, min_rows):
    """Concatenate consecutive numpy arrays, scipy sparse matrices or pandas frames / series
    into pieces of at least ``min_rows`` rows (the last one may be smaller); ``min_rows``
    falsy: as they come.

    Examples
    --------
    >>> [len(p) for p in rebatch([np.zeros((3, 2))] * 5, 7)]
    [9, 6]
    """
    if not min_rows:
        yield from parts
        return
    pending, size = [], 0
    for part in parts:
        pending.append(part)
        size += part.shape[0]
        if size >= min_rows:
            yield _concat(pending)
            pending, size = [], 0
    if pending:
        yield _concat(pending)


def _concat(parts):
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], (pd.DataFrame, pd.Series)):
        return pd.concat(parts, ignore_index=True)
    if hasattr(parts[0], "tocsr"):  # scipy sparse: stays sparse
        from scipy import sparse

        return sparse.vstack(parts, format="csr")
    return np.concatenate(parts)
