"""GroupedEstimator(placement="size"): partitions planned from the groups' row counts.

The plan itself (no Spark), the two facts about Spark's hash partitioning it rests on, and
fits that put each group where the plan says and equal scikit-learn's per-group models.
"""

import heapq

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.utils._param_validation import InvalidParameterError

from spark_sklearn_bridge import GroupedEstimator
from spark_sklearn_bridge.grouped import _estimator
from spark_sklearn_bridge.grouped._placement import (
    partition_values,
    plan_frame,
    plan_partitions,
    spark_hash_longs,
)


def list_schedule(durations, slots):
    """When the last of ``durations`` ends if each, in order, starts on the first free slot:
    how Spark runs a stage's tasks."""
    free = [0.0] * slots
    for duration in durations:
        heapq.heapreplace(free, free[0] + duration)
    return max(free)


def test_the_largest_group_starts_first_in_a_partition_of_its_own():
    sizes = np.array([10] * 60 + [600] + [10] * 60)
    partition, n = plan_partitions(sizes, slots=4, n_partitions=8)
    assert partition[60] == 0 and (partition == 0).sum() == 1
    assert n <= 8 and sorted(set(partition.tolist())) == list(range(n))
    loads = np.bincount(partition, weights=sizes)
    ideal = max(sizes.max(), sizes.sum() / 4)  # 600
    # Run in partition order on 4 slots, as Spark does: within one small group of ideal.
    assert list_schedule(loads, 4) <= ideal + 10
    # The same groups hashed into 8 partitions: the big group's partition holds ~15 small
    # ones too, and starts wherever its index falls.
    hashed = np.arange(len(sizes)) % 8
    assert list_schedule(np.bincount(hashed, weights=sizes), 4) >= ideal + 100


@pytest.mark.parametrize(
    ("sizes", "slots", "n_partitions", "expected_n"),
    [
        ([5, 3, 1], 8, 16, 3),  # fewer groups than slots: one partition each
        ([4] * 8, 2, 4, 4),  # equal groups: equal partitions
        ([7], 4, 8, 1),
        ([1] * 100, 3, 1, 1),  # n_partitions below the slots caps the plan
    ],
)
def test_every_group_gets_a_partition_and_equal_groups_equal_shares(
    sizes, slots, n_partitions, expected_n
):
    partition, n = plan_partitions(sizes, slots, n_partitions)
    assert n == expected_n and len(partition) == len(sizes)
    assert sorted(set(partition.tolist())) == list(range(n))
    loads = np.bincount(partition, weights=sizes)
    if len(set(sizes)) == 1:
        assert loads.max() - loads.min() <= sizes[0]


def test_spark_hash_partitioning_is_what_the_placement_computes(spark):
    """The placement relies on Spark's hash partitioning (not a public API): a long's
    ``hash`` (Murmur3, seed 42) and ``repartition(n, column)`` placing a row in
    ``pmod(hash, n)``. Fails if either moves."""
    from pyspark.sql import functions as F

    values = np.array([0, 1, -1, 42, 2**31, -(2**31) - 1, 2**40 + 7, -(2**63), 2**63 - 1])
    frame = spark.createDataFrame([(int(v),) for v in values], "v long")
    assert [row[0] for row in frame.select(F.hash("v")).collect()] == (
        spark_hash_longs(values).tolist()
    )
    for n in (1, 3, 16):
        targets = partition_values(n)
        placed = (
            spark.createDataFrame([(int(v),) for v in targets], "v long")
            .repartition(n, "v")
            .select("v", F.spark_partition_id().alias("p"))
            .collect()
        )
        assert sorted((row["p"], row["v"]) for row in placed) == list(enumerate(targets))


def refuse_counting_job(*args, **kwargs):
    raise AssertionError("pandas input is counted on the driver, not by a Spark job")


class PartitionRecordingRidge(Ridge):
    """Ridge that records the Spark partition its fit ran in (``partition_``)."""

    def fit(self, X, y):
        from pyspark import TaskContext

        super().fit(X, y)
        context = TaskContext.get()
        self.partition_ = -1 if context is None else context.partitionId()
        return self


def skewed(n_small=12, small_rows=10, big_rows=200, seed=0):
    """``n_small`` groups plus one (key 99, also the one null region) many times larger."""
    rng = np.random.default_rng(seed)
    keys = np.repeat([*range(n_small), 99], [small_rows] * n_small + [big_rows])
    X = rng.normal(size=(len(keys), 2))
    y = X @ [1.0, -2.0] + keys * 0.1 + rng.normal(scale=0.1, size=len(keys))
    frame = pd.DataFrame(X, columns=["f0", "f1"]).assign(store=keys, y=y)
    return frame.assign(region=np.where(keys == 99, None, np.where(keys % 2, "r1", "r0")))


@pytest.mark.parametrize("source", ["spark", "pandas"])
@pytest.mark.parametrize("keys", [["store"], ["region", "store"]], ids=["one key", "null key"])
def test_size_placement_puts_each_group_in_its_planned_partition(spark, keys, source, monkeypatch):
    """Spark input is counted by a job; pandas input on the driver, with no counting job."""
    frame = skewed()
    if source == "pandas":
        monkeypatch.setattr(_estimator, "place_by_size", refuse_counting_job)
    models = {}
    for placement in ("size", "hash"):
        model = GroupedEstimator(
            PartitionRecordingRidge(),
            keys,
            feature_cols=None if source == "pandas" else ["f0", "f1"],
            label_col=None if source == "pandas" else "y",
            n_partitions=4,
            placement=placement,
            spark=spark,
        )
        if source == "pandas":
            models[placement] = model.fit(frame[[*keys, "f0", "f1"]], frame["y"])
        else:
            models[placement] = model.fit(spark.createDataFrame(frame))
    partitions = {}
    # The same models as hash placement and as scikit-learn on each group's rows.
    for key, rows in frame.groupby(keys, dropna=False):
        key = tuple(None if pd.isna(k) else k for k in key)  # a tuple, for one key too
        expected = Ridge().fit(rows[["f0", "f1"]], rows["y"])
        for model in models.values():
            fitted = model.get_group_model(key)
            np.testing.assert_allclose(fitted.coef_, expected.coef_, rtol=1e-12)
            np.testing.assert_allclose(fitted.intercept_, expected.intercept_, rtol=1e-12)
        partitions[key] = models["size"].get_group_model(key).partition_
    big = (None, 99) if len(keys) == 2 else (99,)
    assert partitions[big] == 0  # first, alone
    assert sum(p == 0 for p in partitions.values()) == 1
    assert set(partitions.values()) <= {0, 1, 2, 3}
    table = models["size"].model_table_.toPandas()
    assert len(table) == 13 and set(table["status"]) == {"ok"}


def test_size_placement_on_pandas_input_and_predict_equal_sklearn(spark):
    frame = skewed(seed=1)
    X, y = frame[["store", "f0", "f1"]], frame["y"].to_numpy()
    model = GroupedEstimator(Ridge(), "store", placement="size", spark=spark).fit(X, y)
    expected = np.empty(len(frame))
    for _, rows in frame.groupby("store"):
        fitted = Ridge().fit(rows[["f0", "f1"]], rows["y"])
        expected[rows.index] = fitted.predict(rows[["f0", "f1"]])
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-10)
    assert model.get_params()["placement"] == "size"


@pytest.mark.parametrize(
    ("values", "on_driver"),
    [
        (np.array([3, 1, 3]), True),
        (np.array([0.5, np.nan, -0.0]), True),
        (np.array([True, False, True]), True),
        (pd.Series(["a", None, "b"], dtype=object), True),
        (pd.Series(["a", None, "b"], dtype="string"), True),
        (pd.Series([1, None, 2], dtype="Int64"), True),
        # Values that could merge on their way to Spark: counted by Spark instead.
        (pd.to_datetime(["2024-01-01", "2024-01-01"]) + pd.to_timedelta([0, 1], "ns"), False),
        (pd.Series(["a", "b"], dtype="category"), False),
        (pd.Series([2**53 + 1, 2.0**53], dtype=object), False),  # one double in Spark
    ],
)
def test_pandas_keys_are_planned_on_the_driver_only_where_spark_keeps_them_apart(
    values, on_driver
):
    frame = pd.DataFrame({"k": values, "g": 1})
    plan = plan_frame(frame, ["g", "k"], n_partitions=4, slots=2)
    assert (plan is not None) == on_driver
    if on_driver:
        places, n, n_groups = plan
        codes = frame.groupby(["g", "k"], dropna=False, sort=False).ngroup()
        assert n_groups == codes.nunique() and len(places) == len(frame)
        assert set(places) <= set(partition_values(n))
        # Every row of one group gets the same partition.
        assert (pd.Series(places).groupby(codes.to_numpy()).nunique() == 1).all()


def test_size_placement_of_timestamp_keys_counts_in_spark_and_equals_sklearn(spark):
    frame = skewed(seed=2)
    frame["day"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["store"], "D")
    X, y = frame[["day", "f0", "f1"]], frame["y"].to_numpy()
    model = GroupedEstimator(Ridge(), "day", placement="size", spark=spark).fit(X, y)
    assert model.n_groups_ == 13
    for day, rows in frame.groupby("day"):
        expected = Ridge().fit(rows[["f0", "f1"]], rows["y"])
        np.testing.assert_allclose(model.get_group_model(day).coef_, expected.coef_, rtol=1e-12)


def test_placement_is_validated_before_any_job(spark):
    model = GroupedEstimator(Ridge(), "store", placement="sizes", spark=spark)
    with pytest.raises(InvalidParameterError, match="placement"):
        model.fit(skewed()[["store", "f0", "f1"]], np.zeros(320))


def test_size_placement_of_no_rows_raises_as_hash_placement_does(spark):
    from spark_sklearn_bridge.exceptions import EmptyInputError

    data = spark.createDataFrame(skewed().drop(columns="region")).limit(0)
    model = GroupedEstimator(Ridge(), "store", label_col="y", placement="size", spark=spark)
    with pytest.raises(EmptyInputError):
        model.fit(data)


@pytest.mark.parametrize("adaptive", ["true", "false"])
def test_the_fit_runs_in_every_partition(spark, adaptive):
    """The fit output's sizes are read in an eighth as many tasks as it has partitions only
    where Spark fills the cache first in a job of its own (adaptive execution): without it,
    that read would run the fit itself in 2 tasks instead of 16 (``_cache_filled_apart``)."""
    from spark_sklearn_bridge.grouped import _table

    frame = skewed(n_small=40, small_rows=8, big_rows=8)
    data = spark.createDataFrame(frame)
    before = spark.conf.get("spark.sql.adaptive.enabled")
    spark.conf.set("spark.sql.adaptive.enabled", adaptive)
    try:
        assert _table._cache_filled_apart(spark) is (adaptive == "true")
        model = GroupedEstimator(
            PartitionRecordingRidge(),
            "store",
            feature_cols=["f0", "f1"],
            label_col="y",
            n_partitions=16,
            spark=spark,
        ).fit(data)
    finally:
        spark.conf.set("spark.sql.adaptive.enabled", before)
    partitions = set()
    for key, rows in frame.groupby("store"):
        fitted = model.get_group_model(key)
        expected = Ridge().fit(rows[["f0", "f1"]], rows["y"])
        np.testing.assert_allclose(fitted.coef_, expected.coef_, rtol=1e-12)
        partitions.add(fitted.partition_)
    assert len(partitions) > 2 and max(partitions) >= 2  # not 2 coalesced readers
