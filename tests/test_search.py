import mlflow
import numpy as np
import pytest
from hyperopt import hp
from hyperopt.early_stop import no_progress_loss
from scipy.stats import expon, loguniform, randint, uniform
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    RandomizedSearchCV,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from spark_sklearn_bridge import (
    SparkGridSearchCV,
    SparkHyperoptSearchCV,
    SparkRandomizedSearchCV,
)
from spark_sklearn_bridge.search import to_hyperopt_space

TIME_KEYS = ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time")


def assert_same_cv_results(ours, theirs):
    assert set(ours) == set(theirs)
    for key in ours:
        if key in TIME_KEYS:
            assert np.shape(ours[key]) == np.shape(theirs[key])
            continue
        if key == "params":
            assert ours[key] == theirs[key]
        elif np.asarray(theirs[key]).dtype.kind in "fc":
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-12, err_msg=key)
        else:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_grid_search_equals_sklearn_multimetric_and_train_scores(spark, iris):
    X, y = iris
    grid = {"C": [0.1, 1, 10], "gamma": ["scale", 0.1]}
    kwargs = dict(
        scoring=["accuracy", "f1_macro"], refit="f1_macro", cv=4, return_train_score=True
    )
    ours = SparkGridSearchCV(SVC(), grid, **kwargs).fit(X, y)
    theirs = GridSearchCV(SVC(), grid, **kwargs).fit(X, y)
    assert_same_cv_results(ours.cv_results_, theirs.cv_results_)
    for attr in ("best_params_", "best_index_", "best_score_", "n_splits_", "multimetric_"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.refit_time_ > 0 and set(ours.scorer_) == set(theirs.scorer_)
    assert ours.n_spark_jobs_ == 1  # 24 fits, one Spark job


def test_randomized_search_draws_sklearns_candidates(spark):
    X, y = load_diabetes(return_X_y=True)
    space = {"alpha": loguniform(1e-3, 1e2), "fit_intercept": [True, False]}
    ours = SparkRandomizedSearchCV(Ridge(), space, n_iter=7, random_state=3, cv=3).fit(X, y)
    theirs = RandomizedSearchCV(Ridge(), space, n_iter=7, random_state=3, cv=3).fit(X, y)
    assert_same_cv_results(ours.cv_results_, theirs.cv_results_)
    np.testing.assert_allclose(ours.best_estimator_.coef_, theirs.best_estimator_.coef_)


def test_pipeline_keys_groups_and_fit_params(spark):
    X, y = load_breast_cancer(return_X_y=True)
    groups = np.arange(len(y)) % 5
    weights = np.linspace(0.5, 1.5, len(y))
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    grid = {"logisticregression__C": [0.01, 0.1, 1.0]}
    fit_params = {"logisticregression__sample_weight": weights}
    ours = SparkGridSearchCV(pipe, grid, cv=GroupKFold(5)).fit(X, y, groups=groups, **fit_params)
    theirs = GridSearchCV(pipe, grid, cv=GroupKFold(5)).fit(X, y, groups=groups, **fit_params)
    assert_same_cv_results(ours.cv_results_, theirs.cv_results_)


def test_nested_cross_validation(spark, iris):
    X, y = iris
    grid = {"C": [0.5, 5]}
    ours = cross_val_score(SparkGridSearchCV(SVC(), grid, cv=3), X, y, cv=3)
    theirs = cross_val_score(GridSearchCV(SVC(), grid, cv=3), X, y, cv=3)
    np.testing.assert_allclose(ours, theirs)


def test_spark_dataframe_input_is_collected(spark, iris):
    X, y = iris
    import pandas as pd

    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(label=y)
    grid = {"C": [0.1, 1]}
    ours = SparkGridSearchCV(
        LogisticRegression(max_iter=500),
        grid,
        cv=3,
        feature_cols=["a", "b", "c", "d"],
        label_col="label",
    ).fit(spark.createDataFrame(frame))
    theirs = GridSearchCV(LogisticRegression(max_iter=500), grid, cv=3).fit(
        frame[["a", "b", "c", "d"]], y
    )
    assert_same_cv_results(ours.cv_results_, theirs.cv_results_)


def failing_svc():
    from sklearn.svm import SVC as Base

    class FailingSVC(Base):
        def fit(self, X, y, **kw):
            if self.C == 0.5:
                raise ArithmeticError("C=0.5 is cursed")
            return super().fit(X, y, **kw)

    return FailingSVC()


def test_error_score_nan_keeps_every_candidate(spark, iris):
    X, y = iris
    search = SparkGridSearchCV(failing_svc(), {"C": [0.5, 1.0]}, cv=3)
    with (
        pytest.warns(UserWarning, match="test scores are non-finite"),
        pytest.warns(FitFailedWarning, match="3 fits failed out of a total of 6"),
    ):
        search.fit(X, y)
    assert len(search.cv_results_["params"]) == 2
    assert np.isnan(search.cv_results_["mean_test_score"][0])
    assert search.best_params_ == {"C": 1.0}


def test_error_score_raise_names_the_candidate(spark, iris):
    X, y = iris
    search = SparkGridSearchCV(failing_svc(), {"C": [0.5, 1.0]}, cv=3, error_score="raise")
    with pytest.raises(ArithmeticError, match="C=0.5 is cursed") as info:
        search.fit(X, y)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "{'C': 0.5}" in notes and "Traceback" in notes


def test_hyperopt_tpe_finds_a_good_model_and_records_trials(spark):
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    space = {"logisticregression__C": hp.loguniform("C", np.log(1e-4), np.log(1e2))}
    search = SparkHyperoptSearchCV(pipe, space, max_evals=12, random_state=0, cv=3, parallelism=4)
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 12 == len(search.trials_.trials)
    assert search.n_spark_jobs_ == 3  # 12 candidates in rounds of 4
    losses = [t["result"]["loss"] for t in search.trials_.trials]
    np.testing.assert_allclose(losses, -search.cv_results_["mean_test_score"])
    assert search.best_score_ == pytest.approx(-min(losses))
    assert search.best_score_ > 0.95

    # Same candidates, same folds: sklearn's GridSearchCV gives the same scores.
    grid = [{k: [v] for k, v in p.items()} for p in search.cv_results_["params"]]
    reference = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"],
        reference.cv_results_["mean_test_score"],
        rtol=1e-12,
    )
    repeat = clone(search).fit(X, y)  # random_state makes it reproducible
    assert repeat.cv_results_["params"] == search.cv_results_["params"]


def test_hyperopt_with_sklearn_style_space_and_algos(spark, iris):
    X, y = iris
    space = [
        {"kernel": ["linear"], "C": uniform(0.1, 10)},
        {"kernel": ["rbf"], "C": loguniform(0.1, 10), "gamma": [0.01, 0.1]},
    ]
    for algo in ("tpe", "random", "anneal"):
        search = SparkHyperoptSearchCV(
            SVC(), space, max_evals=5, algo=algo, random_state=1, cv=3
        ).fit(X, y)
        kernels = {p["kernel"] for p in search.cv_results_["params"]}
        assert kernels <= {"linear", "rbf"}
        assert all(0.1 <= p["C"] <= 10.1 for p in search.cv_results_["params"])


def test_stopping_rules(spark, iris):
    X, y = iris
    space = {"C": hp.loguniform("C", -2, 2)}
    by_threshold = SparkHyperoptSearchCV(
        SVC(), space, max_evals=40, loss_threshold=-0.5, parallelism=2, random_state=0, cv=3
    ).fit(X, y)
    assert len(by_threshold.cv_results_["params"]) == 2  # first round already beats it
    by_time = SparkHyperoptSearchCV(
        SVC(), space, max_evals=40, timeout=1e-6, parallelism=3, random_state=0, cv=3
    ).fit(X, y)
    assert len(by_time.cv_results_["params"]) == 3  # the first round always runs
    early = SparkHyperoptSearchCV(
        SVC(),
        space,
        max_evals=40,
        parallelism=2,
        random_state=0,
        early_stop_fn=no_progress_loss(2),
        cv=3,
    ).fit(X, y)
    assert len(early.cv_results_["params"]) < 40


def test_space_translation_errors_name_the_parameter():
    with pytest.raises(ValueError, match=r"search_space\['C'\]: scipy.stats.expon"):
        to_hyperopt_space({"C": expon()})
    with pytest.raises(ValueError, match=r"search_space\['C'\] must be a list.*\[1.0\]"):
        to_hyperopt_space({"C": 1.0})
    with pytest.raises(ValueError, match="empty list"):
        to_hyperopt_space({"C": []})
    space = to_hyperopt_space({"n": randint(2, 5)})
    import hyperopt

    draws = {
        hyperopt.pyll.stochastic.sample(space, rng=np.random.default_rng(s))["n"]
        for s in range(60)
    }
    assert draws == {2, 3, 4}  # scipy's randint(2, 5) excludes 5, as hp.randint does


def test_bad_arguments_fail_before_any_job(spark, iris):
    X, y = iris
    with pytest.raises(ValueError, match="algo must be one of"):
        SparkHyperoptSearchCV(SVC(), {"C": [1]}, algo="bayes").fit(X, y)
    with pytest.raises(ValueError, match="refit to the name of the scorer"):
        SparkHyperoptSearchCV(
            SVC(), {"C": [1]}, scoring=["accuracy", "f1_macro"], refit=False
        ).fit(X, y)
    with pytest.raises(ValueError, match="'backend' parameter"):
        SparkHyperoptSearchCV(SVC(), {"C": [1]}, backend="ray").fit(X, y)


def test_spark_trials_backend_on_classic_spark(spark, iris, monkeypatch):
    import hyperopt

    created = []

    class RecordingSparkTrials(hyperopt.SparkTrials):
        def __init__(self, *args, **kwargs):
            created.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(hyperopt, "SparkTrials", RecordingSparkTrials)
    X, y = iris
    search = SparkHyperoptSearchCV(
        SVC(),
        {"C": hp.loguniform("C", -2, 2)},
        max_evals=3,
        backend="spark_trials",
        random_state=0,
        cv=3,
        parallelism=2,
    )
    with pytest.warns(UserWarning, match="one Spark job per trial"):
        search.fit(X, y)
    assert len(created) == 1 and created[0]["parallelism"] == 2
    assert isinstance(search.trials_, hyperopt.Trials)
    assert len(search.cv_results_["params"]) == 3
    losses = sorted(t["result"]["loss"] for t in search.trials_.trials)
    np.testing.assert_allclose(losses, sorted(-search.cv_results_["mean_test_score"]))


def test_mlflow_parent_and_child_runs(spark, iris, tmp_path, mlflow_store):
    X, y = iris
    search = SparkGridSearchCV(SVC(), {"C": [0.5, 2.0, 8.0]}, cv=3, mlflow=True).fit(X, y)
    runs = mlflow.search_runs(experiment_ids=[mlflow_store.experiment_id], output_format="list")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 3
    assert parents[0].data.metrics["best_score"] == pytest.approx(search.best_score_)
    by_c = {float(r.data.params["C"]): r.data.metrics for r in children}
    for index, params in enumerate(search.cv_results_["params"]):
        metrics = by_c[params["C"]]
        assert metrics["split2_test_score"] == pytest.approx(
            search.cv_results_["split2_test_score"][index]
        )
    artifacts = mlflow.artifacts.list_artifacts(
        run_id=parents[0].info.run_id, artifact_path="best_estimator"
    )
    assert [a.path for a in artifacts] == ["best_estimator/best_estimator.ssbmodel"]
    assert mlflow.active_run() is None


def test_search_objects_are_real_estimators(spark, iris):
    search = SparkGridSearchCV(
        make_pipeline(StandardScaler(), SVC()), {"svc__C": [1]}, cv=3, parallelism=2
    )
    params = clone(search).get_params()
    assert params["estimator__svc__C"] == 1.0 and params["parallelism"] == 2
    search.set_params(estimator__svc__kernel="linear")
    assert search.estimator.steps[-1][1].kernel == "linear"
    X, y = iris
    search.fit(X, y)
    import pickle

    restored = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(restored.predict(X), search.predict(X))
