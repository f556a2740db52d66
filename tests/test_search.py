import re
from pathlib import Path

import mlflow
import numpy as np
import pytest
from hyperopt import hp
from hyperopt.early_stop import no_progress_loss
from scipy.stats import expon, loguniform, randint, uniform
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_classification
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
    assert list(search.cv_results_["rank_test_score"]) == [2, 1]  # non-finite ranks last


def test_error_score_raise_names_the_candidate(spark, iris):
    X, y = iris
    search = SparkGridSearchCV(failing_svc(), {"C": [0.5, 1.0]}, cv=3, error_score="raise")
    with pytest.raises(ArithmeticError, match="C=0.5 is cursed") as info:
        search.fit(X, y)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "{'C': 0.5}" in notes and "Traceback" in notes


class _TimedRidge(Ridge):
    """Ridge whose fit takes at least 0.15 s and appends its start and end to ``log``."""

    def __init__(self, alpha=1.0, log=None):
        super().__init__(alpha=alpha)
        self.log = log

    def fit(self, X, y):
        import time

        start = time.time()
        time.sleep(0.15)
        super().fit(X, y)
        with open(self.log, "a") as stream:
            stream.write(f"{start} {time.time()}\n")
        return self


def _most_at_once(lines) -> int:
    events = []
    for line in lines:
        start, end = map(float, line.split())
        events += [(start, 1), (end, -1)]
    running = most = 0
    for _, step in sorted(events):  # an end before a start at the same instant
        running += step
        most = max(most, running)
    return most


@pytest.mark.parametrize("kind", ["grid", "hyperopt"])
def test_parallelism_below_the_cores_caps_the_fits_running_at_once(spark, tmp_path, kind):
    """``parallelism`` fewer than the cluster's cores is a cap (a shared database, a licence
    server): on local[2], parallelism=1 runs one fit at a time. It ran two, as the fits were
    dealt to four tasks a slot whatever the cap."""
    X, y = load_diabetes(return_X_y=True)
    log = str(tmp_path / "fits.log")
    estimator = _TimedRidge(log=log)
    if kind == "grid":
        grid = {"alpha": [0.1, 1.0, 10.0]}
        search = SparkGridSearchCV(estimator, grid, cv=2, parallelism=1, refit=False)
        reference = GridSearchCV(Ridge(), grid, cv=2).fit(X, y)
        np.testing.assert_allclose(
            search.fit(X, y).cv_results_["mean_test_score"],
            reference.cv_results_["mean_test_score"],
        )
    else:
        space = {"alpha": hp.loguniform("alpha", -3, 3)}
        search = SparkHyperoptSearchCV(
            estimator, space, max_evals=3, cv=2, parallelism=1, random_state=0, refit=False
        )
        assert len(search.fit(X, y).cv_results_["params"]) == 3
    lines = Path(log).read_text().splitlines()
    assert len(lines) == 6
    assert _most_at_once(lines) == 1


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
    # timeout: tests/test_search_cancel.py (a round cut short, a first round that hangs)
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


# ------------------------------------------- scikit-learn behaviours on Spark executors
def test_subclass_overriding_run_search(spark):
    """scikit-learn's documented extension point works on the Spark classes too."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.tree import DecisionTreeRegressor

    class TwoRoundSearch(SparkGridSearchCV):
        def _run_search(self, evaluate_candidates):
            evaluate_candidates([{"max_depth": 1}, {"max_depth": 2}])
            evaluate_candidates([{"min_samples_split": 5}, {"min_samples_split": 10}])

    X, y = make_classification(n_samples=100, n_informative=4, random_state=0)
    estimator = DecisionTreeRegressor(random_state=0)
    ours = TwoRoundSearch(estimator, {}, return_train_score=True).fit(X, y)
    grid = [{"max_depth": [1, 2]}, {"min_samples_split": [5, 10]}]
    theirs = GridSearchCV(estimator, grid, return_train_score=True).fit(X, y)
    for key in ("mean_test_score", "mean_train_score", "rank_test_score"):
        np.testing.assert_allclose(ours.cv_results_[key], theirs.cv_results_[key])
    assert ours.best_params_ == theirs.best_params_
    assert ours.n_spark_jobs_ == 2  # one Spark job per evaluate_candidates call


def test_multi_metric_search_forwards_metadata_on_spark(spark):
    """Routed score weights reach every scorer on the executors: scores equal scikit-learn's
    weighted ones and differ from unweighted scores."""
    from sklearn import config_context
    from sklearn.metrics import accuracy_score, make_scorer
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import LinearSVC

    X, y = make_classification(random_state=42, flip_y=0.3)  # noisy: accuracy below 1
    weights = np.random.RandomState(0).rand(len(y))
    with config_context(enable_metadata_routing=True):
        weighted = make_scorer(accuracy_score).set_score_request(sample_weight="score_weights")
        scoring = {"weighted": weighted, "plain": "accuracy"}
        args = dict(refit="plain", cv=2, scoring=scoring)
        ours = SparkGridSearchCV(LinearSVC(), {"C": [0.1, 1.0]}, **args)
        ours.fit(X, y, score_weights=weights)
        theirs = GridSearchCV(LinearSVC(), {"C": [0.1, 1.0]}, **args)
        theirs.fit(X, y, score_weights=weights)
    for name in ("weighted", "plain"):
        np.testing.assert_allclose(
            ours.cv_results_[f"split0_test_{name}"], theirs.cv_results_[f"split0_test_{name}"]
        )
    assert not np.allclose(
        ours.cv_results_["split0_test_weighted"], ours.cv_results_["split0_test_plain"]
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.FitFailedWarning")
def test_callbacks_with_partial_fit_failures_on_spark(spark):
    """scikit-learn's test_search_callbacks_with_partial_fit_failures, with an estimator class
    the workers can import (callback messages pickle it by reference): every hook of every
    candidate-split evaluation reaches the driver."""
    pytest.importorskip("sklearn.callback", reason="scikit-learn's callbacks (1.9+)")
    from sklearn.callback.tests._utils import RecordingCallback
    from sklearn.model_selection.tests.test_search import FailingClassifier

    X, y = make_classification(random_state=0)
    callback = RecordingCallback()
    grid = {"parameter": [0, FailingClassifier.FAILING_PARAMETER]}
    search = SparkGridSearchCV(
        FailingClassifier(), grid, cv=2, refit=False, error_score=0.0
    ).set_callbacks(callback)
    search.fit(X, y)
    expected_n_tasks = 1 + 1 + 4  # root + search + 4 candidate-split evaluations
    assert callback.count_hooks("on_fit_task_begin") == expected_n_tasks
    assert callback.count_hooks("on_fit_task_end") == expected_n_tasks
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"][1], 0.0)


def test_verbose_output_of_executor_fits_reaches_the_driver(spark, capsys):
    X, y = make_classification(n_samples=60, random_state=0)
    SparkGridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=3, verbose=3).fit(X, y)
    out = capsys.readouterr().out
    assert len(re.findall(r"\[CV \d/3\] END .*C=(0\.1|1\.0).*score=", out)) == 6


def test_n_startup_evals_sets_how_long_tpe_draws_at_random(spark, iris):
    X, y = iris
    space = {"C": hp.loguniform("C", -3, 3)}

    def proposals(**kwargs):
        search = SparkHyperoptSearchCV(
            SVC(), space, max_evals=8, parallelism=1, random_state=7, cv=3, **kwargs
        ).fit(X, y)
        return search, [p["C"] for p in search.cv_results_["params"]]

    _, random = proposals(algo="random")
    search, default = proposals()  # 1 parameter, 8 evaluations: 2 * 1 + 2 = 4 at random
    assert search.n_startup_evals_ == 4
    assert default[:4] == random[:4] and default[4:] != random[4:]  # then TPE proposes
    search, hyperopts = proposals(n_startup_evals=20)  # Hyperopt's own default
    assert search.n_startup_evals_ == 20 and hyperopts == random
    _, early = proposals(n_startup_evals=2)
    assert early[:2] == random[:2] and early[2:4] != random[2:4]
    assert proposals(algo="anneal")[0].n_startup_evals_ is None
    with pytest.raises(ValueError, match="n_startup_evals"):
        SparkHyperoptSearchCV(SVC(), space, n_startup_evals=-1).fit(X, y)


@pytest.mark.parametrize(
    ("max_evals", "n_params", "parallelism", "expected"),
    [(24, 4, 2, 10), (60, 4, 2, 12), (200, 4, 2, 20), (24, 1, 2, 4), (24, 2, 8, 8)],
)
def test_default_startup_size_follows_budget_and_space(max_evals, n_params, parallelism, expected):
    search = SparkHyperoptSearchCV(SVC(), {"C": [1.0]}, max_evals=max_evals)
    assert search._startup_evals(n_params, parallelism) == expected


def test_a_space_that_is_not_a_dict_of_parameters_is_refused_before_any_job(spark):
    X, y = load_diabetes(return_X_y=True)
    before = set(spark.sparkContext.statusTracker().getJobIdsForGroup())
    with pytest.raises(ValueError, match=r"search_space must describe a dict.*\(int\)"):
        SparkHyperoptSearchCV(Ridge(), hp.choice("x", [1, 2]), max_evals=2, cv=2).fit(X, y)
    assert set(spark.sparkContext.statusTracker().getJobIdsForGroup()) == before


def test_a_spark_search_fitted_inside_another_searchs_run_search(spark):
    """A custom search (scikit-learn's or a Spark one) whose _run_search fits a Spark search
    on the driver: the inner search is fitted and reports its own jobs."""
    from spark_sklearn_bridge._compat import BaseSearchCV

    X, y = load_diabetes(return_X_y=True)
    inners = []

    def run_search(self, evaluate_candidates):
        inner = SparkGridSearchCV(Ridge(), {"alpha": [0.1, 10.0]}, cv=2).fit(X, y)
        inners.append(inner)
        evaluate_candidates([inner.best_params_])

    class Outer(BaseSearchCV):
        def __init__(self, estimator, *, cv=None):
            super().__init__(estimator, cv=cv)

        _run_search = run_search

    class SparkOuter(SparkGridSearchCV):
        _run_search = run_search

    expected = GridSearchCV(Ridge(), {"alpha": [0.1, 10.0]}, cv=2).fit(X, y).best_params_
    for outer in (Outer(Ridge(), cv=2), SparkOuter(Ridge(), {"alpha": [1.0]}, cv=2)):
        assert outer.fit(X, y).best_params_ == expected
    assert [(i.n_spark_jobs_, i.n_resumed_fits_) for i in inners] == [(1, 0), (1, 0)]


def test_a_notebook_estimator_class_is_pickled_once_per_search(spark, monkeypatch):
    """A class defined in a notebook is pickled by value: once per search, not with each
    fit (512 fits spent 0.3-0.5 s of driver time pickling it before their job started).
    Each fit's payload still carries 4.9 KB of scikit-learn's wrapper (its ``__doc__``)."""
    import cloudpickle

    from spark_sklearn_bridge.parallel import _runner

    class NotebookRidge(Ridge):  # defined here, as in a notebook
        def fit(self, X, y):
            return super().fit(np.asarray(X), y)

    payloads = []
    real_collect = _runner.TaskRunner._collect

    def spy_collect(self, rows, options, tag):
        payloads.extend(p for _, _, p in rows)
        return real_collect(self, rows, options, tag)

    monkeypatch.setattr(_runner.TaskRunner, "_collect", spy_collect)
    X, y = load_diabetes(return_X_y=True)
    grid = {"alpha": [0.1, 1.0, 10.0]}
    search = SparkGridSearchCV(NotebookRidge(), grid, cv=3).fit(X, y)
    reference = GridSearchCV(NotebookRidge(), grid, cv=3).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"]
    )
    assert type(search.best_estimator_) is NotebookRidge
    assert len(payloads) == 9
    assert b"NotebookRidge" in cloudpickle.dumps(NotebookRidge)
    assert not [p for p in payloads if b"NotebookRidge" in p]  # its definition is shared


def test_callback_contexts_travel_once_per_worker_not_with_every_batch(spark, monkeypatch):
    """Each fit's callback context links to every other through their parent: in the bundle
    each batch copies, they made every batch unpickle the whole tree (2 ms a batch at 512
    fits). They go in the bundle of links, kept per worker, and the copied bundle (the
    search's stand-in, which holds their root) refers to them."""
    pytest.importorskip("sklearn.callback", reason="scikit-learn's callbacks (1.9+)")
    from sklearn.callback import CallbackContext
    from sklearn.dummy import DummyClassifier

    from spark_sklearn_bridge.parallel import _runner

    real_ship, shipped = _runner.ship, []

    def spy_ship(spark, obj, **kwargs):
        shipment = real_ship(spark, obj, **kwargs)
        if kwargs["what"].endswith(" batches"):  # the payloads of a pulled job
            return shipment
        inband = bytes(shipment.load().inband) if shipment.shared else None
        shipped.append((dict(obj), inband))
        return shipment

    monkeypatch.setattr(_runner, "ship", spy_ship)
    X, y = load_iris(return_X_y=True)
    grid = {"random_state": list(range(8))}
    search = SparkGridSearchCV(DummyClassifier(strategy="stratified"), grid, cv=2, refit=False)
    reference = GridSearchCV(DummyClassifier(strategy="stratified"), grid, cv=2, refit=False)
    np.testing.assert_array_equal(
        search.fit(X, y).cv_results_["mean_test_score"],
        reference.fit(X, y).cv_results_["mean_test_score"],
    )
    copied = [(bundle, inband) for bundle, inband in shipped if inband is not None]
    links = [o for bundle, inband in shipped if inband is None for o in bundle.values()]
    assert sum(isinstance(o, CallbackContext) for o in links) >= 16  # one per fit, and parents
    assert [o for b, _ in copied for o in b.values() if isinstance(o, SparkGridSearchCV)]
    for bundle, inband in copied:
        assert not [o for o in bundle.values() if isinstance(o, CallbackContext)]
        assert b"CallbackContext" not in inband  # none inside the stand-in either


def test_a_batch_does_not_carry_every_fits_callback_context(spark, monkeypatch):
    """scikit-learn 1.9 gives each fit a callback context linked through their parent to
    every other fit's: a batch's payload must not grow with the number of fits (it did, and
    the driver's pickling grew with their square)."""
    from sklearn.dummy import DummyClassifier

    from spark_sklearn_bridge.parallel import _runner

    sizes = []

    class Recording(_runner.SharedPickler):
        def __init__(self, file, *args):
            super().__init__(file, *args)
            self.file = file

        def dump(self, obj):
            super().dump(obj)
            sizes.append(self.file.tell())

    monkeypatch.setattr(_runner, "SharedPickler", Recording)
    X, y = load_iris(return_X_y=True)
    largest = {}
    for n in (4, 64):
        sizes.clear()
        grid = {"random_state": list(range(n))}
        search = SparkGridSearchCV(DummyClassifier(strategy="stratified"), grid, cv=2)
        reference = GridSearchCV(DummyClassifier(strategy="stratified"), grid, cv=2)
        np.testing.assert_array_equal(
            search.fit(X, y).cv_results_["mean_test_score"],
            reference.fit(X, y).cv_results_["mean_test_score"],
        )
        assert len(sizes) == 2 * n
        largest[n] = max(sizes)
    assert largest[64] < 1.2 * largest[4], largest
