"""From GridSearchCV to SparkGridSearchCV (docs/migrate/gridsearchcv)."""

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

X, y = load_breast_cancer(return_X_y=True)
grid = {"n_estimators": [20, 50], "max_depth": [3, None]}

# [before]
from sklearn.model_selection import GridSearchCV

before = GridSearchCV(RandomForestClassifier(random_state=0), grid, cv=3, n_jobs=-1)
before.fit(X, y)
# [after]
from spark_sklearn_bridge import SparkGridSearchCV

after = SparkGridSearchCV(RandomForestClassifier(random_state=0), grid, cv=3)
after.fit(X, y)  # the 12 fits run as the tasks of one Spark job
# [end]

np.testing.assert_allclose(
    after.cv_results_["mean_test_score"], before.cv_results_["mean_test_score"]
)
assert after.best_params_ == before.best_params_
np.testing.assert_array_equal(after.predict(X), before.predict(X))
