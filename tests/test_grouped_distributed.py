"""A model table too large for the driver stays distributed (issue #12, point 5).

The threshold is lowered to 0 bytes here so that small tables take the distributed path:
fit collects only the table's other fields, the models stay in a persisted Spark DataFrame,
and predict, get_group_model, refit_groups, save and pickling all still agree with a by-hand
scikit-learn loop.
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from spark_sklearn_bridge import GroupedEstimator
from spark_sklearn_bridge.grouped import _table

FEATURES = ["f0", "f1"]


@pytest.fixture(params=["sql", "models"])
def distributed(monkeypatch, request):
    """A distributed table; linear models predicted in Spark SQL, or by their models."""
    from spark_sklearn_bridge.grouped import _predict

    monkeypatch.setattr(_table, "SHIP_LIMIT_BYTES", 0)
    monkeypatch.setattr(_predict, "LINEAR_IN_SQL", request.param == "sql")


def rows(groups, n=25, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for i, g in enumerate(groups):
        X = rng.normal(size=(n, 2))
        y = X @ [i + 1.0, seed - 1.0] + rng.normal(scale=0.1, size=n)
        frames.append(pd.DataFrame(X, columns=FEATURES).assign(g=g, y=y))
    return pd.concat(frames, ignore_index=True)


def by_hand(frame):
    models = {g: Ridge().fit(d[FEATURES], d["y"]) for g, d in frame.groupby("g")}
    out = np.empty(len(frame))
    for g, d in frame.groupby("g"):
        out[d.index] = models[g].predict(d[FEATURES])
    return models, out


def spark_predictions(model, spark, frame):
    scored = model.predict(spark.createDataFrame(frame.reset_index(names="i"))).toPandas()
    return scored.sort_values("i")["prediction"].to_numpy()


def test_a_large_table_stays_on_the_executors(spark, distributed):
    frame = rows(["a", "b", "c", "d", "e"])
    model = GroupedEstimator(Ridge(), "g", feature_cols=FEATURES, label_col="y")
    model.fit(spark.createDataFrame(frame))
    table = model._table
    assert table.distributed is not None
    assert table.frame["model"].isna().all()  # the driver holds no model
    assert table.usable_bytes() > 0 and model.n_groups_ == 5
    models, expected = by_hand(frame)
    np.testing.assert_allclose(spark_predictions(model, spark, frame), expected)
    np.testing.assert_allclose(model.predict(frame[["g", *FEATURES]]), expected)
    np.testing.assert_allclose(model.get_group_model("c").coef_, models["c"].coef_)
    served = model.model_table_.toPandas().set_index("g")
    assert sorted(served.index) == list("abcde") and served["model"].map(len).gt(0).all()


def test_null_keys_and_classifiers_on_a_distributed_table(spark, distributed):
    frame = rows(["a", None, "b"])
    frame["y"] = (frame["y"] > 0).astype(int)
    model = GroupedEstimator(LogisticRegression(), "g", feature_cols=FEATURES, label_col="y")
    model.fit(spark.createDataFrame(frame))
    assert model._table.distributed is not None
    expected = np.empty((len(frame), 2))
    for _, d in frame.groupby("g", dropna=False):
        expected[d.index] = (
            LogisticRegression().fit(d[FEATURES], d["y"]).predict_proba(d[FEATURES])
        )
    np.testing.assert_allclose(model.predict_proba(frame[["g", *FEATURES]]), expected)
    np.testing.assert_allclose(model.get_group_model(None).coef_.ravel().shape, (2,))


def test_save_load_and_pickle_collect_the_models(spark, distributed, tmp_path):
    frame = rows([1, 2, 3])
    model = GroupedEstimator(Ridge(), "g", feature_cols=FEATURES, label_col="y")
    model.fit(spark.createDataFrame(frame))
    _, expected = by_hand(frame)
    model.save(tmp_path / "m")
    loaded = GroupedEstimator.load(tmp_path / "m")
    copied = pickle.loads(pickle.dumps(model))
    for other in (loaded, copied):
        assert other._table.distributed is None
        np.testing.assert_allclose(other.predict(frame[["g", *FEATURES]]), expected)
    assert model._table.distributed is not None  # saving did not pull the table in


def test_refit_groups_of_a_distributed_table(spark, distributed):
    first, update = rows([0, 1, 2]), rows([1, 3], seed=4)
    model = GroupedEstimator(Ridge(), "g", feature_cols=FEATURES, label_col="y")
    model.fit(spark.createDataFrame(first))
    before = model.model_table_.toPandas().set_index("g")
    model.refit_groups(spark.createDataFrame(rows([1], seed=8)))
    # a second refit: its release of the first refit's table must not make Spark refit
    # the kept groups (it recomputed a cached plan whose sources were released)
    model.refit_groups(spark.createDataFrame(update))
    assert model._table.distributed is not None and model.n_groups_ == 4
    after = model.model_table_.toPandas().set_index("g")
    for g in (0, 2):
        assert after.loc[g, "model"] == before.loc[g, "model"]
        assert after.loc[g, "fitted_at"] == before.loc[g, "fitted_at"]
    models, _ = by_hand(first)
    updated, _ = by_hand(update)
    for g, expected in [(0, models[0]), (1, updated[1]), (3, updated[3])]:
        np.testing.assert_allclose(model.get_group_model(g).coef_, expected.coef_)


def test_fallback_serves_failed_and_unseen_groups_of_a_distributed_table(spark, distributed):
    frame = rows(["a", "b", "tiny"])
    frame = frame[(frame["g"] != "tiny") | (frame.index % 25 < 2)].reset_index(drop=True)
    model = GroupedEstimator(
        Ridge(),
        "g",
        feature_cols=FEATURES,
        label_col="y",
        min_rows=5,
        fallback="global",
        unseen_groups="fallback",
    )
    model.fit(spark.createDataFrame(frame))
    assert model._table.distributed is not None and model.n_failed_groups_ == 1
    test = pd.concat([frame, rows(["new"], n=3, seed=9)], ignore_index=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = model.predict(spark.createDataFrame(test.reset_index(names="i")))
        scored = scored.toPandas().sort_values("i").reset_index(drop=True)
    assert any("fallback model predicted 5 rows of 2 groups" in str(w.message) for w in caught)
    everything = Ridge().fit(frame[FEATURES], frame["y"])
    models, _ = by_hand(frame[frame["g"] != "tiny"])
    for g, d in test.groupby("g"):
        source = "group" if g in models else "fallback"
        expected = models.get(g, everything).predict(d[FEATURES])
        np.testing.assert_allclose(scored.loc[d.index, "prediction"], expected)
        assert (scored.loc[d.index, "model_source"] == source).all()
