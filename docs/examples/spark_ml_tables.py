"""A real table: string and numeric columns, the preprocessing pipeline almost everyone writes,
translated to Spark with scikit-learn's semantics (docs/guide/spark_ml)."""

import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from spark_sklearn_bridge import SparkMLEstimator, get_spark

spark = get_spark()
rng = np.random.default_rng(0)
frame = pd.DataFrame(
    {
        "city": rng.choice(["Lyon", "Oslo", "Rome", None], 2_000),  # strings with nulls
        "age": np.where(rng.random(2_000) < 0.05, np.nan, rng.normal(40, 12, 2_000)),
        "income": rng.lognormal(10, 0.5, 2_000),
    }
)
frame["churned"] = ((frame["city"] == "Oslo") + rng.normal(0, 0.5, 2_000) > 0.5).astype(int)
table = spark.createDataFrame(frame)  # in practice: spark.read.parquet(...)

# [fit]
pipeline = make_pipeline(
    make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["city"]),  # None is a category, as in sklearn
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["age", "income"]),
    ),
    LogisticRegression(),
)
model = SparkMLEstimator(pipeline, label_col="churned").fit(table)  # exact medians, one pass
model.predict(table).select("city", "age", "churned", "prediction").show(3)
exported = model.to_sklearn()  # the fitted scikit-learn Pipeline, preprocessing included
# [end]

sample = table.toPandas()  # what scikit-learn sees of the same table
reference = pipeline.fit(sample[["city", "age", "income"]], sample["churned"])
features = sample[["city", "age", "income"]]
np.testing.assert_allclose(
    exported[0].transform(features), reference[0].transform(features), atol=1e-12
)
assert (exported.predict(features) == reference.predict(features)).mean() > 0.99
