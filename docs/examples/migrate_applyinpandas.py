"""From a hand-written applyInPandas to GroupedEstimator (docs/migrate/applyinpandas)."""

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

from spark_sklearn_bridge import GroupedEstimator, get_spark

spark = get_spark()
rng = np.random.default_rng(0)
frame = pd.DataFrame({"device": np.repeat(np.arange(6), 30), "load": rng.uniform(0, 1, 180)})
frame["temperature"] = 20 + (frame["device"] + 1) * frame["load"] + rng.normal(0, 0.1, 180)
readings = spark.createDataFrame(frame)


# [before]
def fit_and_predict(rows: pd.DataFrame) -> pd.DataFrame:
    model = LinearRegression().fit(rows[["load"]], rows["temperature"])
    return rows.assign(prediction=model.predict(rows[["load"]]))  # the model is lost here


schema = "device long, load double, temperature double, prediction double"
before = readings.groupBy("device").applyInPandas(fit_and_predict, schema)
# [after]
model = GroupedEstimator(LinearRegression(), group_cols="device", label_col="temperature")
model.fit(readings)  # models kept: model_table_, get_group_model, save, log_to_mlflow
after = model.predict(readings)  # and they score new rows too
# [end]

left = before.toPandas().sort_values(["device", "load"])
right = after.toPandas().sort_values(["device", "load"])
np.testing.assert_allclose(left["prediction"].to_numpy(), right["prediction"].to_numpy())
