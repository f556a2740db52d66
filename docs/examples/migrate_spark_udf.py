"""From mlflow.pyfunc.spark_udf to SparkBatchPredictor (docs/migrate/spark_udf)."""

import tempfile

import mlflow
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor

from spark_sklearn_bridge import get_spark

spark = get_spark()
X, y = load_diabetes(return_X_y=True, as_frame=True)
model = HistGradientBoostingRegressor(random_state=0).fit(X, y)
rows = spark.createDataFrame(X.reset_index(names="id"))
mlflow.set_tracking_uri(f"sqlite:///{tempfile.mkdtemp()}/mlflow.db")
mlflow.set_experiment("spark_udf migration")
with mlflow.start_run():
    uri = mlflow.sklearn.log_model(
        model, name="model", input_example=X.head(3), serialization_format="cloudpickle"
    ).model_uri

# [before]
udf = mlflow.pyfunc.spark_udf(spark, uri, result_type="double")
before = rows.withColumn("prediction", udf(*X.columns))
# [after]
from spark_sklearn_bridge import SparkBatchPredictor

after = SparkBatchPredictor.from_mlflow(uri).predict(rows)  # columns matched by name
# or, with the fitted model at hand: SparkBatchPredictor(model).predict(rows)
# [end]

left = before.select("id", "prediction").toPandas().sort_values("id")
right = after.select("id", "prediction").toPandas().sort_values("id")
np.testing.assert_allclose(left["prediction"], right["prediction"])
np.testing.assert_allclose(right["prediction"], model.predict(X))
