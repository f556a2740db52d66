"""One model trained data-parallel by pyspark.ml, with scikit-learn's semantics
(docs/guide/spark_ml)."""

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from spark_sklearn_bridge import SparkMLEstimator, get_spark, supported_estimators

spark = get_spark()
X, y = load_diabetes(return_X_y=True, as_frame=True)
table = spark.createDataFrame(X.assign(progression=y))  # in practice: spark.read.parquet(...)

# [fit]
print(len(supported_estimators()), "estimators translate to pyspark.ml")
model = SparkMLEstimator(
    make_pipeline(StandardScaler(), Ridge(alpha=1.0)), label_col="progression"
).fit(table)  # a pyspark.ml Pipeline fitted on the executors
model.predict(table).select("progression", "prediction").show(3)
local = model.to_sklearn()  # a fitted scikit-learn Pipeline
# [end]

reference = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(X, y)
np.testing.assert_allclose(local[-1].coef_, reference[-1].coef_, rtol=1e-8)
np.testing.assert_allclose(local.predict(X), reference.predict(X), rtol=1e-8)
