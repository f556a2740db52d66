"""GroupedEstimator's fast paths (issue #12, point 5), each against a by-hand scikit-learn loop.

Fit: each task checks its partition once for what scikit-learn checks in every fit, and fits
every group on a slice of one matrix. Predict: linear group models are predicted in Spark SQL
from the ``intercept`` and ``coef`` columns of the model table; the rows the fallback model
predicts still go through Python.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from pyspark.errors import PySparkException
from sklearn.base import clone
from sklearn.datasets import make_regression
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, Ridge, SGDRegressor
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeRegressor

from spark_sklearn_bridge import GroupedEstimator, _linear
from spark_sklearn_bridge._linear import LINEAR_TYPES, linear_form
from spark_sklearn_bridge.grouped import _linear as grouped_linear
from spark_sklearn_bridge.grouped import _predict

FEATURES = ["f0", "f1", "f2"]


def rows(groups, n=30, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    frames = []
    for i, g in enumerate(groups):
        X = rng.normal(size=(n, 3)) * scale
        y = X @ [i + 1.0, -2.0, 0.5 * i] + rng.normal(scale=0.1, size=n) + i
        frames.append(pd.DataFrame(X, columns=FEATURES).assign(g=g, y=y))
    data = pd.concat(frames, ignore_index=True)
    return data.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def by_hand(estimator, data):
    return {g: clone(estimator).fit(d[FEATURES], d["y"]) for g, d in data.groupby("g")}


def no_python_rows(monkeypatch):
    """Fail if any prediction task would run Python (the SQL path needs none)."""

    def refuse(*args, **kwargs):
        raise AssertionError("the linear path ran a Python prediction task")

    monkeypatch.setattr(_predict, "map_in_pandas", refuse)


# ------------------------------------------------------------------ fit
def test_invalid_parameters_fail_every_group_with_sklearns_message(spark):
    """Parameter checks are skipped only after a group's fit has passed them."""
    data = rows(["a", "b", "c"])
    model = GroupedEstimator(Ridge(alpha=-1.0), "g", on_error="skip")
    model.fit(data[["g", *FEATURES]], data["y"])
    table = model.model_table_.toPandas()
    assert model.n_failed_groups_ == 3
    assert table["error"].str.contains("'alpha' parameter of Ridge must be").all()


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e200])
def test_unusual_values_keep_sklearns_own_checks(spark, bad):
    """A partition with a NaN, an infinity or a huge value is fitted with scikit-learn's
    per-fit checks: the same groups fail, with its messages, the others equal by hand."""
    data = rows(["a", "b", "c"])
    data.loc[data.index[data["g"] == "b"][0], "f1"] = bad
    model = GroupedEstimator(LinearRegression(), "g", label_col="y", on_error="skip")
    model.fit(spark.createDataFrame(data))
    table = model.model_table_.toPandas().set_index("g")
    for g, part in data.groupby("g"):
        try:
            expected = LinearRegression().fit(part[FEATURES], part["y"])
        except ValueError as error:
            assert table.loc[g, "status"] == "failed"
            assert str(error).splitlines()[0] in table.loc[g, "error"]
            continue
        assert table.loc[g, "status"] == "ok"
        got = model.get_group_model(g)
        np.testing.assert_allclose(got.coef_, expected.coef_, rtol=1e-9)
    assert (table["status"] == "failed").sum() == (0 if bad == 1e200 else 1)


@pytest.mark.parametrize(
    "base",
    [LinearRegression(copy_X=False), Ridge(copy_X=False), SGDRegressor(random_state=0)],
    ids=["linreg-in-place", "ridge-in-place", "sgd"],
)
def test_models_equal_by_hand_when_fits_write_into_their_input(spark, base):
    """Every group fits on a view of one matrix: estimators that centre their input in
    place (``copy_X=False``) must not disturb any other group."""
    data = rows(["a", "b", "c", "d"], n=40, seed=2)
    model = GroupedEstimator(base, "g", label_col="y").fit(spark.createDataFrame(data))
    for g, expected in by_hand(base, data).items():
        np.testing.assert_allclose(model.get_group_model(g).coef_, expected.coef_, rtol=1e-9)


def test_estimators_with_their_own_cloning_or_unpicklable_parameters(spark):
    data = rows(["a", "b"])
    frozen = FrozenEstimator(Ridge(alpha=3.0).fit(data[FEATURES], data["y"]))
    model = GroupedEstimator(frozen, "g").fit(data[["g", *FEATURES]], data["y"])
    np.testing.assert_allclose(
        model.predict(data[["g", *FEATURES]]), frozen.predict(data[FEATURES]), rtol=1e-12
    )
    double = FunctionTransformer(lambda X: 2 * X)  # std pickle cannot copy a lambda
    model = GroupedEstimator(double, "g").fit(data[["g", *FEATURES]])
    np.testing.assert_allclose(model.transform(data[["g", *FEATURES]]), 2 * data[FEATURES])


def test_shared_checks_are_used_only_where_they_hold():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from spark_sklearn_bridge.grouped._features import FeatureMatrix
    from spark_sklearn_bridge.grouped._fit import SharedChecks

    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]})
    y, ok = np.array([1.0, 2.0]), {"status": "ok"}

    def checks(estimator=None, data=frame, labels=y, fit_params=None, numpy=True):
        features = FeatureMatrix(data, ["a", "b"], numpy)
        return SharedChecks(estimator or Ridge(), features, labels, fit_params or {})

    plain = checks()
    assert plain.config() == {"assume_finite": True}
    plain.after({"status": "failed"})
    assert plain.config() == {"assume_finite": True}
    plain.after(ok)
    assert plain.config() == {"assume_finite": True, "skip_parameter_validation": True}
    pipeline = checks(make_pipeline(StandardScaler(), Ridge()), numpy=False)
    pipeline.after(ok)
    assert pipeline.config() == {}  # nested estimators: each fit checks its own parameters
    assert checks(data=frame.assign(a=[np.nan, 1.0])).config() == {}
    assert checks(data=frame.assign(a=[1e101, 1.0])).config() == {}
    assert checks(labels=np.array([np.inf, 1.0])).config() == {}
    assert checks(labels=np.array(["x", None], dtype=object)).config() == {}
    assert checks(labels=np.array(["x", "y"], dtype=object)).config() == {"assume_finite": True}
    assert checks(fit_params={"check_input": True}).config() == {}


# ------------------------------------------------------- linear form
def _fitted(cls):
    X, y = make_regression(n_samples=60, n_features=3, noise=1.0, random_state=0)
    X = pd.DataFrame(X, columns=FEATURES)
    kwargs = {"random_state": 0} if "random_state" in cls().get_params() else {}
    return cls(**kwargs).fit(X, y), X


@pytest.mark.parametrize("cls", sorted(LINEAR_TYPES, key=lambda c: c.__name__))
def test_linear_form_is_what_predict_computes(cls):
    """Fails if scikit-learn ever changes what ``predict`` computes for a listed type."""
    model, X = _fitted(cls)
    intercept, coef = linear_form(model)
    np.testing.assert_allclose(
        X.to_numpy() @ np.array(coef) + intercept, model.predict(X), rtol=1e-12, atol=1e-12
    )


def test_only_exact_float64_single_output_linear_models_have_a_form():
    class MyRidge(Ridge):
        def predict(self, X):
            return super().predict(X) + 1

    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    assert linear_form(MyRidge().fit(X, y)) == (None, None)
    assert linear_form(SGDRegressor(random_state=0).fit(X, y)) == (None, None)
    assert linear_form(DecisionTreeRegressor().fit(X, y)) == (None, None)
    assert linear_form(LinearRegression().fit(X, np.c_[y, y])) == (None, None)  # 2 outputs
    assert linear_form(Ridge().fit(X.astype(np.float32), y)) == (None, None)  # float32 math
    search = GridSearchCV(Ridge(), {"alpha": [0.1, 10.0]}, cv=3).fit(X, y)
    assert linear_form(search) == linear_form(search.best_estimator_) != (None, None)
    unrefitted = GridSearchCV(Ridge(), {"alpha": [0.1, 10.0]}, cv=3, refit=False).fit(X, y)
    assert linear_form(unrefitted) == (None, None)


def test_every_search_class_is_recognised_as_predicting_with_its_best_estimator():
    from inspect import getattr_static

    from sklearn.model_selection import RandomizedSearchCV

    from spark_sklearn_bridge import (
        SparkGridSearchCV,
        SparkHyperoptSearchCV,
        SparkRandomizedSearchCV,
    )

    for cls in (SparkGridSearchCV, SparkRandomizedSearchCV, SparkHyperoptSearchCV):
        assert getattr_static(cls, "predict") is _linear._SEARCH_PREDICT, cls
    assert getattr_static(RandomizedSearchCV, "predict") is _linear._SEARCH_PREDICT


# ------------------------------------------------------ SQL prediction
def test_linear_predictions_in_sql_equal_by_hand(spark, monkeypatch):
    data = rows(["a", "b", None], n=25)  # a null key is a group too
    data["f2"] = (data["f2"] * 10).round().astype("int64")  # an integer feature
    data = data.rename(columns={"f0": "a.b"})  # a dotted feature name
    features = ["a.b", "f1", "f2"]
    model = GroupedEstimator(Ridge(), "g", feature_cols=features, label_col="y")
    model.fit(spark.createDataFrame(data))
    table = model.model_table_.toPandas()
    expected = {}
    for g, part in data.groupby("g", dropna=False):
        reference = Ridge().fit(part[features], part["y"])
        key = None if pd.isna(g) else g
        expected[key] = reference
        row = table[table["g"].isna()] if key is None else table[table["g"] == key]
        assert row["intercept"].iat[0] == reference.intercept_
        assert list(row["coef"].iat[0]) == reference.coef_.tolist()

    no_python_rows(monkeypatch)
    new = data.assign(row=np.arange(len(data)))
    out = model.predict(spark.createDataFrame(new)).toPandas().sort_values("row")
    assert list(out.columns) == [*new.columns, "prediction"]
    want = np.array(
        [
            expected[None if pd.isna(g) else g].predict(new.loc[[i], features])[0]
            for i, g in zip(new.index, new["g"])
        ]
    )
    np.testing.assert_allclose(out["prediction"], want, rtol=1e-12, atol=1e-12)


def test_searches_and_non_linear_bases(spark, monkeypatch):
    data = rows(["a", "b"], n=30)
    grid = GridSearchCV(Ridge(), {"alpha": [0.01, 100.0]}, cv=3)
    tuned = GroupedEstimator(grid, "g", label_col="y").fit(spark.createDataFrame(data))
    tree = GroupedEstimator(DecisionTreeRegressor(max_depth=2), "g", label_col="y")
    tree.fit(spark.createDataFrame(data))
    assert tree.model_table_.toPandas()[["intercept", "coef"]].isna().all().all()
    assert not tree._table.all_linear() and tuned._table.all_linear()
    new = spark.createDataFrame(data.assign(row=np.arange(len(data))))
    tree_out = tree.predict(new).toPandas().sort_values("row")  # the per-group model path
    no_python_rows(monkeypatch)
    tuned_out = tuned.predict(new).toPandas().sort_values("row")
    for g, part in data.groupby("g"):
        at = (data["g"] == g).to_numpy()
        search = clone(grid).fit(part[FEATURES], part["y"])
        np.testing.assert_allclose(
            tuned_out["prediction"][at], search.predict(data[at][FEATURES]), rtol=1e-12
        )
        reference = DecisionTreeRegressor(max_depth=2).fit(part[FEATURES], part["y"])
        np.testing.assert_allclose(  # 1 ulp: sklearn's tree differs on numpy vs pandas
            tree_out["prediction"][at], reference.predict(data[at][FEATURES]), rtol=1e-12
        )


@pytest.mark.parametrize("unseen", ["fallback", "null"])
def test_failed_small_and_unseen_groups_on_the_linear_path(spark, unseen):
    train = rows(["ok1", "ok2", "broken", "small"], n=30, seed=5)
    train = train[(train["g"] != "small") | (train.index % 5 == 0)]  # 6 rows: below min_rows
    train.loc[train.index[train["g"] == "broken"][0], "f0"] = np.nan  # its fit fails
    fallback = DecisionTreeRegressor(max_depth=3, random_state=0)
    model = GroupedEstimator(
        Ridge(),
        "g",
        label_col="y",
        min_rows=10,
        on_error="skip",
        fallback=fallback,
        unseen_groups=unseen,
    ).fit(spark.createDataFrame(train))
    table = model.model_table_.toPandas().set_index("g")
    assert table.loc["broken", "status"] == "failed"
    assert table.loc["small", "status"] == "too_few_rows"

    new = rows(["ok1", "broken", "small", "new"], n=8, seed=6).assign(row=np.arange(32))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = model.predict(spark.createDataFrame(new)).toPandas().sort_values("row")
    messages = " ".join(str(w.message) for w in caught)
    fell_back = ["broken", "small"] + (["new"] if unseen == "fallback" else [])
    assert f"The fallback model predicted {8 * len(fell_back)} rows" in messages
    if unseen == "null":
        assert "8 rows in 1 groups have no fitted model" in messages

    global_model = clone(fallback).fit(train[FEATURES], train["y"])  # on every row
    own = Ridge().fit(*(lambda d: (d[FEATURES], d["y"]))(train[train["g"] == "ok1"]))
    for g in ["ok1", "broken", "small", "new"]:
        at = (new["g"] == g).to_numpy()
        got = out[at]
        if g == "ok1":
            want, source = own.predict(new[at][FEATURES]), "group"
        elif g in fell_back:
            want, source = global_model.predict(new[at][FEATURES]), "fallback"
        else:
            assert got["prediction"].isna().all() and got["model_source"].isna().all()
            continue
        np.testing.assert_allclose(got["prediction"], want, rtol=1e-12)
        assert (got["model_source"] == source).all()


def test_a_null_nan_or_infinite_feature_names_column_and_group(spark):
    data = rows(["a", "b"])
    model = GroupedEstimator(Ridge(), "g", label_col="y").fit(spark.createDataFrame(data))
    for bad in [np.nan, np.inf, None]:
        new = data.astype({"f1": object}) if bad is None else data.copy()
        new.loc[new.index[new["g"] == "b"][0], "f1"] = bad
        sdf = spark.createDataFrame(new.astype({"f1": float}))
        with pytest.raises(
            PySparkException, match=r"Feature column 'f1' .* group \{\"g\":\"b\"\}"
        ):
            model.predict(sdf).collect()


def test_coefficients_survive_save_refit_and_large_tables(spark, tmp_path, monkeypatch):
    data = rows(["a", "b", "c"])
    model = GroupedEstimator(Ridge(), "g", label_col="y").fit(spark.createDataFrame(data))
    model.save(tmp_path / "m")
    loaded = GroupedEstimator.load(tmp_path / "m")
    assert loaded._table.all_linear()
    update = rows(["b"], seed=9)
    model.refit_groups(spark.createDataFrame(update))
    table = model.model_table_.toPandas().set_index("g")
    assert list(table.loc["b", "coef"]) == by_hand(Ridge(), update)["b"].coef_.tolist()
    assert list(table.loc["a", "coef"]) == by_hand(Ridge(), data)["a"].coef_.tolist()

    monkeypatch.setattr(grouped_linear, "SHIP_LIMIT_BYTES", 0)  # a shuffled join instead
    new = spark.createDataFrame(data.assign(row=np.arange(len(data))))
    out = model.predict(new).toPandas().sort_values("row")
    models = {**by_hand(Ridge(), data), **by_hand(Ridge(), update)}
    for g, model_g in models.items():
        at = (data["g"] == g).to_numpy()
        np.testing.assert_allclose(
            out["prediction"][at], model_g.predict(data[at][FEATURES]), rtol=1e-12
        )


class _ChangesItsParameter(Ridge):
    """Breaks scikit-learn's estimator contract: ``clone`` refuses it."""

    def __init__(self, alpha=1.0):
        super().__init__(alpha=alpha * 2)


def test_an_estimator_that_clone_refuses_fails_each_group_with_the_reason(spark):
    data = rows(["a", "b"])
    model = GroupedEstimator(_ChangesItsParameter(), "g", label_col="y", on_error="skip")
    model.fit(spark.createDataFrame(data))
    table = model.model_table_.toPandas()
    assert model.n_failed_groups_ == 2
    assert table["error"].str.contains("Cannot clone object").all()


def stage_tasks(spark, action) -> dict:
    """The task counts of the stages of each job ``action()`` runs, by job id."""
    sc = spark.sparkContext
    group = f"stage-tasks-{np.random.default_rng().integers(1 << 30)}"
    sc.setJobGroup(group, "stage_tasks")
    try:
        action()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    tracker = sc.statusTracker()
    jobs = {j: tracker.getJobInfo(j).stageIds for j in tracker.getJobIdsForGroup(group)}
    infos = {j: [tracker.getStageInfo(s) for s in stages] for j, stages in jobs.items()}
    return {j: [i.numTasks for i in stages if i is not None] for j, stages in infos.items()}


@pytest.mark.parametrize("path", ["hash", "size", "pandas size", "distributed"])
def test_a_grouped_fit_shuffles_from_at_most_two_tasks_a_core(spark, path, monkeypatch):
    """An input of 40 small partitions is read in 4 tasks (local[2]) before each shuffle:
    the fit's, the fallback's, and predict's (not its unseen-group check's, the first of its
    jobs). Fails if Spark's optimizer drops the coalesce (``coalesce_for_shuffle``)."""
    from spark_sklearn_bridge.grouped import _table

    if path == "distributed":  # predict's other shuffle: model rows meet their groups
        monkeypatch.setattr(_table, "SHIP_LIMIT_BYTES", 0)
    data = rows(range(80), n=12)[["y", "g", *FEATURES]]  # the fit names its columns
    spark_data = spark.createDataFrame(data).repartition(40).cache()
    spark_data.count()
    tree = DecisionTreeRegressor(max_depth=2, random_state=0)
    model = GroupedEstimator(
        tree,
        "g",
        feature_cols=FEATURES,
        label_col="y",
        fallback="global",
        unseen_groups="fallback",
        n_partitions=4,
        placement="hash" if path in ("hash", "distributed") else "size",
        spark=spark,
    )
    if path == "pandas size":
        model.set_params(feature_cols=None, label_col=None)
        fit = lambda: model.fit(data[["g", *FEATURES]], data["y"])  # noqa: E731
    else:
        fit = lambda: model.fit(spark_data)  # noqa: E731
    assert max(max(tasks) for tasks in stage_tasks(spark, fit).values()) <= 4
    predict_jobs = stage_tasks(spark, lambda: model.predict(spark_data).count())
    # The last job: the prediction. A distributed table's 4 partitions of model rows are
    # read in the same stage as the input's rows.
    assert max(predict_jobs[max(predict_jobs)]) <= (8 if path == "distributed" else 4)
    # The same models and predictions as scikit-learn on each group's rows.
    predicted = model.predict(spark_data).toPandas().sort_values("f0")
    for g, expected in by_hand(tree, data).items():
        ours = predicted[predicted["g"] == g]
        np.testing.assert_allclose(ours["prediction"], expected.predict(ours[FEATURES]))
    spark_data.unpersist()


def test_size_placement_shuffles_a_small_input_from_one_task(spark, monkeypatch):
    """Counted rows decide how many tasks write the shuffle that places them
    (``CELLS_PER_MAP_TASK``): 960 rows in 40 partitions are written by one task, not by
    the four ``coalesce_for_shuffle`` leaves; the models are the same either way."""
    from spark_sklearn_bridge.grouped import _placement

    data = rows(range(80), n=12)[["y", "g", *FEATURES]]
    spark_data = spark.createDataFrame(data).repartition(40).cache()
    spark_data.count()
    tracker = spark.sparkContext.statusTracker()
    wide, models = {}, {}
    for cells in (_placement.CELLS_PER_MAP_TASK, 1):  # 1: a writer per partition
        monkeypatch.setattr(_placement, "CELLS_PER_MAP_TASK", cells)
        model = GroupedEstimator(
            Ridge(),
            "g",
            feature_cols=FEATURES,
            label_col="y",
            n_partitions=4,
            placement="size",
            spark=spark,
        )
        jobs = stage_tasks(spark, lambda: model.fit(spark_data))  # noqa: B023
        stages = {s for job in jobs for s in tracker.getJobInfo(job).stageIds}
        infos = [tracker.getStageInfo(s) for s in stages]
        # Stages of 4 tasks: the fit's; the shuffle's too (and the later jobs' listings of
        # it, skipped) when each partition writes it.
        wide[cells] = sum(info is not None and info.numTasks == 4 for info in infos)
        models[cells] = model
    default = list(wide)[0]
    assert wide[default] == 1 and wide[1] > 1
    for g, expected in by_hand(Ridge(), data).items():
        for model in models.values():
            np.testing.assert_allclose(model.get_group_model(g).coef_, expected.coef_, rtol=1e-10)
    spark_data.unpersist()
