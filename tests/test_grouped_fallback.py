"""The fallback model: rows of failed, too-small and unseen groups get its predictions, every
Spark output row says which model produced it, and the counts are reported."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from spark_sklearn_bridge import GroupedEstimator
from spark_sklearn_bridge.exceptions import GroupFitError, UnseenGroupError
from spark_sklearn_bridge.grouped import _predict

FEATURES = ["f0", "f1"]


class FailsOnThirteenRows(Ridge):
    """Ridge whose fit fails for a group of exactly 13 rows (group 1 below)."""

    def fit(self, X, y, sample_weight=None):
        if len(X) == 13:
            raise ValueError("this group cannot be fitted")
        return super().fit(X, y, sample_weight)


def data(sizes=(30, 13, 4, 25), seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for g, n in enumerate(sizes):
        X = rng.normal(size=(n, 2))
        frames.append(pd.DataFrame(X, columns=FEATURES).assign(g=g, y=X @ [g + 1.0, 2.0] + g))
    frame = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=seed)
    return frame.reset_index(drop=True).assign(row=lambda d: np.arange(len(d)))


def new_rows():
    """Rows of groups 0-3 and of an unseen group 9."""
    frame = data(sizes=(3, 3, 3, 3, 0, 0, 0, 0, 0, 3), seed=1)
    return frame


def expected_predictions(train, rows, fallback_groups, fallback):
    out = np.empty(len(rows))
    for g, part in rows.groupby("g"):
        if g in fallback_groups:
            out[part.index] = fallback.predict(part[FEATURES])
        else:
            own = train[train["g"] == g]
            model = FailsOnThirteenRows().fit(own[FEATURES], own["y"])
            out[part.index] = model.predict(part[FEATURES])
    return out


def fitted(spark, fallback="global", unseen_groups="fallback", spark_input=True, **kwargs):
    train = data()
    model = GroupedEstimator(
        FailsOnThirteenRows(),
        "g",
        feature_cols=FEATURES,
        label_col="y" if spark_input else None,
        on_error="skip",
        min_rows=10,
        fallback=fallback,
        unseen_groups=unseen_groups,
        **kwargs,
    )
    if spark_input:
        return model.fit(spark.createDataFrame(train)), train
    return model.fit(train[["g", *FEATURES]], train["y"]), train


@pytest.mark.parametrize("spark_input", [True, False])
def test_failed_small_and_unseen_groups_get_the_global_model(spark, spark_input):
    model, train = fitted(spark, spark_input=spark_input)
    global_model = Ridge().fit(train[FEATURES], train["y"])
    # the "global" fallback is a clone of the base estimator fitted on every row
    np.testing.assert_allclose(
        model._table.fallback_model().coef_,
        FailsOnThirteenRows().fit(train[FEATURES], train["y"]).coef_,
    )
    rows = new_rows()
    expected = expected_predictions(train, rows, {1, 2, 9}, global_model)
    with pytest.warns(UserWarning, match=r"fallback model predicted 9 rows of 3 groups: 6 rows"):
        np.testing.assert_allclose(model.predict(rows[["g", *FEATURES]]), expected)

    with pytest.warns(UserWarning, match=r"fallback model predicted 9 rows of 3 groups"):
        out = model.predict(spark.createDataFrame(rows)).toPandas().sort_values("row")
    np.testing.assert_allclose(out["prediction"], expected[out["row"]])
    sources = dict(zip(out["g"], out["model_source"]))
    assert sources == {0: "group", 1: "fallback", 2: "fallback", 3: "group", 9: "fallback"}


def test_an_explicit_fallback_estimator_and_the_distributed_table_path(spark, monkeypatch):
    model, train = fitted(spark, fallback=LinearRegression())
    reference = LinearRegression().fit(train[FEATURES], train["y"])
    rows = new_rows()
    expected = expected_predictions(train, rows, {1, 2, 9}, reference)
    monkeypatch.setattr(_predict, "SHIP_LIMIT_BYTES", 0)  # the model table is joined
    with pytest.warns(UserWarning, match="fallback model predicted 9 rows"):
        out = model.predict(spark.createDataFrame(rows)).toPandas().sort_values("row")
    np.testing.assert_allclose(out["prediction"], expected[out["row"]])
    assert (out.loc[out["g"].isin([1, 2, 9]), "model_source"] == "fallback").all()
    assert (out.loc[out["g"].isin([0, 3]), "model_source"] == "group").all()


def test_with_unseen_groups_raise_only_unseen_rows_raise(spark):
    model, train = fitted(spark, unseen_groups="raise")
    rows = new_rows()
    with pytest.raises(UnseenGroupError, match=r"3 rows in 1 groups.*\{'g': 9\}"):
        model.predict(rows[["g", *FEATURES]])
    known = rows[rows["g"] != 9].reset_index(drop=True)
    global_model = Ridge().fit(train[FEATURES], train["y"])
    with pytest.warns(UserWarning, match="6 rows of groups that failed or had too few rows"):
        np.testing.assert_allclose(
            model.predict(known[["g", *FEATURES]]),
            expected_predictions(train, known, {1, 2}, global_model),
        )


def test_the_fallback_survives_save_and_load(spark, tmp_path):
    model, train = fitted(spark)
    rows = new_rows()[["g", *FEATURES]]
    with pytest.warns(UserWarning):
        expected = model.predict(rows)
    for serializer in ("pickle", "skops"):
        model.save(tmp_path / serializer, serializer=serializer)
        # skops loads no code: the test's own estimator class must be trusted by name
        trusted = [f"{__name__}.FailsOnThirteenRows"] if serializer == "skops" else None
        loaded = GroupedEstimator.load(tmp_path / serializer, trusted=trusted)
        with pytest.warns(UserWarning, match="fallback model predicted 9 rows"):
            np.testing.assert_allclose(loaded.predict(rows), expected)


def test_fallback_settings_are_checked_before_any_job(spark):
    train = data()
    with pytest.raises(ValueError, match="unseen_groups='fallback' needs a fallback model"):
        GroupedEstimator(Ridge(), "g", unseen_groups="fallback").fit(
            train[["g", *FEATURES]], train["y"]
        )


def test_a_failing_fallback_model_is_named(spark):
    train = data(sizes=(6, 7))  # 13 rows in all: the fallback's fit fails
    with pytest.raises(GroupFitError, match="fallback model failed"):
        GroupedEstimator(Ridge(), "g", feature_cols=FEATURES, fallback=FailsOnThirteenRows()).fit(
            train[["g", *FEATURES]], train["y"]
        )
