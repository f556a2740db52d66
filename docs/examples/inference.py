"""Score a Spark DataFrame with a model fitted by scikit-learn (docs/guide/inference)."""

import tempfile

import numpy as np
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from spark_sklearn_bridge import SparkBatchPredictor, get_spark, predict_udf

spark = get_spark()
X, y = load_iris(return_X_y=True, as_frame=True)
model = RandomForestClassifier(n_estimators=50, random_state=0).fit(X, y)
rows = spark.createDataFrame(X.reset_index(names="id"))

# [predict]
scored = SparkBatchPredictor(model).predict(rows)  # lazy: a new "prediction" column
scored.select("id", "prediction").show(3)

probabilities = SparkBatchPredictor(model, output_col="p").predict_proba(rows)
probabilities.select("id", "p").show(3, truncate=False)  # array<double> per row

# The bare UDF, for select / withColumn / SQL:
spark.udf.register("iris_class", predict_udf(model))
rows.createOrReplaceTempView("flowers")
spark.sql(
    "SELECT id, iris_class(`sepal length (cm)`, `sepal width (cm)`, "
    "`petal length (cm)`, `petal width (cm)`) AS class FROM flowers"
).show(3)
# [stream]
# The same predictor on a stream: files arriving in a directory, scored as they come.
incoming = tempfile.mkdtemp()
X.iloc[:75].to_parquet(f"{incoming}/part-0.parquet")
stream = spark.readStream.schema(rows.drop("id").schema).parquet(incoming)
query = (
    SparkBatchPredictor(model)
    .predict(stream)
    .writeStream.format("memory")
    .queryName("scored_flowers")
    .start()
)
query.processAllAvailable()
X.iloc[75:].to_parquet(f"{incoming}/part-1.parquet")  # a new file: a new micro-batch
query.processAllAvailable()
query.stop()
# [end]

out = scored.select("id", "prediction").toPandas().sort_values("id")
np.testing.assert_array_equal(out["prediction"], model.predict(X))
p = probabilities.select("id", "p").toPandas().sort_values("id")
np.testing.assert_allclose(np.stack(p["p"]), model.predict_proba(X))
assert isinstance(out, pd.DataFrame)

streamed = spark.table("scored_flowers").toPandas()
assert len(streamed) == len(X)
expected = pd.Series(model.predict(X), index=pd.MultiIndex.from_frame(X)).to_dict()
assert all(expected[tuple(r[X.columns])] == r["prediction"] for _, r in streamed.iterrows())
