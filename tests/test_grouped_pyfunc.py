"""One deployable model: a GroupedEstimator logged to MLflow as a pyfunc model that routes each
row to its group's model (and to the fallback), loaded three ways, equal to predict."""

import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from spark_sklearn_bridge import GroupedEstimator, SparkBatchPredictor

FEATURES = ["f0", "f1"]


def data(groups, n=15, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for g in groups:
        X = rng.normal(size=(n, 2))
        frames.append(pd.DataFrame(X, columns=FEATURES).assign(g=g, y=X @ [g + 1.0, 1.0] + g))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def grouped(spark):
    train = data([0, 1, 2])
    model = GroupedEstimator(
        Ridge(), "g", feature_cols=FEATURES, fallback="global", unseen_groups="fallback"
    )
    return model.fit(train[["g", *FEATURES]], train["y"])


def quietly(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fallback's row counts
        return call()


def test_logged_grouped_model_loads_three_ways_with_equal_predictions(
    spark, grouped, mlflow_store
):
    rows = data([2, 0, 7, 1], n=4, seed=3)[["g", *FEATURES]]  # group 7 is unseen: fallback
    expected = quietly(lambda: grouped.predict(rows))
    with mlflow.start_run():
        uri = grouped.log_to_mlflow()
    info = mlflow.models.get_model_info(uri)
    assert info.signature.inputs.input_names() == ["g", *FEATURES]

    pyfunc = mlflow.pyfunc.load_model(uri)
    np.testing.assert_allclose(quietly(lambda: pyfunc.predict(rows)), expected)

    sdf = spark.createDataFrame(rows.assign(row=np.arange(len(rows))))
    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type="double")
    out = sdf.withColumn("p", udf("g", *FEATURES)).toPandas().sort_values("row")
    np.testing.assert_allclose(out["p"], expected)

    predictor = SparkBatchPredictor.from_mlflow(uri)
    out = predictor.predict(sdf).toPandas().sort_values("row")
    np.testing.assert_allclose(out["prediction"], expected)


def test_a_signature_from_an_input_example(spark, grouped, mlflow_store):
    example = data([0], n=2)[["g", *FEATURES]]
    with mlflow.start_run():
        uri = grouped.log_to_mlflow("grouped", input_example=example)
    schema = mlflow.models.get_model_info(uri).signature.inputs
    assert schema.input_names() == ["g", *FEATURES]
    np.testing.assert_allclose(
        mlflow.pyfunc.load_model(uri).predict(example), grouped.predict(example)
    )
