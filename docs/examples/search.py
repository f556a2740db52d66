"""Drop-in searches: grid and TPE on Spark (docs/guide/search)."""

import numpy as np
from scipy.stats import loguniform
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from spark_sklearn_bridge import SparkGridSearchCV, SparkHyperoptSearchCV

X, y = load_digits(return_X_y=True)
X, y = X[:600], y[:600]
model = make_pipeline(StandardScaler(), SVC())

# [grid]
grid = {"svc__C": [1, 10], "svc__gamma": [1e-3, 1e-2]}
search = SparkGridSearchCV(model, grid, cv=3).fit(X, y)  # 12 fits: tasks of one Spark job
print(search.best_params_, round(search.best_score_, 4))
# [tpe]
space = {"svc__C": loguniform(0.1, 100), "svc__gamma": loguniform(1e-4, 1e-1)}
tpe = SparkHyperoptSearchCV(model, space, max_evals=8, parallelism=4, cv=3, random_state=0)
tpe.fit(X, y)  # rounds of 4 candidates, each round one Spark job
print(tpe.best_params_, round(tpe.best_score_, 4))
# [end]

expected = GridSearchCV(model, grid, cv=3).fit(X, y)
np.testing.assert_allclose(
    search.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"]
)
assert len(tpe.cv_results_["params"]) == 8
