"""One scikit-learn model trained out of core: partial_fit over batches streamed from the
executors (docs/guide/spark_ml)."""

from pyspark.sql import functions as F
from sklearn.linear_model import SGDClassifier

from spark_sklearn_bridge import SparkIncrementalEstimator, get_spark

spark = get_spark()
# A table generated on the executors: in practice spark.read.parquet(...), of any size.
table = spark.range(1_000_000).select(
    *[F.randn(i).alias(f"x{i}") for i in range(5)],
)
table = table.withColumn("label", (F.col("x0") - F.col("x1") > 0).cast("int"))

# [fit]
model = SparkIncrementalEstimator(
    SGDClassifier(random_state=0), batch_rows=100_000, epochs=2, random_state=0
).fit(table)  # 20 partial_fit calls; the driver holds about two batches at a time
print(model.n_batches_, "batches; classes", model.classes_)
scored = model.predict(table)  # a Spark DataFrame, scored on the executors
sgd = model.estimator_  # the plain fitted SGDClassifier
# [end]

sample = table.limit(20_000).toPandas()
accuracy = (sgd.predict(sample[[f"x{i}" for i in range(5)]]) == sample["label"]).mean()
assert model.n_batches_ == 20 and accuracy > 0.95
assert scored.filter("prediction != label").count() < 0.05 * 1_000_000
