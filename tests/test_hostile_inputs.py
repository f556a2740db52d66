"""Odd but legal input, and bad input, across the four paradigms.

Every case either gives scikit-learn's answer on the same data, or raises an error whose
message names the problem (column, group, parameter). Errors that can be known from the
schema or the parameters are raised before any Spark job: the tests count the jobs.
"""

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.utils._param_validation import InvalidParameterError

from spark_sklearn_bridge import (
    GroupedEstimator,
    SparkBatchPredictor,
    SparkGridSearchCV,
    SparkHyperoptSearchCV,
    SparkMLEstimator,
    SparkRandomizedSearchCV,
    predict_udf,
)
from spark_sklearn_bridge.exceptions import ColumnError, EmptyInputError, GroupFitError

RNG = np.random.default_rng(0)
X3 = RNG.normal(size=(40, 3))
Y = X3 @ [1.5, -2.0, 0.5] + 0.3


def frame(names=("f0", "f1", "f2"), label="y", group=None):
    data = pd.DataFrame(X3, columns=list(names)).assign(**{label: Y})
    if group is not None:
        data[group] = np.arange(len(data)) % 3
    return data


def sklearn_coef(names=("f0", "f1", "f2")):
    return LinearRegression().fit(pd.DataFrame(X3, columns=list(names)), Y).coef_


class JobCounter:
    """Counts Spark jobs started in the block (classic sessions)."""

    def __init__(self, spark):
        self.tracker = spark.sparkContext.statusTracker()

    def _last(self):
        return max(self.tracker.getJobIdsForGroup(None) or [-1])

    def __enter__(self):
        self.before = self._last()
        return self

    def __exit__(self, *exc):
        self.started = self._last() - self.before
        return False


def refused_before_any_job(spark, call, error, match):
    with JobCounter(spark) as jobs, pytest.raises(error, match=match):
        call()
    assert jobs.started == 0, f"{jobs.started} Spark jobs ran before the error"


# ------------------------------------------------------------------ names that work
DOTTED = ("a.b", "c d", "e`f")


def test_spark_ml_with_dotted_spaced_and_backticked_column_names(spark):
    data = spark.createDataFrame(frame(DOTTED, label="the.label"))
    model = SparkMLEstimator(LinearRegression(), label_col="the.label").fit(data)
    np.testing.assert_allclose(model.coef_, sklearn_coef(), rtol=1e-9)
    out = model.predict(data).toPandas()
    assert list(out.columns) == [*DOTTED, "the.label", "prediction"]
    np.testing.assert_allclose(out["prediction"], LinearRegression().fit(X3, Y).predict(X3))


@pytest.mark.parametrize("name", ["prediction", "probability", "rawPrediction", "features"])
def test_spark_ml_input_columns_named_like_spark_ml_outputs(spark, name):
    data = spark.createDataFrame(frame((name, "f1", "f2")))
    model = SparkMLEstimator(LinearRegression(), label_col="y", prediction_col="out").fit(data)
    np.testing.assert_allclose(model.coef_, sklearn_coef(), rtol=1e-9)
    out = model.predict(data).toPandas()
    np.testing.assert_allclose(out["out"], LinearRegression().fit(X3, Y).predict(X3))
    np.testing.assert_allclose(out[name], X3[:, 0])  # the user's column is untouched


@pytest.mark.parametrize("group", ["status", "model", "error", "classes", "n_rows"])
def test_group_columns_named_like_model_table_columns_are_refused(spark, group):
    data = spark.createDataFrame(frame(group=group))
    refused_before_any_job(
        spark,
        lambda: GroupedEstimator(LinearRegression(), group, label_col="y").fit(data),
        ColumnError,
        rf"Group columns \['{group}'\] have the names of the model table's own columns",
    )


@pytest.mark.parametrize("group", ["g.h", "store id", "fit_seconds_", "prediction"])
def test_grouped_with_ordinary_group_column_names(spark, group):
    data = frame(group=group)
    model = GroupedEstimator(LinearRegression(), group, label_col="y")
    model.fit(spark.createDataFrame(data))
    for key, rows in data.groupby(group):
        expected = LinearRegression().fit(rows[["f0", "f1", "f2"]], rows["y"]).coef_
        np.testing.assert_allclose(model.get_group_model(key).coef_, expected)
    table = model.model_table_.toPandas()
    assert group in table.columns and len(table) == 3


def test_grouped_with_dotted_feature_group_and_label_names(spark):
    data = frame(DOTTED, label="y.y", group="g.g").assign(**{"row.id": np.arange(40)})
    model = GroupedEstimator(
        LinearRegression(), "g.g", feature_cols=list(DOTTED), label_col="y.y"
    ).fit(spark.createDataFrame(data))
    out = model.predict(spark.createDataFrame(data)).toPandas().sort_values("row.id")
    expected = np.empty(len(data))
    for _, rows in data.groupby("g.g"):
        expected[rows.index] = (
            LinearRegression().fit(rows[list(DOTTED)], rows["y.y"]).predict(rows[list(DOTTED)])
        )
    np.testing.assert_allclose(out["prediction"], expected)
    np.testing.assert_allclose(model.predict(data), expected)  # pandas input too


def test_batch_predictor_with_dotted_names(spark):
    data = frame(DOTTED)
    model = LinearRegression().fit(data[list(DOTTED)], data["y"])
    out = SparkBatchPredictor(model, output_col="p.q").predict(spark.createDataFrame(data))
    np.testing.assert_allclose(out.toPandas()["p.q"], model.predict(data[list(DOTTED)]))


def test_searches_on_spark_input_with_dotted_names(spark):
    data = frame(DOTTED, label="y.y")
    grid = {"alpha": [0.1, 1.0]}
    ours = SparkGridSearchCV(Ridge(), grid, cv=KFold(3), label_col="y.y")
    ours.fit(spark.createDataFrame(data))
    theirs = GridSearchCV(Ridge(), grid, cv=KFold(3)).fit(data[list(DOTTED)], data["y.y"])
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )
    assert list(ours.feature_names_in_) == list(DOTTED)


def test_group_keys_mixing_types_are_refused_before_they_merge(spark):
    data = pd.DataFrame({"g": [0, "0", 0, "0"], "x": [1.0, 2, 3, 4]})
    refused_before_any_job(
        spark,
        lambda: GroupedEstimator(LinearRegression(), "g").fit(data, [1.0, 2, 3, 4]),
        ColumnError,
        r"group column 'g' mixes value types \(int, str\)",
    )


def test_null_and_nan_group_keys_form_one_null_group(spark):
    data = pd.DataFrame({"g": [None, np.nan, "a", "a"], "x": [1.0, 2, 3, 4]})
    model = GroupedEstimator(LinearRegression(), "g").fit(data, [1.0, 2, 3, 4])
    assert model.n_groups_ == 2
    np.testing.assert_allclose(model.predict(data), [1.0, 2, 3, 4])


# ------------------------------------------------------------------ refused, by name
RESERVED = "__ssb_label__"


@pytest.mark.parametrize(
    "make",
    [
        lambda: SparkMLEstimator(LinearRegression()).fit,
        lambda: GroupedEstimator(LinearRegression(), "g", label_col="label").fit,
        lambda: SparkBatchPredictor(LinearRegression().fit(X3, Y)).predict,
        lambda: SparkGridSearchCV(Ridge(), {"alpha": [1.0]}, label_col="label").fit,
    ],
    ids=["spark_ml", "grouped", "batch", "search"],
)
def test_reserved_column_names_are_refused_by_name(spark, make):
    data = frame(("f0", "f1", RESERVED), label="label", group="g")
    refused_before_any_job(
        spark,
        lambda: make()(spark.createDataFrame(data)),
        ColumnError,
        re.escape(f"['{RESERVED}']") + ".*reserved",
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: SparkMLEstimator(LinearRegression()).fit,
        lambda: GroupedEstimator(LinearRegression(), "g", label_col="label").fit,
        lambda: SparkBatchPredictor(LinearRegression().fit(X3, Y)).predict,
        lambda: SparkRandomizedSearchCV(Ridge(), {"alpha": [1.0]}, n_iter=1).fit,
    ],
    ids=["spark_ml", "grouped", "batch", "search"],
)
def test_duplicate_column_names_are_refused_by_name(spark, make):
    data = spark.createDataFrame(frame(label="label", group="g")).select(
        "f0", "f1", "f2", "label", "g", "f1"
    )
    refused_before_any_job(
        spark, lambda: make()(data), ColumnError, r"more than one column named \['f1'\]"
    )


def test_pandas_duplicate_column_names_are_refused(spark):
    data = pd.concat([frame(group="g"), frame()[["f0"]]], axis=1)
    refused_before_any_job(
        spark,
        lambda: GroupedEstimator(LinearRegression(), "g").fit(data.drop(columns="y"), Y),
        ColumnError,
        r"more than one column named \['f0'\]",
    )


@pytest.mark.parametrize("bad", [np.nan, None, np.inf])
def test_spark_ml_refuses_missing_or_infinite_features_naming_the_column(spark, bad):
    data = frame()
    data.loc[3, "f1"] = bad
    with pytest.raises(ValueError, match=r"feature column 'f1' has 1 null, NaN or infinite"):
        SparkMLEstimator(LinearRegression(), label_col="y").fit(spark.createDataFrame(data))


def test_spark_ml_refuses_null_labels_naming_the_column(spark):
    data = frame()
    data["y"] = data["y"].astype(object)
    data.loc[5, "y"] = None
    with pytest.raises(ValueError, match=r"label column 'y' has 1 null"):
        SparkMLEstimator(LinearRegression(), label_col="y").fit(
            spark.createDataFrame(data, "f0 double, f1 double, f2 double, y double")
        )


def test_spark_ml_refuses_nan_in_local_input_like_sklearn(spark):
    X = X3.copy()
    X[0, 0] = np.nan
    refused_before_any_job(
        spark, lambda: SparkMLEstimator(LinearRegression()).fit(X, Y), ValueError, "NaN"
    )


def test_spark_ml_refuses_an_empty_dataframe(spark):
    empty = spark.createDataFrame([], "f0 double, f1 double, y double")
    with pytest.raises(EmptyInputError, match="no rows"):
        SparkMLEstimator(LinearRegression(), label_col="y").fit(empty)


def test_spark_ml_unknown_label_column_is_named_before_any_job(spark):
    data = spark.createDataFrame(frame())
    refused_before_any_job(
        spark,
        lambda: SparkMLEstimator(LinearRegression(), label_col="target").fit(data),
        ColumnError,
        r"label_col names columns that are not in the data: \['target'\]",
    )


def test_prediction_column_that_exists_is_not_overwritten(spark):
    data = spark.createDataFrame(frame().assign(prediction=1.0))
    model = SparkMLEstimator(LinearRegression(), feature_cols=["f0", "f1"], label_col="y")
    model.fit(data)
    refused_before_any_job(spark, lambda: model.predict(data), ColumnError, "'prediction'")
    grouped = GroupedEstimator(
        LinearRegression(), "g", feature_cols=["f0", "f1"], label_col="label"
    )
    data_g = spark.createDataFrame(frame(group="g").assign(prediction=1.0))
    grouped.fit(data_g.withColumnRenamed("y", "label").drop("prediction"), None)
    refused_before_any_job(spark, lambda: grouped.predict(data_g), ColumnError, "'prediction'")


@pytest.mark.parametrize(
    "param, value",
    [("batch_size", -5), ("batch_size", "100"), ("batch_size", 2.5), ("output_col", 3)],
)
def test_batch_predictor_parameters_are_checked_before_any_job(spark, param, value):
    model = LinearRegression().fit(X3, Y)
    data = spark.createDataFrame(frame())
    predictor = SparkBatchPredictor(model, **{param: value})
    refused_before_any_job(
        spark, lambda: predictor.predict(data), InvalidParameterError, f"'{param}'"
    )


@pytest.mark.parametrize("value", [-5, "100", 2.5, True])
def test_predict_udf_batch_size_is_checked(spark, value):
    with pytest.raises((ValueError, TypeError), match="batch_size"):
        predict_udf(LinearRegression().fit(X3, Y), batch_size=value)


@pytest.mark.parametrize(
    "space, match",
    [
        ([("alpha", [0.1, 1.0])], "search_space must be a dict"),
        ({"alpha": "uniform(0, 1)"}, "'alpha'"),
        ({"alpha": []}, "'alpha'"),
    ],
)
def test_hyperopt_spaces_are_checked_before_any_job(spark, space, match):
    search = SparkHyperoptSearchCV(Ridge(), space, max_evals=2, cv=3)
    data = spark.createDataFrame(frame())
    refused_before_any_job(spark, lambda: search.fit(data), (TypeError, ValueError), match)


@pytest.mark.parametrize(
    "make, param",
    [
        (lambda: GroupedEstimator(Ridge(), "g", group_timeout=0), "group_timeout"),
        (lambda: GroupedEstimator(Ridge(), "g", min_rows=0), "min_rows"),
        (lambda: GroupedEstimator(Ridge(), "g", on_error="ignore"), "on_error"),
        (lambda: SparkGridSearchCV(Ridge(), {"alpha": [1]}, candidate_timeout=-1), "candidate"),
        (lambda: SparkGridSearchCV(Ridge(), {"alpha": [1]}, parallelism=0), "parallelism"),
        (lambda: SparkMLEstimator(Ridge(), label_col=3), "label_col"),
    ],
)
def test_bad_parameters_are_named_before_any_job(spark, make, param):
    data = spark.createDataFrame(frame(group="g"))
    refused_before_any_job(spark, lambda: make().fit(data), InvalidParameterError, param)


def test_group_column_that_is_also_a_feature_is_refused(spark):
    data = spark.createDataFrame(frame(group="g"))
    refused_before_any_job(
        spark,
        lambda: GroupedEstimator(Ridge(), "g", feature_cols=["g", "f0"], label_col="y").fit(data),
        ColumnError,
        r"\['g'\] are also used as group_cols",
    )


def test_an_unseen_group_is_named(spark):
    data = frame(group="g")
    model = GroupedEstimator(Ridge(), "g").fit(data.drop(columns="y"), data["y"])
    new = data.drop(columns="y").assign(g=7)
    with pytest.raises(Exception, match=r"7"):
        model.predict(new)


def test_a_failing_group_is_named_with_its_traceback(spark):
    data = frame(group="g").assign(label=lambda d: ((d.index % 2 == 0) | (d["g"] == 1)) * 1)
    with pytest.raises(GroupFitError, match=r"(?s)group \{'g': 1\}.*needs samples of at least 2"):
        GroupedEstimator(LogisticRegression(), "g", feature_cols=["f0", "f1"]).fit(
            data.drop(columns=["y", "label"]), data["label"]
        )


def test_predict_before_fit_says_not_fitted(spark):
    with pytest.raises(NotFittedError):
        GroupedEstimator(Ridge(), "g").predict(frame(group="g"))


def test_grouped_estimator_inside_a_search_fits_locally_in_each_task(spark):
    data = frame(group="g")
    X, y = data.drop(columns="y"), data["y"]
    grid = {"estimator__alpha": [0.1, 10.0]}
    grouped = GroupedEstimator(Ridge(), "g")
    ours = SparkGridSearchCV(grouped, grid, cv=KFold(2)).fit(X, y)
    theirs = GridSearchCV(grouped, grid, cv=KFold(2)).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )
    assert not np.isnan(ours.cv_results_["mean_test_score"]).any()
