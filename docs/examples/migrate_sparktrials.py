"""From Hyperopt's fmin + SparkTrials to SparkHyperoptSearchCV (docs/migrate/sparktrials)."""

import numpy as np
from sklearn.datasets import load_wine
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from spark_sklearn_bridge import get_spark

spark = get_spark()  # SparkTrials uses the active session (its workers run this Python)
X, y = load_wine(return_X_y=True)

# [before]
from hyperopt import SparkTrials, fmin, hp, space_eval, tpe


def objective(params):
    model = make_pipeline(StandardScaler(), SVC(**params))
    return -cross_val_score(model, X, y, cv=3).mean()


space = {
    "C": hp.loguniform("C", np.log(0.1), np.log(100)),
    "kernel": hp.choice("kernel", ["rbf", "linear"]),
}
best = fmin(
    objective,
    space,
    algo=tpe.suggest,
    max_evals=4,
    trials=SparkTrials(parallelism=2),
    rstate=np.random.default_rng(0),
    show_progressbar=False,
)
model = make_pipeline(StandardScaler(), SVC(**space_eval(space, best))).fit(X, y)
# [after]
from scipy.stats import loguniform

from spark_sklearn_bridge import SparkHyperoptSearchCV

space = {"svc__C": loguniform(0.1, 100), "svc__kernel": ["rbf", "linear"]}
search = SparkHyperoptSearchCV(
    make_pipeline(StandardScaler(), SVC()), space, max_evals=4, parallelism=2, cv=3, random_state=0
)
model = search.fit(X, y).best_estimator_  # also: cv_results_, trials_, best_score_
# [end]

check = cross_val_score(
    make_pipeline(StandardScaler(), SVC()).set_params(**search.best_params_), X, y, cv=3
).mean()
assert np.isclose(search.best_score_, check)
assert len(search.trials_.trials) == 4
