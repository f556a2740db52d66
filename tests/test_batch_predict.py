import pickle

import mlflow
import numpy as np
import pytest
from pyspark.ml.linalg import Vectors
from pyspark.sql import functions as F
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_iris
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from spark_sklearn_bridge import SparkBatchPredictor, dump_model, predict_udf
from spark_sklearn_bridge.exceptions import ColumnError, NotFittedError
from spark_sklearn_bridge.inference import _predictor


@pytest.fixture(scope="module")
def iris():
    data = load_iris(as_frame=True)
    X = data.frame.drop(columns="target")
    X.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in X.columns]
    return X, data.target.to_numpy()


@pytest.fixture(scope="module")
def diabetes():
    data = load_diabetes(as_frame=True)
    return data.data, data.target.to_numpy()


def spark_column(spark, X, out_df, col="prediction"):
    """Output column of ``out_df`` in the row order of ``X`` (joined on the row key)."""
    rows = out_df.select("row", col).toPandas().sort_values("row")
    assert len(rows) == len(X)
    values = rows[col].to_list()
    return np.vstack(values) if isinstance(values[0], (list, np.ndarray)) else np.array(values)


def with_key(spark, X):
    return spark.createDataFrame(X.reset_index(drop=True).reset_index(names="row"))


def test_regressor_predictions_equal_local_row_for_row(spark, diabetes):
    X, y = diabetes
    model = RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0).fit(X, y)
    out = SparkBatchPredictor(model).predict(with_key(spark, X))
    np.testing.assert_array_equal(spark_column(spark, X, out), model.predict(X))


def test_classifier_predict_and_proba(spark, iris):
    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    model = LogisticRegression(max_iter=1000).fit(X, labels)
    sdf = with_key(spark, X)
    predictor = SparkBatchPredictor(model)
    out = predictor.predict(sdf)
    assert out.schema["prediction"].dataType.typeName() == "string"
    np.testing.assert_array_equal(spark_column(spark, X, out), model.predict(X))
    proba = spark_column(spark, X, predictor.predict_proba(sdf))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=1e-12, atol=0)
    decision = spark_column(spark, X, predictor.decision_function(sdf))
    np.testing.assert_allclose(decision, model.decision_function(X), rtol=1e-12)
    log_proba = spark_column(spark, X, predictor.predict_log_proba(sdf))
    np.testing.assert_allclose(log_proba, model.predict_log_proba(X), rtol=1e-12)
    np.testing.assert_array_equal(predictor.classes_, model.classes_)


def test_transformer_and_pipeline(spark, iris):
    X, y = iris
    pca = PCA(n_components=2).fit(X)
    sdf = with_key(spark, X)
    out = SparkBatchPredictor(pca, method="transform").transform(sdf)
    np.testing.assert_allclose(spark_column(spark, X, out), pca.transform(X), atol=1e-12)

    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=0.5)).fit(X, y)
    out = SparkBatchPredictor(pipe, method="predict_proba").transform(sdf)
    np.testing.assert_allclose(spark_column(spark, X, out), pipe.predict_proba(X), rtol=1e-9)
    labels = SparkBatchPredictor(pipe).predict(sdf)
    assert labels.schema["prediction"].dataType.typeName() == "long"
    np.testing.assert_array_equal(spark_column(spark, X, labels), pipe.predict(X))


def test_columns_are_matched_by_name_not_position(spark, iris):
    X, y = iris
    model = LinearRegression().fit(X, y)
    shuffled = X[X.columns[::-1]]  # same columns, reversed order
    out = SparkBatchPredictor(model).predict(with_key(spark, shuffled))
    np.testing.assert_allclose(spark_column(spark, X, out), model.predict(X), rtol=1e-12)


def test_array_and_vector_feature_columns(spark, iris):
    X, y = iris
    model = LinearRegression().fit(X.to_numpy(), y)
    rows = [(i, [float(v) for v in r], Vectors.dense(r)) for i, r in enumerate(X.to_numpy())]
    sdf = spark.createDataFrame(rows, ["row", "arr", "vec"])
    for column in ("arr", "vec"):
        out = SparkBatchPredictor(model, feature_cols=[column]).predict(sdf)
        np.testing.assert_allclose(spark_column(spark, X, out), model.predict(X.to_numpy()))


def test_fit_then_score_inside_pipeline(spark, diabetes):
    X, y = diabetes
    pipe = make_pipeline(StandardScaler(), SparkBatchPredictor(LinearRegression()))
    pipe.fit(X, y)
    reference = make_pipeline(StandardScaler(), LinearRegression()).fit(X, y)
    np.testing.assert_allclose(pipe.predict(X), reference.predict(X))
    assert pipe.score(X, y) == pytest.approx(reference.score(X, y))

    # fit on a Spark DataFrame (collected to the driver), then score Spark data
    sdf = spark.createDataFrame(X.assign(target=y).reset_index(names="row"))
    predictor = SparkBatchPredictor(
        LinearRegression(), feature_cols=list(X.columns), label_col="target"
    ).fit(sdf)
    local = LinearRegression().fit(X, y)
    np.testing.assert_allclose(predictor.estimator_.coef_, local.coef_, rtol=1e-10)
    out = spark_column(spark, X, predictor.predict(sdf))
    np.testing.assert_allclose(out, local.predict(X), rtol=1e-10)


def test_predict_udf_in_select_and_sql(spark, diabetes):
    X, y = diabetes
    model = LinearRegression().fit(X, y)
    sdf = with_key(spark, X)
    score = predict_udf(model)
    out = sdf.select("row", score(*X.columns).alias("prediction"))
    np.testing.assert_allclose(spark_column(spark, X, out), model.predict(X), rtol=1e-12)

    spark.udf.register("diabetes_score", score)
    sdf.createOrReplaceTempView("patients")
    cols = ", ".join(X.columns)
    out = spark.sql(f"SELECT row, diabetes_score({cols}) AS prediction FROM patients")
    np.testing.assert_allclose(spark_column(spark, X, out), model.predict(X), rtol=1e-12)


def test_batch_size_concatenates_batches(spark, diabetes):
    X, y = diabetes
    model = make_pipeline(StandardScaler(), LinearRegression()).fit(X, y)  # a Python model
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "50")
    try:
        out = SparkBatchPredictor(model, batch_size=200).predict(with_key(spark, X))
        np.testing.assert_allclose(spark_column(spark, X, out), model.predict(X), rtol=1e-12)
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")


@pytest.mark.parametrize("path", ["sql", "python"])
def test_streaming_dataframe(spark, diabetes, tmp_path, path, monkeypatch):
    X, y = diabetes
    monkeypatch.setattr(_predictor, "LINEAR_IN_SQL", path == "sql")
    model = LinearRegression().fit(X, y)
    source = tmp_path / "in"
    source.mkdir()
    X.reset_index(names="row").to_parquet(source / "part-0.parquet")
    schema = spark.read.parquet(str(source)).schema
    stream = spark.readStream.schema(schema).parquet(str(source))
    scored = SparkBatchPredictor(model).predict(stream)
    assert scored.isStreaming
    query = scored.writeStream.format("memory").queryName(f"scored_stream_{path}").start()
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    out = spark.table(f"scored_stream_{path}")
    np.testing.assert_allclose(spark_column(spark, X, out), model.predict(X), rtol=1e-12)


@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_from_mlflow_model_uri(spark, iris, tmp_path, mlflow_store):
    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X, y)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=X.head(2), serialization_format="skops"
        )
    predictor = SparkBatchPredictor.from_mlflow(info.model_uri, method="predict_proba")
    out = predictor.transform(with_key(spark, X))
    np.testing.assert_allclose(spark_column(spark, X, out), model.predict_proba(X), rtol=1e-12)


def test_model_is_deserialized_once_per_worker(spark, diabetes):
    X, y = diabetes
    model = make_pipeline(StandardScaler(), LinearRegression()).fit(X, y + 123.0)  # not cached
    sdf = with_key(spark, X).repartition(8)  # 8 tasks on 2 cores: workers are reused
    out = SparkBatchPredictor(model).predict(sdf)

    def misses_per_worker(batches):
        import os

        from spark_sklearn_bridge._shipping import worker_cache_misses

        before = worker_cache_misses()
        for batch in batches:
            yield batch.assign(pid=os.getpid(), misses=worker_cache_misses() - before)

    scored = out.mapInPandas(
        misses_per_worker, f"{out.schema.simpleString()[7:-1]}, pid long, misses long"
    )
    stats = scored.groupBy("pid").agg({"misses": "max"}).collect()
    # each worker process deserialized the model at most once, across all its tasks
    assert stats and all(r["max(misses)"] <= 1 for r in stats)
    assert len(stats) < 8


def test_clear_errors(spark, diabetes):
    X, y = diabetes
    model = LinearRegression().fit(X, y)
    sdf = with_key(spark, X)
    with pytest.raises(ColumnError, match=r"lacks: \['bmi'\]"):
        SparkBatchPredictor(model).predict(sdf.drop("bmi"))
    with pytest.raises(ColumnError, match=r"\['sex'\] are not numeric \(sex=string\)"):
        SparkBatchPredictor(model).predict(sdf.withColumn("sex", sdf["sex"].cast("string")))
    with pytest.raises(NotFittedError, match="not fitted"):
        SparkBatchPredictor(LinearRegression()).predict(sdf)
    with pytest.raises(NotFittedError):
        predict_udf(LinearRegression())
    with pytest.raises(ColumnError, match="already has a column 'row'"):
        SparkBatchPredictor(model, output_col="row").predict(sdf)
    with pytest.raises(ValueError, match="'method' parameter of SparkBatchPredictor"):
        SparkBatchPredictor(model, method="score_samples").transform(sdf)


def test_tampered_model_bytes_fail_on_the_executor(spark, diabetes, monkeypatch):
    from spark_sklearn_bridge.inference import _udf

    X, y = diabetes
    model = make_pipeline(StandardScaler(), LinearRegression()).fit(X, y - 7.0)  # not cached

    def tampered_dump(obj):
        blob = bytearray(dump_model(obj))
        blob[-3] ^= 0xFF
        return bytes(blob)

    monkeypatch.setattr(_udf, "dump_model", tampered_dump)
    out = SparkBatchPredictor(model).predict(with_key(spark, X))
    with pytest.raises(Exception, match="ModelIntegrityError"):
        out.collect()


def test_is_a_real_sklearn_meta_estimator(diabetes):
    X, y = diabetes
    predictor = SparkBatchPredictor(make_pipeline(StandardScaler(), LinearRegression()))
    assert clone(predictor).get_params()["estimator__linearregression__fit_intercept"]
    predictor.set_params(estimator__linearregression__fit_intercept=False)
    assert not predictor.estimator.steps[-1][1].fit_intercept
    assert not hasattr(predictor, "predict_proba")
    assert hasattr(SparkBatchPredictor(LogisticRegression()), "predict_proba")
    fitted = predictor.fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))
    assert fitted.n_features_in_ == X.shape[1]


# ------------------------------------------------------------ linear regressors in Spark SQL
def physical_plan(df, capsys):
    capsys.readouterr()
    df.explain()
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "make",
    [
        LinearRegression,
        lambda: Ridge(alpha=3.0),
        lambda: GridSearchCV(Ridge(), {"alpha": [0.1, 10.0]}, cv=3),
    ],
    ids=["linear", "ridge", "search"],
)
def test_linear_regressors_are_predicted_in_sql(spark, diabetes, make, capsys, monkeypatch):
    X, y = diabetes
    X = X.assign(age=(X["age"] * 100).round().astype(int), bmi=X["bmi"].astype(np.float32))
    model = make().fit(X, y)
    sdf = with_key(spark, X)
    assert dict(sdf.dtypes)["age"] == "bigint" and dict(sdf.dtypes)["bmi"] == "float"
    out = SparkBatchPredictor(model).predict(sdf)
    assert "Python" not in physical_plan(out, capsys)  # no UDF: the JVM computes X @ coef
    np.testing.assert_allclose(spark_column(spark, X, out), model.predict(X), rtol=1e-12)

    monkeypatch.setattr(_predictor, "LINEAR_IN_SQL", False)  # the control: a Python UDF
    assert "ArrowEvalPython" in physical_plan(SparkBatchPredictor(model).predict(sdf), capsys)


def test_only_exact_linear_types_on_numbers_take_the_sql_path(spark, diabetes, capsys):
    X, y = diabetes

    class Shifted(LinearRegression):
        def predict(self, X):
            return super().predict(X) + 1.0

    sdf = with_key(spark, X)
    python = {
        "subclass": SparkBatchPredictor(Shifted().fit(X, y)).predict(sdf),
        "return_type": SparkBatchPredictor(
            LinearRegression().fit(X, y), return_type="float"
        ).predict(sdf),
        "decimal": SparkBatchPredictor(LinearRegression().fit(X, y)).predict(
            sdf.withColumn("bmi", sdf["bmi"].cast("decimal(20,10)"))
        ),
        "vector": SparkBatchPredictor(
            LinearRegression().fit(X.to_numpy(), y), feature_cols=["v"]
        ).predict(sdf.select("row", F.array(*X.columns).alias("v"))),
    }
    for case, out in python.items():
        assert "ArrowEvalPython" in physical_plan(out, capsys), case


@pytest.mark.parametrize("bad", [None, float("nan"), float("inf")], ids=["null", "nan", "inf"])
def test_linear_sql_path_refuses_bad_features_naming_the_column(spark, diabetes, bad):
    X, y = diabetes
    model = LinearRegression().fit(X, y)
    sdf = with_key(spark, X)
    hole = F.lit(bad).cast("double")
    sdf = sdf.withColumn("bmi", F.when(F.col("row") == 7, hole).otherwise(F.col("bmi")))
    out = SparkBatchPredictor(model).predict(sdf)
    with pytest.raises(
        Exception,
        match=r"Feature column 'bmi' is null, NaN or infinite in a row; "
        r"LinearRegression\.predict refuses such input",
    ):
        out.collect()
    with pytest.raises(ValueError, match="NaN|infinity"):  # what scikit-learn says locally
        model.predict(X.assign(bmi=X["bmi"].where(X.index != 7, np.nan if bad is None else bad)))
