"""From joblibspark to this package's "spark" backend (docs/migrate/joblibspark)."""

import numpy as np
from joblib import parallel_backend
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

X, y = load_digits(return_X_y=True)
grid = {"C": [1, 10], "gamma": [1e-3, 1e-4]}

# [before]
from joblibspark import register_spark

register_spark()  # registers joblibspark's "spark" backend
with parallel_backend("spark", n_jobs=2):
    before = GridSearchCV(SVC(), grid, cv=3).fit(X, y)
# [after]
from spark_sklearn_bridge import register_spark

register_spark()  # the same name, this package's backend (import spark_sklearn_bridge does it)
with parallel_backend("spark", n_jobs=2):
    after = GridSearchCV(SVC(), grid, cv=3).fit(X, y)
# [end]

assert after.best_params_ == before.best_params_
np.testing.assert_allclose(
    after.cv_results_["mean_test_score"], before.cv_results_["mean_test_score"]
)
