"""Every scikit-learn function and meta-estimator that fans out through joblib, as a case.

Each case runs a call with ``n_jobs=2`` and a fixed ``random_state`` and returns what a user
would look at (scores, coefficients, rankings, importances, predictions). The backend tests
run each case under joblib's default backend and under ``"spark"`` and compare the two,
on classic Spark (tests/test_parallel.py) and on Spark Connect (tests/connect/).
"""

import numpy as np
from sklearn.datasets import load_diabetes, load_iris, make_classification
from sklearn.ensemble import (
    BaggingClassifier,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    StackingClassifier,
    VotingClassifier,
)
from sklearn.feature_selection import RFECV, SequentialFeatureSelector
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import (
    GridSearchCV,
    cross_val_predict,
    cross_validate,
    learning_curve,
    validation_curve,
)
from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier
from sklearn.multioutput import MultiOutputRegressor
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

N_JOBS = 2


def classification():
    return make_classification(
        n_samples=300, n_features=8, n_informative=4, n_classes=3, random_state=0
    )


def iris():
    return load_iris(return_X_y=True)


def logistic():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def case_cross_validate():
    X, y = classification()
    out = cross_validate(
        RandomForestClassifier(n_estimators=10, random_state=0),
        X,
        y,
        cv=5,
        scoring=["accuracy", "f1_macro"],
        return_train_score=True,
        return_estimator=True,
        n_jobs=N_JOBS,
    )
    importances = [e.feature_importances_ for e in out.pop("estimator")]
    return {k: v for k, v in out.items() if "time" not in k}, importances


def case_cross_val_predict():
    X, y = iris()
    return cross_val_predict(logistic(), X, y, cv=4, method="predict_proba", n_jobs=N_JOBS)


def case_learning_curve():
    X, y = iris()
    sizes, train, test = learning_curve(
        DecisionTreeClassifier(random_state=0),
        X,
        y,
        cv=3,
        train_sizes=[0.3, 0.6, 1.0],
        shuffle=True,
        random_state=0,
        n_jobs=N_JOBS,
    )
    return sizes, train, test


def case_validation_curve():
    X, y = iris()
    return validation_curve(
        SVC(), X, y, param_name="C", param_range=[0.1, 1.0, 10.0], cv=3, n_jobs=N_JOBS
    )


def case_permutation_importance():
    X, y = load_diabetes(return_X_y=True)
    model = Ridge(alpha=1.0).fit(X, y)
    result = permutation_importance(model, X, y, n_repeats=5, random_state=0, n_jobs=N_JOBS)
    return result.importances


def case_rfecv():
    X, y = classification()
    selector = RFECV(LogisticRegression(max_iter=1000), step=1, cv=3, n_jobs=N_JOBS).fit(X, y)
    return selector.ranking_, selector.support_, selector.cv_results_["mean_test_score"]


def case_sequential_feature_selector():
    X, y = iris()
    selector = SequentialFeatureSelector(
        KNeighborsClassifier(n_neighbors=3), n_features_to_select=2, cv=3, n_jobs=N_JOBS
    ).fit(X, y)
    return selector.get_support()


def case_one_vs_rest():
    X, y = iris()
    model = OneVsRestClassifier(LogisticRegression(max_iter=1000), n_jobs=N_JOBS).fit(X, y)
    return [e.coef_ for e in model.estimators_], model.predict_proba(X)


def case_one_vs_one():
    X, y = iris()
    model = OneVsOneClassifier(SVC(), n_jobs=N_JOBS).fit(X, y)
    return model.decision_function(X), model.predict(X)


def case_multi_output_regressor():
    X, y = load_diabetes(return_X_y=True)
    Y = np.column_stack([y, np.sqrt(y), np.log(y)])
    model = MultiOutputRegressor(Ridge(alpha=0.5), n_jobs=N_JOBS).fit(X, Y)
    return [e.coef_ for e in model.estimators_], model.predict(X)


def case_bagging():
    X, y = classification()
    model = BaggingClassifier(
        DecisionTreeClassifier(), n_estimators=12, random_state=0, n_jobs=N_JOBS
    ).fit(X, y)
    return model.predict_proba(X), model.estimators_samples_


def case_random_forest_classifier():
    X, y = classification()
    model = RandomForestClassifier(n_estimators=20, random_state=0, n_jobs=N_JOBS).fit(X, y)
    return model.feature_importances_, model.predict_proba(X)


def case_random_forest_regressor():
    X, y = load_diabetes(return_X_y=True)
    model = RandomForestRegressor(n_estimators=20, random_state=0, n_jobs=N_JOBS).fit(X, y)
    return model.feature_importances_, model.predict(X)


def case_extra_trees_classifier():
    X, y = classification()
    model = ExtraTreesClassifier(n_estimators=20, random_state=0, n_jobs=N_JOBS).fit(X, y)
    return model.feature_importances_, model.predict_proba(X)


def case_extra_trees_regressor():
    X, y = load_diabetes(return_X_y=True)
    model = ExtraTreesRegressor(n_estimators=20, random_state=0, n_jobs=N_JOBS).fit(X, y)
    return model.feature_importances_, model.predict(X)


def case_voting():
    X, y = iris()
    model = VotingClassifier(
        [("lr", logistic()), ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))],
        voting="soft",
        n_jobs=N_JOBS,
    ).fit(X, y)
    return model.predict_proba(X)


def case_stacking():
    X, y = iris()
    model = StackingClassifier(
        [("lr", logistic()), ("tree", DecisionTreeClassifier(random_state=0))],
        final_estimator=LogisticRegression(max_iter=1000),
        cv=3,
        n_jobs=N_JOBS,
    ).fit(X, y)
    return model.final_estimator_.coef_, model.predict_proba(X)


def case_grid_search():
    X, y = iris()
    search = GridSearchCV(
        SVC(), {"C": [0.1, 1, 10], "gamma": ["scale", 0.1]}, cv=3, n_jobs=N_JOBS
    ).fit(X, y)
    results = {k: v for k, v in search.cv_results_.items() if "time" not in k}
    return results, search.best_params_, search.predict(X)


CASES = {
    name[len("case_") :]: func for name, func in globals().items() if name.startswith("case_")
}


def assert_same(ours, theirs, path="result"):
    """Equal structure and values; floats to 1e-12 relative (they are computed the same
    way: the backends must not change a single operation)."""
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs), path
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{path}[{key!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{path}[{i}]")
    else:
        a, b = np.asarray(ours), np.asarray(theirs)
        if b.dtype.kind in "fc":
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, err_msg=path)
        else:
            np.testing.assert_array_equal(a, b, err_msg=path)
