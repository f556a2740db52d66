import pickle
import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from spark_sklearn_bridge import GroupedEstimator
from spark_sklearn_bridge.exceptions import (
    ColumnError,
    GroupFitError,
    ModelIntegrityError,
    NotFittedError,
    UnseenGroupError,
)

FEATURES = ["f0", "f1", "f2"]


def make_data(n_groups=6, n_rows=30, seed=0, two_keys=False):
    rng = np.random.default_rng(seed)
    frames = []
    for g in range(n_groups):
        X = rng.normal(size=(n_rows, 3))
        coef = rng.normal(size=3) * (g + 1)
        y = X @ coef + rng.normal(scale=0.1, size=n_rows)
        frame = pd.DataFrame(X, columns=FEATURES).assign(y=y, label=(y > 0).astype(int))
        if two_keys:
            frame = frame.assign(region=f"r{g % 2}", store=g // 2)
        else:
            frame = frame.assign(store=f"s{g}")
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    return data.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # interleave groups


def fit_by_hand(estimator, data, group_cols, label):
    models = {}
    for key, frame in data.groupby(group_cols, sort=False):
        key = key if len(group_cols) > 1 else key[0]
        models[key] = clone(estimator).fit(frame[FEATURES], frame[label].to_numpy())
    return models


def predict_by_hand(models, data, group_cols, method="predict"):
    out = {}
    for key, frame in data.groupby(group_cols, sort=False):
        key = key if len(group_cols) > 1 else key[0]
        values = getattr(models[key], method)(frame[FEATURES])
        out.update(zip(frame.index, values))
    return np.array([out[i] for i in data.index])


@pytest.mark.parametrize("two_keys", [False, True], ids=["one-key", "two-keys"])
def test_regressor_matches_sklearn_per_group_pandas_and_spark(spark, two_keys):
    data = make_data(two_keys=two_keys)
    group_cols = ["region", "store"] if two_keys else ["store"]
    expected = fit_by_hand(Ridge(alpha=0.5), data, group_cols, "y")

    pandas_model = GroupedEstimator(Ridge(alpha=0.5), group_cols).fit(
        data[group_cols + FEATURES], data["y"]
    )
    spark_model = GroupedEstimator(
        Ridge(alpha=0.5), group_cols, feature_cols=FEATURES, label_col="y"
    ).fit(spark.createDataFrame(data))

    for model in (pandas_model, spark_model):
        assert model.n_groups_ == len(expected) and model.n_failed_groups_ == 0
        for key, reference in expected.items():
            fitted = model.get_group_model(key)
            np.testing.assert_allclose(fitted.coef_, reference.coef_, rtol=1e-12)
            np.testing.assert_allclose(fitted.intercept_, reference.intercept_, rtol=1e-12)
            assert list(fitted.feature_names_in_) == FEATURES
        np.testing.assert_allclose(
            model.predict(data[group_cols + FEATURES]),
            predict_by_hand(expected, data, group_cols),
            rtol=1e-12,
        )

    # Spark in -> Spark out, joined back on a key: the same numbers.
    sdf = spark.createDataFrame(data.reset_index(names="row"))
    out = spark_model.predict(sdf).select("row", "prediction").toPandas().sort_values("row")
    np.testing.assert_allclose(
        out["prediction"], predict_by_hand(expected, data, group_cols), rtol=1e-12
    )


def test_classifier_probabilities_follow_global_classes(spark):
    data = make_data(n_groups=4, n_rows=40, seed=1)
    data["label"] = np.where(data["store"] == "s3", 2, data["label"])  # s3 sees only class 2
    data.loc[data.index[:3], "store"] = "s3"  # ...plus a few other labels
    expected = fit_by_hand(LogisticRegression(), data, ["store"], "label")
    model = GroupedEstimator(
        LogisticRegression(), "store", feature_cols=FEATURES, label_col="label"
    ).fit(spark.createDataFrame(data))
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])

    X = data[["store", *FEATURES]]
    np.testing.assert_array_equal(model.predict(X), predict_by_hand(expected, data, ["store"]))
    proba = model.predict_proba(X)
    assert proba.shape == (len(data), 3)
    for key, reference in expected.items():
        rows = (data["store"] == key).to_numpy()
        columns = np.searchsorted([0, 1, 2], reference.classes_)
        np.testing.assert_allclose(
            proba[rows][:, columns], reference.predict_proba(X[rows][FEATURES])
        )
        missing = np.setdiff1d([0, 1, 2], reference.classes_)
        assert np.all(proba[rows][:, np.searchsorted([0, 1, 2], missing)] == 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)

    spark_out = (
        model.predict_proba(spark.createDataFrame(data.reset_index(names="row")))
        .toPandas()
        .sort_values("row")
    )
    np.testing.assert_allclose(np.vstack(spark_out["prediction"]), proba, rtol=1e-12)
    labels = model.predict(spark.createDataFrame(data)).schema["prediction"].dataType
    assert labels.typeName() == "long"
    assert model.score(X, data["label"]) == pytest.approx(
        np.mean(predict_by_hand(expected, data, ["store"]) == data["label"])
    )


def test_string_labels_and_pipeline_base(spark):
    data = make_data(n_groups=3, seed=2)
    data["label"] = np.where(data["y"] > 0, "up", "down")
    base = make_pipeline(StandardScaler(), DecisionTreeClassifier(random_state=0))
    expected = fit_by_hand(base, data, ["store"], "label")
    model = GroupedEstimator(base, "store").fit(data[["store", *FEATURES]], data["label"])
    np.testing.assert_array_equal(
        model.predict(data[["store", *FEATURES]]), predict_by_hand(expected, data, ["store"])
    )
    out = model.predict(spark.createDataFrame(data)).toPandas()
    assert out["prediction"].isin(["up", "down"]).all()


def test_string_features_reach_a_pipeline_that_encodes_them(spark):
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    data = make_data(n_groups=3, seed=4)
    data["color"] = np.random.default_rng(4).choice(["red", "green", "blue"], len(data))
    data["y"] += np.where(data["color"] == "red", 5.0, 0.0)
    encode = make_column_transformer((OneHotEncoder(), ["color"]), remainder="passthrough")
    base = make_pipeline(encode, Ridge())
    columns = ["color", *FEATURES]
    expected = {k: clone(base).fit(f[columns], f["y"]) for k, f in data.groupby("store")}
    reference = np.empty(len(data))
    for key, frame in data.groupby("store"):
        reference[frame.index] = expected[key].predict(frame[columns])

    from_pandas = GroupedEstimator(base, "store", feature_cols=columns)
    from_pandas.fit(data[["store", *columns]], data["y"])
    np.testing.assert_allclose(from_pandas.predict(data), reference, rtol=1e-12)
    from_spark = GroupedEstimator(base, "store", feature_cols=columns, label_col="y")
    sdf = spark.createDataFrame(data.assign(row=data.index))
    out = from_spark.fit(sdf).predict(sdf).toPandas().sort_values("row")
    np.testing.assert_allclose(out["prediction"], reference, rtol=1e-12)
    with pytest.raises(ColumnError, match=r"\['color'\] are not numeric.*feature_cols=\[\.\.\.\]"):
        GroupedEstimator(base, "store").fit(data[["store", *columns]], data["y"])


def test_plain_estimator_on_string_features_gets_dataframes(spark):
    from sklearn.preprocessing import OneHotEncoder

    data = pd.DataFrame({"store": [1] * 4 + [2] * 4, "color": list("abca") + list("xyxy")})
    base = OneHotEncoder(sparse_output=False)
    model = GroupedEstimator(base, "store", feature_cols=["color"]).fit(data)
    for key, frame in data.groupby("store"):
        reference = clone(base).fit(frame[["color"]])
        np.testing.assert_array_equal(
            model.get_group_model(key).categories_[0], reference.categories_[0]
        )
        np.testing.assert_array_equal(
            model.transform(frame)[:, : len(reference.categories_[0])],
            reference.transform(frame[["color"]]),
        )
    with pytest.raises(ValueError, match=r"different widths \[\(2,\), \(3,\)\]"):
        model.transform(data)  # 3 colors in store 1, 2 in store 2
    out = model.transform(spark.createDataFrame(data.reset_index(names="row"))).toPandas()
    for row in out.itertuples():  # on Spark each row keeps its own group's width
        reference = clone(base).fit(data.loc[data["store"] == row.store, ["color"]])
        expected = reference.transform(pd.DataFrame({"color": [row.color]}))[0]
        np.testing.assert_array_equal(row.prediction, expected)


def test_parameters_naming_feature_columns_get_dataframes(spark):
    from sklearn.ensemble import HistGradientBoostingRegressor

    data = make_data(n_groups=2, n_rows=60, seed=8)
    data["kind"] = np.arange(len(data)) % 3
    data["y"] += data["kind"] * 2.0
    columns = ["kind", *FEATURES]
    base = HistGradientBoostingRegressor(categorical_features=["kind"], max_iter=5)
    expected = {k: clone(base).fit(f[columns], f["y"]) for k, f in data.groupby("store")}
    model = GroupedEstimator(base, "store", feature_cols=columns)
    model.fit(data[["store", *columns]], data["y"])
    for key, reference in expected.items():
        rows = data["store"] == key
        np.testing.assert_array_equal(
            model.get_group_model(key).predict(data.loc[rows, columns]),
            reference.predict(data.loc[rows, columns]),
        )


def test_transformer_and_clusterer_bases(spark):
    data = make_data(n_groups=3, seed=3)
    X = data[["store", *FEATURES]]
    pca = GroupedEstimator(PCA(n_components=2), "store").fit(X)
    expected = {k: PCA(n_components=2).fit(f[FEATURES]) for k, f in data.groupby("store")}
    np.testing.assert_allclose(
        pca.transform(X), predict_by_hand(expected, data, ["store"], "transform"), atol=1e-12
    )
    spark_pca = pca.transform(spark.createDataFrame(data)).toPandas()
    assert len(spark_pca["prediction"].iloc[0]) == 2

    kmeans = GroupedEstimator(KMeans(n_clusters=2, n_init=3, random_state=0), "store").fit(X)
    expected = {
        k: KMeans(n_clusters=2, n_init=3, random_state=0).fit(f[FEATURES])
        for k, f in data.groupby("store")
    }
    np.testing.assert_array_equal(kmeans.predict(X), predict_by_hand(expected, data, ["store"]))
    assert kmeans.predict(spark.createDataFrame(data)).schema[
        "prediction"
    ].dataType.typeName() == ("long")


def test_failing_group_raises_with_its_key_and_traceback(spark):
    data = make_data(n_groups=3)
    data.loc[data["store"] == "s1", "label"] = 1  # one class only: LogisticRegression fails
    model = GroupedEstimator(LogisticRegression(), "store")
    with pytest.raises(GroupFitError, match=r"group \{'store': 's1'\}") as info:
        model.fit(data[["store", *FEATURES]], data["label"])
    assert info.value.group == {"store": "s1"}
    assert "Traceback" in info.value.remote_traceback
    assert "needs samples of at least 2 classes" in info.value.remote_traceback


def test_skip_records_failures_and_small_groups(spark):
    data = make_data(n_groups=4)
    data.loc[data["store"] == "s1", "label"] = 1
    data = data[~((data["store"] == "s2") & (data.index % 10 != 0))]  # s2 keeps ~3 rows
    model = GroupedEstimator(LogisticRegression(), "store", on_error="skip", min_rows=5)
    model.fit(data[["store", *FEATURES]], data["label"])
    table = model.model_table_.toPandas().set_index("store")
    assert model.n_groups_ == 4 and model.n_failed_groups_ == 2
    assert table.loc["s1", "status"] == "failed" and "Traceback" in table.loc["s1", "error"]
    assert table.loc["s2", "status"] == "too_few_rows"
    assert "min_rows=5" in table.loc["s2", "error"]
    assert table.loc["s0", "status"] == "ok" and table.loc["s0", "model"] is not None
    assert table["n_rows"].sum() == len(data)  # every row accounted for
    assert set(table.columns) >= {"model", "n_rows", "fit_seconds", "status", "error"}
    with pytest.raises(GroupFitError, match="status 'failed'"):
        model.get_group_model("s1")


class _RecordingProgress:
    """Wraps ``task_progress`` to keep the bars a fit used."""

    def __init__(self, monkeypatch):
        from spark_sklearn_bridge.grouped import _estimator

        self.bars, original = [], _estimator.task_progress

        def wrapped(*args, **kwargs):
            bar = original(*args, **kwargs)
            self.bars.append(bar)
            return bar

        monkeypatch.setattr(_estimator, "task_progress", wrapped)


@pytest.mark.parametrize(
    ("source", "placement"), [("pandas", "hash"), ("spark", "hash"), ("spark", "size")]
)
def test_progress_bar_counts_groups_as_tasks_report_them(spark, monkeypatch, source, placement):
    recorder = _RecordingProgress(monkeypatch)
    data = make_data(n_groups=7)
    model = GroupedEstimator(Ridge(), "store", progress=True, n_partitions=2, placement=placement)
    if source == "pandas":
        model.fit(data[["store", *FEATURES]], data["y"])
    else:
        model.set_params(feature_cols=FEATURES, label_col="y").fit(spark.createDataFrame(data))
    (bar,) = recorder.bars
    assert bar.received == 7
    # The total is known for pandas input, and after placement="size" has counted the groups.
    assert bar.total == (None if (source, placement) == ("spark", "hash") else 7)


def test_raise_stops_each_task_at_its_first_failure(spark, monkeypatch):
    recorder = _RecordingProgress(monkeypatch)
    data = make_data(n_groups=6)
    first = data["store"].iat[0]
    data.loc[data["store"] == first, "label"] = 1  # the first group seen fails
    model = GroupedEstimator(LogisticRegression(), "store", n_partitions=1, progress=True)
    with pytest.raises(GroupFitError, match=f"'store': '{first}'.*stopped at its first"):
        model.fit(data[["store", *FEATURES]], data["label"])
    assert recorder.bars[0].received == 1  # the other five groups were never fitted
    model.set_params(on_error="skip").fit(data[["store", *FEATURES]], data["label"])
    assert recorder.bars[1].received == 6 and model.n_failed_groups_ == 1


def test_unseen_groups_policy(spark):
    data = make_data(n_groups=2)
    new = data.assign(store=np.where(data.index % 2 == 0, "s0", "new"))
    X_new = new[["store", *FEATURES]]
    strict = GroupedEstimator(Ridge(), "store").fit(data[["store", *FEATURES]], data["y"])
    with pytest.raises(UnseenGroupError, match=r"in 1 groups.*'store': 'new'"):
        strict.predict(X_new)
    with pytest.raises(UnseenGroupError, match="'new'"):
        strict.predict(spark.createDataFrame(new))  # checked before the job

    lenient = clone(strict).set_params(unseen_groups="null")
    lenient.fit(data[["store", *FEATURES]], data["y"])
    n_unseen = int((new["store"] == "new").sum())
    with pytest.warns(UserWarning, match=f"{n_unseen} rows in 1 groups have no fitted model"):
        predictions = lenient.predict(X_new)
    assert np.isnan(predictions[new["store"] == "new"]).all()
    np.testing.assert_allclose(
        predictions[new["store"] == "s0"],
        lenient.get_group_model("s0").predict(X_new[new["store"] == "s0"][FEATURES]),
    )
    with pytest.warns(UserWarning, match=f"{n_unseen} rows in 1 groups"):
        out = lenient.predict(spark.createDataFrame(new)).toPandas()
    assert out.loc[out["store"] == "new", "prediction"].isna().all()
    assert out.loc[out["store"] == "s0", "prediction"].notna().all()


def _with_unseen_rows(data):
    """``data`` with every 7th row moved to a group no model was fitted on, plus a row id."""
    new = data.assign(store=np.where(data.index % 7 == 0, "new", data["store"]))
    return new.reset_index(names="row")


@pytest.mark.parametrize("path", ["shipped", "shipped-shuffled", "distributed"])
def test_spark_predictions_on_both_model_paths(spark, monkeypatch, path):
    from spark_sklearn_bridge.grouped import _predict

    if path == "distributed":  # as for a model table too large to travel with the tasks
        monkeypatch.setattr(_predict, "SHIP_LIMIT_BYTES", -1)
    else:  # one chunk per Arrow batch: some chunks hold only unseen rows
        monkeypatch.setattr(_predict, "PREDICT_CHUNK_ROWS", 1)
    if path == "shipped-shuffled":  # as for a table of many groups
        monkeypatch.setattr(_predict, "UNSHUFFLED_MAX_GROUPS", 0)
    data = make_data(n_groups=5, n_rows=40, seed=3)
    data["label"] = np.where(data["y"] > 0, "up", "down")
    base = LogisticRegression()
    expected = fit_by_hand(base, data, ["store"], "label")
    model = GroupedEstimator(
        base, "store", feature_cols=FEATURES, label_col="label", unseen_groups="null"
    ).fit(spark.createDataFrame(data))
    new = _with_unseen_rows(data)
    seen = (new["store"] != "new").to_numpy()
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "16")  # groups span batches
    try:
        with pytest.warns(UserWarning, match=f"{(~seen).sum()} rows in 1 groups"):
            labels = model.predict(spark.createDataFrame(new)).toPandas()
        with pytest.warns(UserWarning, match="have no fitted model"):
            proba = model.predict_proba(spark.createDataFrame(new)).toPandas()
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    labels, proba = labels.sort_values("row"), proba.sort_values("row")
    assert len(labels) == len(proba) == len(new)
    assert labels["prediction"][~seen].isna().all() and proba["prediction"][~seen].isna().all()
    reference = new[seen].set_index("row")
    np.testing.assert_array_equal(
        labels["prediction"][seen], predict_by_hand(expected, reference, ["store"])
    )
    np.testing.assert_allclose(
        np.vstack(proba["prediction"][seen]),
        predict_by_hand(expected, reference, ["store"], "predict_proba"),
        rtol=1e-12,
    )


def _shuffles_by_group(frame, capsys) -> bool:
    """The physical plan of ``frame`` hash-partitions its rows on ``store``."""
    capsys.readouterr()
    frame.explain()
    plan = capsys.readouterr().out
    return "hashpartitioning(store" in plan


@pytest.mark.parametrize("unseen", ["null", "fallback"])
def test_a_few_groups_are_predicted_without_a_shuffle(spark, monkeypatch, capsys, unseen):
    """Up to UNSHUFFLED_MAX_GROUPS groups (unseen ones the fallback serves included), the
    shipped model table predicts each partition as it is; beyond it the rows are shuffled."""
    from spark_sklearn_bridge.grouped import _predict

    data = make_data(n_groups=4, seed=5)
    model = GroupedEstimator(
        DecisionTreeRegressor(max_depth=3, random_state=0),
        "store",
        feature_cols=FEATURES,
        label_col="y",
        unseen_groups=unseen,
        fallback="global" if unseen == "fallback" else None,
        n_partitions=2,
    ).fit(spark.createDataFrame(data))
    new = _with_unseen_rows(data)
    sdf = spark.createDataFrame(new).repartition(3)
    counted = r"rows (in|of) 1 groups"  # the warning of "null" or of "fallback"
    with pytest.warns(UserWarning, match=counted):
        expected = model.predict(new[["store", *FEATURES]])
    for limit, shuffled in [(4, unseen == "fallback"), (3, True), (64, False)]:
        monkeypatch.setattr(_predict, "UNSHUFFLED_MAX_GROUPS", limit)
        with pytest.warns(UserWarning, match=counted):
            out = model.predict(sdf)
        assert _shuffles_by_group(out, capsys) == shuffled, limit
        assert out.rdd.getNumPartitions() == (2 if shuffled else 3)  # n_partitions or the input's
        out = out.toPandas().sort_values("row")
        np.testing.assert_array_equal(out["prediction"].fillna(np.nan), expected)


def test_a_group_the_fallback_serves_is_counted_once(spark, monkeypatch, capsys):
    """A group of the table without a model (too few rows) is one of its n_groups already:
    with one unseen group too, 4 + 1 groups are predicted, so a limit of 5 does not shuffle."""
    from spark_sklearn_bridge.grouped import _predict

    data = make_data(n_groups=4, seed=6)
    data = data.drop(data.index[data["store"] == "s0"][3:])  # s0 keeps 3 rows < min_rows
    model = GroupedEstimator(
        DecisionTreeRegressor(max_depth=3, random_state=0),
        "store",
        feature_cols=FEATURES,
        label_col="y",
        min_rows=5,
        unseen_groups="fallback",
        fallback="global",
    ).fit(spark.createDataFrame(data))
    new = _with_unseen_rows(data.reset_index(drop=True))
    sdf = spark.createDataFrame(new).repartition(3)
    served = "The fallback model predicted .* rows of 2 groups"
    with pytest.warns(UserWarning, match=served):
        expected = model.predict(new[["store", *FEATURES]])
    for limit, shuffled in [(5, False), (4, True)]:
        monkeypatch.setattr(_predict, "UNSHUFFLED_MAX_GROUPS", limit)
        with pytest.warns(UserWarning, match=served):
            out = model.predict(sdf)
        assert _shuffles_by_group(out, capsys) == shuffled, limit
        out = out.toPandas().sort_values("row")
        np.testing.assert_array_equal(out["prediction"], expected)


@pytest.mark.parametrize("path", ["shipped", "distributed"])
def test_numeric_keys_match_across_types_other_types_must_agree(spark, monkeypatch, path):
    from pyspark.sql import functions as F

    from spark_sklearn_bridge.grouped import _predict

    if path == "distributed":
        monkeypatch.setattr(_predict, "SHIP_LIMIT_BYTES", -1)
    data = make_data(n_groups=3, seed=7).assign(store=lambda d: d["store"].str[1:].astype(int))
    data.loc[data.index[:4], "store"] = None  # a null group: the key column becomes double
    model = GroupedEstimator(Ridge(), "store", feature_cols=FEATURES, label_col="y")
    model.fit(spark.createDataFrame(data))
    expected = model.predict(data[["store", *FEATURES]])

    sdf = spark.createDataFrame(data.reset_index(names="row"))
    as_int = sdf.withColumn("store", F.col("store").cast("int"))
    out = model.predict(as_int).toPandas().sort_values("row")
    np.testing.assert_allclose(out["prediction"], expected, rtol=1e-12)
    as_text = sdf.withColumn("store", F.col("store").cast("int").cast("string"))
    with pytest.raises(ColumnError, match="'store' is string here but was double"):
        model.predict(as_text)


def test_all_groups_failed_predicts_null_on_spark(spark):
    data = make_data(n_groups=2)
    data["label"] = 1  # one class everywhere: every LogisticRegression fails
    model = GroupedEstimator(
        LogisticRegression(), "store", on_error="skip", unseen_groups="null"
    ).fit(data[["store", *FEATURES]], data["label"])
    assert model.n_failed_groups_ == 2
    with pytest.warns(UserWarning, match=f"{len(data)} rows in 2 groups"):
        out = model.predict(spark.createDataFrame(data)).toPandas()
    assert len(out) == len(data) and out["prediction"].isna().all()


def test_streaming_predictions(spark, tmp_path):
    data = make_data(n_groups=3, seed=6)
    model = GroupedEstimator(Ridge(), "store", feature_cols=FEATURES, label_col="y")
    model.fit(spark.createDataFrame(data))
    new = _with_unseen_rows(data)
    source = tmp_path / "in"
    source.mkdir()
    new.to_parquet(source / "part-0.parquet")
    stream = spark.readStream.schema(spark.read.parquet(str(source)).schema)

    def run(estimator, name):
        scored = estimator.predict(stream.parquet(str(source)))
        assert scored.isStreaming
        query = scored.writeStream.format("memory").queryName(name).start()
        try:
            query.processAllAvailable()
        finally:
            query.stop()
        return spark.table(name).toPandas().sort_values("row")

    lenient = run(
        clone(model).set_params(unseen_groups="null").fit(spark.createDataFrame(data)),
        "grouped_stream",
    )
    seen = (lenient["store"] != "new").to_numpy()
    assert lenient["prediction"][~seen].isna().all()
    reference = new[new["store"] != "new"].set_index("row")
    np.testing.assert_allclose(
        lenient["prediction"][seen],
        predict_by_hand(
            {k: model.get_group_model(k) for k in ["s0", "s1", "s2"]}, reference, ["store"]
        ),
        rtol=1e-12,
    )
    with pytest.raises(Exception, match="have no fitted model"):  # checked inside the job
        run(model, "grouped_stream_strict")


def test_null_group_keys_are_a_group(spark):
    data = make_data(n_groups=2, seed=5)
    data["store"] = data["store"].where(data["store"] == "s0", None)
    model = GroupedEstimator(Ridge(), "store", label_col="y", feature_cols=FEATURES)
    model.fit(spark.createDataFrame(data))
    assert model.n_groups_ == 2
    reference = Ridge().fit(
        data.loc[data["store"].isna(), FEATURES], data.loc[data["store"].isna(), "y"]
    )
    np.testing.assert_allclose(model.get_group_model(None).coef_, reference.coef_)
    out = model.predict(spark.createDataFrame(data)).toPandas()  # no unseen-group error
    assert out["prediction"].notna().all()


def test_save_load_round_trip_and_tampering(spark, tmp_path):
    data = make_data(n_groups=3)
    X = data[["store", *FEATURES]]
    model = GroupedEstimator(Ridge(alpha=2.0), "store").fit(X, data["y"])
    model.save(tmp_path / "m")
    loaded = GroupedEstimator.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    on_spark = loaded.predict(spark.createDataFrame(X.reset_index(names="row"))).toPandas()
    np.testing.assert_allclose(
        on_spark.sort_values("row")["prediction"], model.predict(X), rtol=1e-12
    )
    assert loaded.estimator.alpha == 2.0 and loaded.n_groups_ == 3

    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m")
    uri = (tmp_path / "by-uri").as_uri()  # file://...: the pyarrow filesystem path
    assert model.save(uri) == uri
    np.testing.assert_array_equal(GroupedEstimator.load(uri).predict(X), model.predict(X))
    parquet = tmp_path / "m" / "models.parquet"
    raw = bytearray(parquet.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    parquet.write_bytes(bytes(raw))
    with pytest.raises(ModelIntegrityError, match="does not match the sha256"):
        GroupedEstimator.load(tmp_path / "m")


def test_tampered_model_bytes_in_the_table_are_refused(spark):
    data = make_data(n_groups=2)
    base = DecisionTreeRegressor(max_depth=2)  # not linear: Spark predicts with the models
    model = GroupedEstimator(base, "store").fit(data[["store", *FEATURES]], data["y"])
    blob = bytearray(model._table.frame.loc[0, "model"])
    blob[-5] ^= 0xFF
    model._table.frame.at[0, "model"] = bytes(blob)
    key = model._table.frame.loc[0, "store"]
    with pytest.raises(ModelIntegrityError, match=f"model of group {{'store': '{key}'}}"):
        model.get_group_model(key)
    with pytest.raises(Exception, match="ModelIntegrityError"):
        model.predict(spark.createDataFrame(data)).collect()  # refused on the executor too


def test_mlflow_logging_round_trip(spark, tmp_path, mlflow_store):
    data = make_data(n_groups=2)
    X = data[["store", *FEATURES]]
    model = GroupedEstimator(Ridge(), "store").fit(X, data["y"])
    with mlflow.start_run():
        uri = model.log_to_mlflow("grouped")
    # a pyfunc model whose artifact is the save directory, loadable as the estimator itself
    unwrapped = mlflow.pyfunc.load_model(uri).unwrap_python_model().model
    np.testing.assert_array_equal(unwrapped.predict(X), model.predict(X))
    local = mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "dl"))
    loaded = GroupedEstimator.load(f"{local}/artifacts/saved_model")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_bad_input_is_named_before_any_job(spark):
    data = make_data(n_groups=2)
    sdf = spark.createDataFrame(data)
    with pytest.raises(ColumnError, match=r"group_cols.*\['shop'\]"):
        GroupedEstimator(Ridge(), "shop", label_col="y").fit(sdf)
    with pytest.raises(ColumnError, match=r"label_col.*\['target'\]"):
        GroupedEstimator(Ridge(), "store", label_col="target").fit(sdf)
    with pytest.raises(ValueError, match="'on_error' parameter of GroupedEstimator must be"):
        GroupedEstimator(Ridge(), "store", on_error="ignore").fit(sdf)
    with pytest.raises(ValueError, match="per-row fit parameters"):
        GroupedEstimator(Ridge(), "store").fit(
            data[["store", *FEATURES]], data["y"], sample_weight=np.ones(len(data))
        )
    with pytest.raises(TypeError, match="pandas DataFrame"):
        GroupedEstimator(Ridge(), 0).fit(data[FEATURES].to_numpy(), data["y"])
    with pytest.raises(NotFittedError):
        GroupedEstimator(Ridge(), "store").predict(data)
    fitted = GroupedEstimator(Ridge(), "store").fit(data[["store", *FEATURES]], data["y"])
    with pytest.raises(ColumnError, match=r"\['f2'\]"):
        fitted.predict(data[["store", "f0", "f1"]])


def test_is_a_real_sklearn_meta_estimator(spark):
    model = GroupedEstimator(make_pipeline(StandardScaler(), Ridge()), "store")
    assert clone(model).get_params()["estimator__ridge__alpha"] == 1.0
    model.set_params(estimator__ridge__alpha=3.0)
    assert model.estimator.steps[1][1].alpha == 3.0
    assert not hasattr(model, "predict_proba")  # Ridge has none
    assert hasattr(GroupedEstimator(LogisticRegression(), "g"), "predict_proba")

    data = make_data(n_groups=2)
    fitted = model.fit(data[["store", *FEATURES]], data["y"])
    restored = pickle.loads(pickle.dumps(fitted))
    X = data[["store", *FEATURES]]
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert restored.model_table_.count() == 2
