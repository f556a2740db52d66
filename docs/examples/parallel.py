"""Any scikit-learn call on Spark through the joblib backend (docs/guide/parallel)."""

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import RFECV
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_validate

X, y = make_classification(n_samples=2_000, n_features=12, n_informative=5, random_state=0)

# [before]
forest = RandomForestClassifier(n_estimators=50, random_state=0)
scores = cross_validate(forest, X, y, cv=5, n_jobs=-1)["test_score"]
model = forest.fit(X, y)
importances = permutation_importance(model, X, y, n_repeats=5, random_state=0, n_jobs=-1)
ranking = RFECV(LogisticRegression(max_iter=500), cv=5, n_jobs=-1).fit(X, y).ranking_
# [after]
import spark_sklearn_bridge as ssb

with ssb.parallel_backend():  # every joblib call in the block is one Spark job
    forest = RandomForestClassifier(n_estimators=50, random_state=0)
    spark_scores = cross_validate(forest, X, y, cv=5, n_jobs=-1)["test_score"]
    spark_model = forest.fit(X, y)  # the 50 trees are fitted as Spark tasks
    spark_importances = permutation_importance(
        spark_model, X, y, n_repeats=5, random_state=0, n_jobs=-1
    )
    spark_ranking = RFECV(LogisticRegression(max_iter=500), cv=5, n_jobs=-1).fit(X, y).ranking_
# [end]

np.testing.assert_array_equal(spark_scores, scores)
np.testing.assert_array_equal(spark_model.predict_proba(X), model.predict_proba(X))
np.testing.assert_array_equal(spark_importances.importances, importances.importances)
np.testing.assert_array_equal(spark_ranking, ranking)
