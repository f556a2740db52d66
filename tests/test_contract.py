"""The estimator contract every public class promises, on the cases users hit.

Each class is built WITH an explicit ``spark=`` session (the break that shipped because no
test passed one), cloned, deep-copied, pickled, fitted and used inside scikit-learn's own
``cross_val_score`` / ``Pipeline``; every result is compared with plain scikit-learn.
"""

import copy
import datetime
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.stats import loguniform
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.cluster import KMeans
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge, SGDRegressor
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from spark_sklearn_bridge import (
    GroupedEstimator,
    SparkBatchPredictor,
    SparkGridSearchCV,
    SparkHalvingGridSearchCV,
    SparkHalvingRandomSearchCV,
    SparkHyperoptSearchCV,
    SparkIncrementalEstimator,
    SparkMLEstimator,
    SparkRandomizedSearchCV,
    predict_udf,
)
from spark_sklearn_bridge.exceptions import (
    ColumnError,
    EmptyInputError,
    GroupFitError,
)


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X.iloc[:200].reset_index(drop=True), y.to_numpy()[:200]


@pytest.fixture(scope="module")
def grouped_data(diabetes):
    X, y = diabetes
    return X.assign(store=(X["sex"] > 0).astype(int)), y


def _estimators(spark):
    """Every public class, each built with the session."""
    return [
        GroupedEstimator(Ridge(), "store", spark=spark),
        SparkBatchPredictor(Ridge(), spark=spark),
        SparkMLEstimator(Ridge(), spark=spark),
        # One batch in the DataFrame's order: one partial_fit call, which plain scikit-learn
        # can make too (_OnePartialFit).
        SparkIncrementalEstimator(SGDRegressor(random_state=0), shuffle=False, spark=spark),
        SparkGridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=2, spark=spark),
        SparkRandomizedSearchCV(
            Ridge(), {"alpha": [0.1, 1.0, 10.0]}, n_iter=2, cv=2, random_state=0, spark=spark
        ),
        SparkHyperoptSearchCV(
            Ridge(), {"alpha": [0.1, 1.0]}, max_evals=2, cv=2, random_state=0, spark=spark
        ),
        SparkHalvingGridSearchCV(
            Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=2, random_state=0, spark=spark
        ),
        SparkHalvingRandomSearchCV(
            Ridge(), {"alpha": loguniform(0.1, 10.0)}, cv=2, random_state=0, spark=spark
        ),
    ]


def _names(estimators):
    return [type(e).__name__ for e in estimators]


@pytest.mark.parametrize("index", range(9), ids=_names(_estimators(None)))
def test_explicit_session_clone_copy_pickle(spark, index):
    estimator = _estimators(spark)[index]
    cloned = clone(estimator)
    assert cloned.spark is spark  # shared, never copied
    assert cloned.get_params()["estimator"] is not estimator.estimator
    assert copy.deepcopy(estimator).spark is spark
    restored = pickle.loads(pickle.dumps(estimator))
    assert restored.spark is None  # a pickle never holds a live session
    assert type(restored) is type(estimator)
    assert clone(make_pipeline(estimator)).steps[-1][1].spark is spark


@pytest.mark.parametrize("index", range(9), ids=_names(_estimators(None)))
def test_explicit_session_fit_and_cross_val_score_equal_sklearn(spark, grouped_data, index):
    X, y = grouped_data
    estimator = _estimators(spark)[index]
    cv = KFold(2)
    if isinstance(estimator, GroupedEstimator):
        X_in = X[["store", "bmi", "bp", "s5"]]
        ours = cross_val_score(estimator, X_in, y, cv=cv)
        expected = []
        for train, test in cv.split(X_in):
            prediction = np.empty(len(test))
            for key in (0, 1):
                rows_train = train[X_in["store"].to_numpy()[train] == key]
                rows_test = test[X_in["store"].to_numpy()[test] == key]
                model = Ridge().fit(X_in.iloc[rows_train][["bmi", "bp", "s5"]], y[rows_train])
                prediction[np.isin(test, rows_test)] = model.predict(
                    X_in.iloc[rows_test][["bmi", "bp", "s5"]]
                )
            from sklearn.metrics import r2_score

            expected.append(r2_score(y[test], prediction))
        np.testing.assert_allclose(ours, expected, rtol=1e-10)
        fitted = clone(estimator).fit(X_in, y)
        check_is_fitted(fitted)
        return
    X_in = X[["bmi", "bp", "s5"]]
    ours = cross_val_score(estimator, X_in, y, cv=cv)
    expected = [
        _sklearn_counterpart(clone(estimator).fit(X_in.iloc[train], y[train]))
        .fit(X_in.iloc[train], y[train])
        .score(X_in.iloc[test], y[test])
        for train, test in cv.split(X_in)
    ]
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
    pipe = make_pipeline(StandardScaler(), clone(estimator)).fit(X_in, y)
    scaled = StandardScaler().fit_transform(X_in)
    reference = make_pipeline(
        StandardScaler(), _sklearn_counterpart(clone(estimator).fit(scaled, y))
    ).fit(X_in, y)
    np.testing.assert_allclose(pipe.predict(X_in), reference.predict(X_in), rtol=1e-6)


class _OnePartialFit(RegressorMixin, BaseEstimator):
    """A regressor trained by one partial_fit call on all of its data."""

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y):
        self.estimator_ = clone(self.estimator).partial_fit(X, y)
        return self

    def predict(self, X):
        return self.estimator_.predict(X)


def _sklearn_counterpart(fitted):
    """The plain scikit-learn estimator that must give the same results as ``fitted``."""
    from sklearn.model_selection import RandomizedSearchCV

    params = fitted.get_params(deep=False)
    if isinstance(fitted, SparkIncrementalEstimator):
        return _OnePartialFit(clone(params["estimator"]))
    if isinstance(fitted, SparkGridSearchCV):
        return GridSearchCV(Ridge(), params["param_grid"], cv=params["cv"])
    if isinstance(fitted, SparkRandomizedSearchCV):
        keys = ("param_distributions", "n_iter", "cv", "random_state")
        return RandomizedSearchCV(Ridge(), **{k: params[k] for k in keys})
    if isinstance(fitted, SparkHyperoptSearchCV):  # no scikit-learn twin: its refit
        return Ridge(**fitted.best_params_)
    if isinstance(fitted, (SparkHalvingGridSearchCV, SparkHalvingRandomSearchCV)):
        from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV

        twin = {
            SparkHalvingGridSearchCV: HalvingGridSearchCV,
            SparkHalvingRandomSearchCV: HalvingRandomSearchCV,
        }[type(fitted)]
        ours = ("spark", "parallelism", "feature_cols", "label_col", "mlflow", "progress")
        ours += ("candidate_timeout", "checkpoint", "task_cpus", "pre_dispatch")
        return twin(**{k: v for k, v in params.items() if k not in ours})
    return Ridge()


def test_search_with_session_inside_cross_val_score_matches_sklearn(spark):
    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.1, 10.0]}
    ours = cross_val_score(SparkGridSearchCV(SVC(), grid, cv=3, spark=spark), X, y, cv=3)
    theirs = cross_val_score(GridSearchCV(SVC(), grid, cv=3), X, y, cv=3)
    np.testing.assert_allclose(ours, theirs)


# ------------------------------------------------------------------ empty input
def test_empty_input_is_refused_by_every_paradigm(spark, grouped_data):
    X, y = grouped_data
    sdf = spark.createDataFrame(X.assign(y=y))
    empty = sdf.limit(0)
    features = ["bmi", "bp"]
    with pytest.raises(EmptyInputError, match="no rows"):
        GroupedEstimator(Ridge(), "store", feature_cols=features, label_col="y").fit(empty)
    with pytest.raises(EmptyInputError, match="no rows"):
        GroupedEstimator(Ridge(), "store").fit(X.iloc[:0][["store", *features]], y[:0])
    with pytest.raises(EmptyInputError, match="no rows"):
        SparkGridSearchCV(Ridge(), {"alpha": [1.0]}, feature_cols=features, label_col="y").fit(
            empty
        )
    with pytest.raises(EmptyInputError, match="no rows"):
        SparkGridSearchCV(Ridge(), {"alpha": [1.0]}).fit(X.iloc[:0][features], y[:0])
    with pytest.raises(EmptyInputError, match="no rows"):
        SparkMLEstimator(Ridge(), feature_cols=features, label_col="y").fit(empty)
    with pytest.raises(EmptyInputError, match="no rows"):
        SparkMLEstimator(Ridge()).fit(X.iloc[:0][features], y[:0])
    with pytest.raises(EmptyInputError, match="no rows"):
        SparkBatchPredictor(Ridge(), feature_cols=features, label_col="y").fit(empty)


# ------------------------------------------------------------- string features
def test_string_features_for_a_numbers_only_model_are_named_before_any_job(spark, diabetes):
    X, y = diabetes
    data = X[["bmi", "bp"]].assign(
        store=np.arange(len(X)) % 2, island=np.where(X["sex"] > 0, "Biscoe", "Dream"), y=y
    )
    sdf = spark.createDataFrame(data)
    message = r"\['island'\] are not numeric \(island=string\).*OneHotEncoder"
    with pytest.raises(ColumnError, match=message):
        GroupedEstimator(Ridge(), "store", feature_cols=["bmi", "island"], label_col="y").fit(sdf)
    with pytest.raises(ColumnError, match=r"\['island'\] are not numeric \(island=object\)"):
        GroupedEstimator(Ridge(), "store", feature_cols=["bmi", "island"]).fit(
            data[["store", "bmi", "island"]], y
        )
    with pytest.raises(ColumnError, match=message):
        SparkGridSearchCV(Ridge(), {"alpha": [1.0]}, label_col="y").fit(sdf.drop("store"))
    with pytest.raises(ColumnError, match=r"\['island'\] are neither numeric.*island=string"):
        SparkMLEstimator(Ridge(), feature_cols=["bmi", "island"], label_col="y").fit(sdf)


# -------------------------------------------------------- fitted / methods / score
def test_a_wrapped_fitted_model_counts_as_fitted(diabetes):
    X, y = diabetes
    check_is_fitted(SparkBatchPredictor(Ridge().fit(X, y)))
    with pytest.raises(NotFittedError):
        check_is_fitted(SparkBatchPredictor(Ridge()))
    check_is_fitted(SparkBatchPredictor(Ridge()).fit(X, y))


def test_methods_exist_exactly_when_they_make_sense(spark, diabetes):
    X, y = diabetes
    assert not hasattr(SparkMLEstimator(Ridge()), "predict_proba")
    assert not hasattr(SparkMLEstimator(Ridge()), "transform")
    assert hasattr(SparkMLEstimator(LogisticRegression()), "predict_proba")
    assert hasattr(SparkMLEstimator(StandardScaler()), "transform")
    assert not hasattr(SparkMLEstimator(StandardScaler()), "predict")
    assert not hasattr(SparkMLEstimator(KMeans(2)), "score")
    assert not hasattr(GroupedEstimator(KMeans(2), "store"), "score")
    assert not hasattr(GroupedEstimator(Ridge(), "store"), "predict_proba")
    assert not hasattr(SparkBatchPredictor(StandardScaler()), "predict")
    assert not hasattr(SparkBatchPredictor(StandardScaler()), "score")
    # score follows the estimator type: R^2 for regressors, as scikit-learn's own
    model = SparkMLEstimator(Ridge()).fit(X, y)
    assert model.score(X, y) == pytest.approx(Ridge().fit(X, y).score(X, y), rel=1e-6)
    ours = cross_val_score(SparkMLEstimator(Ridge()), X, y, cv=2)  # no scoring: uses score
    np.testing.assert_allclose(ours, cross_val_score(Ridge(), X, y, cv=2), rtol=1e-6)


def test_classifier_score_is_accuracy(spark):
    X, y = load_iris(return_X_y=True, as_frame=True)
    X = X.assign(g=np.arange(len(X)) % 2)
    model = GroupedEstimator(LogisticRegression(max_iter=1000), "g").fit(X, y)
    from sklearn.metrics import accuracy_score

    assert model.score(X, y) == pytest.approx(accuracy_score(y, model.predict(X)))


# ------------------------------------------------------------ failures stay failures
def test_pickling_a_search_with_a_one_shot_cv_raises_instead_of_changing_it():
    search = SparkGridSearchCV(Ridge(), {"alpha": [1.0]}, cv=(split for split in []))
    with pytest.raises(TypeError, match="generator"):
        pickle.dumps(search)


class _FailsAbove(Ridge):
    """A Ridge whose fit fails for alpha above 5 (module level: picklable by reference)."""

    def fit(self, X, y, sample_weight=None):
        if self.alpha > 5:
            raise ValueError("alpha too large")
        return super().fit(X, y, sample_weight=sample_weight)


class _FailsOnSmallFits(Ridge):
    """A Ridge whose fit fails for alpha above 5 on fewer than 100 rows."""

    def fit(self, X, y, sample_weight=None):
        if self.alpha > 5 and len(X) < 100:
            raise ValueError("alpha too large for few rows")
        return super().fit(X, y, sample_weight=sample_weight)


def test_spark_trials_objective_reports_a_failed_fit_as_a_failed_trial(diabetes):
    from hyperopt import STATUS_FAIL, STATUS_OK

    from spark_sklearn_bridge.search._hyperopt import _SparkTrialsObjective

    X, y = diabetes
    rows = np.arange(len(X))
    cv = [(rows[:150], rows[150:]), (rows[150:], rows[:150])]  # one small training fold

    class Backend:  # what a running search holds: SearchBackend.fit_data
        fit_data = (X, y, {})

    search = SparkHyperoptSearchCV(_FailsOnSmallFits(), {"alpha": [1.0, 10.0]}, cv=cv)
    search._backend = Backend()
    objective = _SparkTrialsObjective(search, "score")
    with pytest.warns(Warning, match="1 fits failed out of a total of 2"):
        failed = objective({"alpha": 10.0})  # mean test score NaN: was reported as ok
    assert failed["status"] == STATUS_FAIL
    ok = objective({"alpha": 1.0})
    assert ok["status"] == STATUS_OK and np.isfinite(ok["loss"])


def test_a_failed_grouped_fit_leaves_the_estimator_unfitted(spark, grouped_data):
    X, y = grouped_data
    X_in = X[["store", "bmi"]]
    model = GroupedEstimator(Ridge(), "store").fit(X_in, y)
    model.set_params(estimator=_FailsAbove(alpha=10.0))
    with pytest.raises(GroupFitError, match="alpha too large"):
        model.fit(X_in, y)
    with pytest.raises(NotFittedError):
        model.predict(X_in)
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


# ---------------------------------------------------- strings, booleans, dates, nulls
@pytest.fixture(scope="module")
def mixed():
    """Penguin-like rows: strings with nulls, booleans, dates and NaN beside numbers."""
    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame(
        {
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], n).astype(object),
            "sex": rng.choice(["male", "female", None], n),
            "adult": rng.random(n) > 0.3,
            "day": [datetime.date(2024, 1, 1 + i % 3) for i in range(n)],
            "mass": rng.normal(4000, 500, n),
            "flipper": np.where(rng.random(n) < 0.1, np.nan, rng.normal(200, 10, n)),
        }
    )
    y = (frame["mass"] + 300 * (frame["island"] == "Dream") > 4100).astype(int).to_numpy()
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["island", "sex", "day"]),
        (SimpleImputer(), ["flipper"]),
        remainder="passthrough",
    )
    model = make_pipeline(encode, StandardScaler(), LogisticRegression(max_iter=1000))
    return frame, y, model


def _spark_mixed(spark, frame, y=None):
    data = frame.reset_index(names="row")
    if y is not None:
        data = data.assign(label=y)
    return spark.createDataFrame(data)


def test_mixed_types_reach_the_model_in_batch_prediction(spark, mixed):
    frame, y, model = mixed
    fitted = clone(model).fit(frame, y)
    sdf = _spark_mixed(spark, frame)
    out = SparkBatchPredictor(fitted).predict_proba(sdf).toPandas().sort_values("row")
    np.testing.assert_allclose(np.vstack(out["prediction"]), fitted.predict_proba(frame))
    labels = SparkBatchPredictor(fitted).predict(sdf).toPandas().sort_values("row")
    np.testing.assert_array_equal(labels["prediction"], fitted.predict(frame))
    udf = predict_udf(fitted)  # failed with "could not convert string to float"
    selected = sdf.select("row", udf(*frame.columns).alias("p")).toPandas().sort_values("row")
    np.testing.assert_array_equal(selected["p"], fitted.predict(frame))


def test_mixed_types_reach_the_model_in_search_and_groups(spark, mixed):
    frame, y, model = mixed
    sdf = _spark_mixed(spark, frame, y)
    grid = {"logisticregression__C": [0.1, 1.0]}
    features = list(frame.columns)
    ours = SparkGridSearchCV(model, grid, cv=3, feature_cols=features, label_col="label")
    theirs = GridSearchCV(model, grid, cv=3).fit(frame, y)
    ours.fit(sdf)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )
    on_spark = GroupedEstimator(
        model, "adult", feature_cols=[c for c in features if c != "adult"], label_col="label"
    ).fit(sdf)
    for key, rows in frame.groupby("adult").groups.items():
        part = frame.loc[rows]
        reference = clone(model).fit(part.drop(columns="adult"), y[rows])
        np.testing.assert_allclose(
            on_spark.get_group_model(key).predict_proba(part.drop(columns="adult")),
            reference.predict_proba(part.drop(columns="adult")),
        )
    scored = on_spark.predict(sdf).toPandas().sort_values("row")
    np.testing.assert_array_equal(scored["prediction"], on_spark.predict(frame.loc[scored["row"]]))


# ---------------------------------------------------------------- stopping rules
def test_logistic_regression_stops_where_scikit_learn_would(spark):
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = SparkMLEstimator(LogisticRegression(max_iter=5)).fit(X, y)
    assert model.spark_model_.stages[-1].summary.totalIterations <= 5


def test_bad_search_parameters_fail_before_spark_input_is_collected(spark, diabetes):
    X, y = diabetes
    sdf = spark.createDataFrame(X.assign(y=y))
    collected = []
    original = type(sdf).toPandas
    try:
        type(sdf).toPandas = lambda self: collected.append(1) or original(self)
        with pytest.raises(ValueError, match="'parallelism' parameter of SparkGridSearchCV"):
            SparkGridSearchCV(Ridge(), {"alpha": [1.0]}, parallelism=0, label_col="y").fit(sdf)
    finally:
        type(sdf).toPandas = original
    assert not collected
