"""Which partition each group of a grouped fit goes to.

``placement="hash"`` (the default) hash-partitions the rows on the group keys: no extra
pass, and with many groups of similar size every partition gets about the same work. One
group much larger than the rest breaks that: its partition also holds its share of small
groups, and it starts whenever its index comes up, often in the last wave.

``placement="size"`` counts each group's rows first (one extra pass over the input) and
plans the partitions from those counts, taking a group's fit time to grow with its rows:

1. **Longest first onto the slots** (LPT): groups in decreasing size, each to the slot
   that frees first. The slots end within about one group of each other, and no group
   waits behind a smaller one.
2. **Cut into partitions**: each slot's run of groups is cut into a few partitions of
   about equal rows (``n_partitions`` in all), which keeps room to even out when the fit
   times do not follow the rows.
3. **Numbered by planned start**: Spark launches a stage's tasks in partition order, each
   on the first free slot, so partitions numbered by their planned start time run as
   planned: the largest group starts first.

The rows reach their planned partition through ``repartition(n, column)`` on a column
holding, per partition, a value Spark's hash partitioning sends there
(:func:`partition_values`). Spark input is counted by a job (:func:`place_by_size`); a
pandas frame is counted where it is, on the driver (:func:`plan_frame`).
"""

from __future__ import annotations

import heapq

import numpy as np
import pandas as pd

from .._inputs import column, to_pandas
from .._reserved import GROUP_HASH, PLACE

#: Values (rows x columns) each task of the shuffle that places the rows writes, at most
#: (about 0.15 s of a core): the counts give the rows, so a small input is shuffled by a
#: few tasks, not by one per partition it came in.
CELLS_PER_MAP_TASK = 2**20

__all__ = [
    "partition_values",
    "place_by_size",
    "place_planned",
    "plan_frame",
    "plan_partitions",
    "spark_hash_longs",
]


def plan_partitions(sizes, slots: int, n_partitions: int) -> tuple[np.ndarray, int]:
    """Partition of each group, planned from the groups' row counts.

    Parameters
    ----------
    sizes : array-like of int
        Rows of each group.
    slots : int
        Task slots of the cluster (fits that run at once).
    n_partitions : int
        Partitions wanted (at most; fewer when there are fewer groups).

    Returns
    -------
    partition : ndarray of int
        Partition of each group, numbered in planned start order.
    n : int
        Number of partitions used.

    Examples
    --------
    One group 100x the others, 2 slots, 4 partitions: it gets partition 0 and a slot of
    its own; the small groups share the other slot's partitions.

    >>> partition, n = plan_partitions([1] * 8 + [100], slots=2, n_partitions=4)
    >>> int(partition[-1]), n, partition[:-1].tolist()
    (0, 3, [1, 1, 1, 1, 2, 2, 2, 2])
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    n_groups = len(sizes)
    machines = max(1, min(slots, n_partitions, n_groups))
    order = np.argsort(-sizes, kind="stable")
    machine = np.empty(n_groups, dtype=np.int64)
    start = np.empty(n_groups, dtype=np.int64)
    free = [(0, m) for m in range(machines)]  # (planned load, slot): a heap
    for g in order.tolist():
        load, m = free[0]
        machine[g], start[g] = m, load
        heapq.heapreplace(free, (load + int(sizes[g]), m))
    loads = np.zeros(machines, dtype=np.int64)
    for load, m in free:
        loads[m] = load
    cuts = max(1, n_partitions // machines)  # partitions per slot
    piece = np.minimum(cuts - 1, start * cuts // np.maximum(loads[machine], 1))
    key = machine * cuts + piece  # a partition: one piece of one slot's run
    never = np.iinfo(np.int64).max
    first = np.full(machines * cuts, never)
    np.minimum.at(first, key, start)  # each partition's planned start
    used = np.flatnonzero(first != never)
    ranked = used[np.lexsort((used, first[used]))]  # by start, then slot and piece
    number = np.empty(machines * cuts, dtype=np.int64)
    number[ranked] = np.arange(len(ranked))
    return number[key], len(ranked)


def place_by_size(data, group_cols, n_partitions: int, slots: int):
    """``(data repartitioned as planned from its group sizes, number of groups)``.

    One job counts the rows per group, in one stage of a quarter as many tasks as slots
    (counting is cheap, and each Python task costs its start): each task counts the groups
    of its partitions, by a 64-bit hash of the keys (two keys that share a hash share a
    partition, which changes the balance, never a model), and the driver adds the counts
    up. Spark's own ``groupBy().count()`` shuffles first: 4-7x slower on 42,000 rows and 16
    slots. The plan goes back to the rows as a broadcast table (of one partition) joined on
    the hash. The shuffle that places the rows has one task per :data:`CELLS_PER_MAP_TASK`
    values, at most one per partition of ``data``: each map task costs 15-20 ms of CPU
    whatever it writes, and the reduce tasks fetch a block from each. 42,000 rows in 64
    partitions, 64 slots: that shuffle took 0.76 s in 64 tasks, 0.14 s in one.
    """
    from pyspark.sql import functions as F

    spark = data.sparkSession
    fingerprint = F.xxhash64(*[column(c) for c in group_cols])
    hashes = data.select(fingerprint.alias(GROUP_HASH)).coalesce(max(1, slots // 4))
    parts = hashes.mapInArrow(count_values, f"{GROUP_HASH} long, count long")
    counts = to_pandas(parts).groupby(GROUP_HASH, sort=True)["count"].sum()
    if counts.empty:  # no rows: nothing to place
        return data.repartition(n_partitions, *[column(c) for c in group_cols]), 0
    counts = counts.sort_values(ascending=False, kind="stable")  # ties: by hash
    partition, n = plan_partitions(counts.to_numpy(), slots, n_partitions)
    plan = pd.DataFrame({GROUP_HASH: counts.index, PLACE: partition_values(n)[partition]})
    # One partition: the broadcast collects the table in one task, not one per core (a
    # local frame is split over the default parallelism): 40-70 ms less at 16 slots.
    table = spark.createDataFrame(plan, f"{GROUP_HASH} long, {PLACE} long").coalesce(1)
    cells = int(counts.sum()) * len(data.columns)
    writers = max(1, -(-cells // CELLS_PER_MAP_TASK))
    placed = (
        data.coalesce(writers)
        .withColumn(GROUP_HASH, fingerprint)
        .join(
            F.broadcast(table),
            on=GROUP_HASH,
            how="left",
        )
    )
    return place_planned(placed.drop(GROUP_HASH), n), len(counts)


def place_planned(data, n: int):
    """``data`` in the ``n`` partitions its :data:`PLACE` column plans, without it."""
    return data.repartition(n, column(PLACE)).drop(PLACE)


def plan_frame(frame: pd.DataFrame, group_cols, n_partitions: int, slots: int):
    """``(PLACE value of each row, number of partitions, number of groups)`` of a pandas
    ``frame``, planned from its group sizes counted here: no counting job.

    None where a group column's values could merge on their way to Spark (e.g. timestamps
    lose their nanoseconds): each task groups the values it receives, so a plan made on
    the driver's values could then split one group over two partitions. Such frames are
    counted in Spark, as Spark input is (:func:`place_by_size`).

    Examples
    --------
    >>> frame = pd.DataFrame({"g": ["a"] * 6 + ["b", "c"]})
    >>> places, n, n_groups = plan_frame(frame, ["g"], n_partitions=4, slots=2)
    >>> (places == partition_values(n)[0]).tolist(), n, n_groups
    ([True, True, True, True, True, True, False, False], 3, 3)
    """
    if not all(_kept_in_spark(frame[c]) for c in group_cols):
        return None
    codes = frame.groupby(group_cols, dropna=False, sort=False).ngroup().to_numpy()
    sizes = np.bincount(codes)
    partition, n = plan_partitions(sizes, slots, n_partitions)
    return partition_values(n)[partition][codes], n, len(sizes)


def _kept_in_spark(values: pd.Series) -> bool:
    """Distinct values of this pandas column stay distinct in Spark: booleans, numbers and
    strings do; timestamps (nanoseconds), categoricals and mixed objects may not."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype):
        return True
    if pd.api.types.is_object_dtype(dtype):
        return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
    return (
        pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_integer_dtype(dtype)
        or pd.api.types.is_float_dtype(dtype)
    )


def count_values(batches):
    """mapInArrow body: each value of the partition's one column, with its count."""
    import pyarrow as pa
    import pyarrow.compute as pc

    batches = list(batches)
    if not batches:
        return
    counted = pc.value_counts(pa.chunked_array([b.column(0) for b in batches]))
    yield pa.RecordBatch.from_arrays(
        [counted.field(0), counted.field(1).cast(pa.int64())], names=[GROUP_HASH, "count"]
    )


def partition_values(n: int) -> np.ndarray:
    """For each partition ``p`` of ``n``, a long that ``repartition(n, column)`` sends to
    ``p``: the first of 0, 1, 2, ... that Spark's hash partitioning puts there.

    No public API puts a row in a chosen partition. ``repartition(n, column)`` places a
    row in ``pmod(hash(column), n)``, where ``hash`` is Spark's Murmur3 (x86, 32-bit, seed
    42; the rule bucketed tables rely on), which :func:`spark_hash_longs` computes here, so
    no job is needed. ``test_spark_hash_partitioning_is_what_the_placement_computes``
    fails if either moves; the placement would then be worse, the fitted models the same.

    Examples
    --------
    >>> partition_values(4).tolist()
    [2, 0, 14, 3]
    """
    if n not in _VALUES:
        found = np.full(n, -1, dtype=np.int64)
        start = 0
        while (found < 0).any():  # 16n candidates miss a partition with p ~ n e^-16
            ids = np.arange(start, start + 16 * n, dtype=np.int64)
            places, first = np.unique(spark_hash_longs(ids) % n, return_index=True)
            new = found[places] < 0  # numpy's % of a negative is pmod's
            found[places[new]] = ids[first[new]]
            start += 16 * n
        _VALUES[n] = found
    return _VALUES[n]


_VALUES: dict = {}


def spark_hash_longs(values: np.ndarray) -> np.ndarray:
    """``pyspark.sql.functions.hash`` of a long column, computed with numpy: Murmur3
    x86 32-bit of the 8 bytes (low word, then high word), seed 42, as a signed int.

    Examples
    --------
    >>> spark_hash_longs(np.array([0, 1, -1])).tolist()
    [-1670924195, -1712319331, -939490007]
    """
    with np.errstate(over="ignore"):
        words = np.asarray(values, dtype=np.int64).view(np.uint64)
        h = np.full(words.shape, 42, dtype=np.uint32)
        for word in (words & 0xFFFFFFFF, words >> np.uint64(32)):
            k = word.astype(np.uint32) * np.uint32(0xCC9E2D51)
            k = _rotl(k, 15) * np.uint32(0x1B873593)
            h = _rotl(h ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
        h ^= np.uint32(8)
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
    return h.view(np.int32).astype(np.int64)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))
