"""Text and sparse data in every paradigm (issue #25), each against scikit-learn on the same
data: one column named by a string reaches a model 1-D (texts for a vectorizer), a
``pyspark.ml`` Vector column reaches it as a matrix, sparse vectors as a CSR matrix that is
never densified, and a sparse ``transform`` comes back as a Vector column."""

import resource

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from text_cases import afinn, text_pipeline

import spark_sklearn_bridge as ssb
from spark_sklearn_bridge.exceptions import ColumnError


@pytest.fixture(scope="module")
def texts():
    return afinn()


@pytest.fixture(scope="module")
def fitted(texts):
    return text_pipeline().fit(texts["text"], texts["positive"])


def by_row(spark, frame):
    return spark.createDataFrame(frame.reset_index(names="row"))


def column(out, name="prediction"):
    return np.asarray(out.orderBy("row").toPandas()[name].tolist())


# ----------------------------------------------------------------------- inference
def test_text_scored_on_spark_equals_local_predict_and_proba(spark, texts, fitted):
    rows = by_row(spark, texts[["text"]])
    assert not hasattr(fitted, "feature_names_in_")  # fitted on a list of strings
    predicted = ssb.SparkBatchPredictor(fitted, feature_cols="text").predict(rows)
    np.testing.assert_array_equal(column(predicted), fitted.predict(texts["text"]))
    proba = ssb.SparkBatchPredictor(fitted, feature_cols="text").predict_proba(rows)
    np.testing.assert_allclose(np.vstack(column(proba)), fitted.predict_proba(texts["text"]))
    # The bare UDF: one text column, a model without feature names: 1-D as well.
    score = ssb.predict_udf(fitted)
    out = rows.select("row", score("text").alias("prediction"))
    np.testing.assert_array_equal(column(out), fitted.predict(texts["text"]))
    named = ssb.predict_udf(fitted, feature_names="text")
    out = rows.select("row", named("text").alias("prediction"))
    np.testing.assert_array_equal(column(out), fitted.predict(texts["text"]))


def test_text_errors_name_the_column(spark, texts, fitted):
    frame = texts[["text"]].assign(number=np.arange(len(texts)))
    rows = by_row(spark, frame)
    with pytest.raises(ColumnError, match="'number' is bigint.*takes text"):
        ssb.SparkBatchPredictor(fitted, feature_cols="number").predict(rows)
    holes = by_row(spark, frame.assign(text=frame["text"].where(frame.index % 50 > 0)))
    with pytest.raises(Exception, match="'text' has .* null values"):
        ssb.SparkBatchPredictor(fitted, feature_cols="text").predict(holes).collect()
    with pytest.raises(ColumnError, match="holds 2 values that are not text"):
        grouped = ssb.GroupedEstimator(text_pipeline(), "group", feature_cols="text")
        bad = texts.astype({"text": object}).copy()
        bad.loc[[3, 7], "text"] = [3, 7.5]
        grouped.fit(bad[["group", "text"]], bad["positive"])


# ---------------------------------------------------------------------- per group
def test_per_group_text_models_equal_a_by_hand_loop(spark, texts):
    model = ssb.GroupedEstimator(
        text_pipeline(), "group", feature_cols="text", label_col="positive"
    ).fit(by_row(spark, texts[["group", "text", "positive"]]))
    expected = np.empty(len(texts))
    for group, rows in texts.groupby("group"):
        by_hand = text_pipeline().fit(rows["text"], rows["positive"])
        np.testing.assert_allclose(
            model.get_group_model(group)[-1].coef_, by_hand[-1].coef_, rtol=1e-10
        )
        expected[rows.index] = by_hand.predict_proba(rows["text"])[:, 1]
    out = model.predict_proba(by_row(spark, texts[["group", "text"]]))
    np.testing.assert_allclose(np.vstack(column(out))[:, 1], expected, rtol=1e-10)
    local = model.predict_proba(texts[["group", "text"]])  # pandas in, same models
    np.testing.assert_allclose(local[:, 1], expected, rtol=1e-10)


def test_a_logged_grouped_text_model_scores_texts(spark, texts, mlflow_store):
    """The MLflow pyfunc of a grouped text model passes each group's model its texts 1-D,
    loaded in Python, as a Spark UDF and by SparkBatchPredictor."""
    import mlflow

    model = ssb.GroupedEstimator(text_pipeline(), "group", feature_cols="text")
    model.fit(texts[["group", "text"]], texts["positive"])
    rows = texts[["group", "text"]].iloc[::7]
    expected = model.predict(rows)
    with mlflow.start_run():
        uri = model.log_to_mlflow()
    schema = mlflow.models.get_model_info(uri).signature.inputs
    assert schema.input_names() == ["group", "text"]
    assert schema.inputs[1].type == mlflow.types.DataType.string
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(uri).predict(rows), expected)
    sdf = by_row(spark, rows.reset_index(drop=True))
    out = ssb.SparkBatchPredictor.from_mlflow(uri).predict(sdf)
    np.testing.assert_array_equal(column(out), expected)
    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type="long")
    np.testing.assert_array_equal(
        column(sdf.withColumn("prediction", udf("group", "text"))), expected
    )


# -------------------------------------------------------------------------- search
def test_search_of_a_text_pipeline_on_spark_equals_gridsearchcv(spark, texts):
    grid = {"tfidfvectorizer__ngram_range": [(2, 3), (2, 4)], "logisticregression__C": [1, 10]}
    cv = KFold(3, shuffle=True, random_state=0)
    ours = ssb.SparkGridSearchCV(
        text_pipeline(), grid, cv=cv, feature_cols="text", label_col="positive"
    ).fit(by_row(spark, texts[["text", "positive"]]).orderBy("row"))
    theirs = GridSearchCV(text_pipeline(), grid, cv=cv).fit(texts["text"], texts["positive"])
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )
    assert ours.best_params_ == theirs.best_params_


def test_a_sparse_matrix_stays_sparse_in_a_search(spark, texts):
    X = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3)).fit_transform(texts["text"])
    seen = []

    class Spy(ClassifierMixin, BaseEstimator):
        def __init__(self, C=1.0):
            self.C = C

        def fit(self, X, y):
            seen.append(type(X).__name__)  # runs in the executors: recorded in the outcome
            self.model_ = LogisticRegression(C=self.C, max_iter=500).fit(X, y)
            self.classes_ = self.model_.classes_
            self.sparse_ = sparse.issparse(X)
            return self

        def predict(self, X):
            assert sparse.issparse(X)
            return self.model_.predict(X)

    ours = ssb.SparkGridSearchCV(Spy(), {"C": [1, 10]}, cv=3).fit(X, texts["positive"])
    theirs = GridSearchCV(Spy(), {"C": [1, 10]}, cv=3).fit(X, texts["positive"])
    assert ours.best_estimator_.sparse_
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )


# --------------------------------------------------------------------------- vectors
def hashed(spark, texts, n_features=2**18):
    """The texts hashed in Spark (Tokenizer + HashingTF): a SparseVector column."""
    from pyspark.ml.feature import HashingTF, Tokenizer

    rows = by_row(spark, texts[["text", "positive"]])
    words = Tokenizer(inputCol="text", outputCol="words").transform(rows)
    return HashingTF(inputCol="words", outputCol="tf", numFeatures=n_features).transform(words)


def collected_csr(frame):
    rows = frame.orderBy("row").select("tf", "positive").collect()
    data, indices, indptr = [], [], [0]
    for r in rows:
        data.extend(r.tf.values)
        indices.extend(r.tf.indices)
        indptr.append(len(data))
    shape = (len(rows), rows[0].tf.size)
    X = sparse.csr_matrix((np.asarray(data), np.asarray(indices), np.asarray(indptr)), shape)
    return X, np.asarray([r.positive for r in rows])


class SparseOnly(ClassifierMixin, BaseEstimator):
    """A logistic regression that refuses dense input: any densifying path fails it."""

    def fit(self, X, y):
        assert sparse.issparse(X), type(X)
        self.model_ = LogisticRegression(max_iter=500).fit(X, y)
        self.classes_, self.n_features_in_ = self.model_.classes_, X.shape[1]
        return self

    def predict(self, X):
        assert sparse.issparse(X), type(X)
        return self.model_.predict(X)

    def predict_proba(self, X):
        assert sparse.issparse(X), type(X)
        # Scored in an executor: its Python worker never held anything near the dense size
        # (2,476 x 2**18 doubles: 5.2 GB). ru_maxrss is in KiB on Linux.
        from pyspark import TaskContext

        if TaskContext.get() is not None:
            assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1_500_000
        return self.model_.predict_proba(X)


def test_a_hashed_sparse_vector_column_is_scored_without_densifying(spark, texts):
    frame = hashed(spark, texts)  # 2**18 features: dense, 2,476 rows would be 5.2 GB
    X, y = collected_csr(frame)
    model = SparseOnly().fit(X, y)
    out = ssb.SparkBatchPredictor(model, feature_cols="tf").predict_proba(frame)
    np.testing.assert_allclose(np.vstack(column(out)), model.predict_proba(X), rtol=1e-12)
    # A search and a grouped fit on the vector column get CSR matrices too.
    search = ssb.SparkGridSearchCV(
        SparseOnly(), {}, cv=2, feature_cols="tf", label_col="positive"
    ).fit(frame.orderBy("row"))
    assert search.best_estimator_.n_features_in_ == 2**18
    grouped = ssb.GroupedEstimator(SparseOnly(), "g", feature_cols="tf", label_col="positive").fit(
        frame.withColumn("g", frame["row"] % 2)
    )
    assert grouped.get_group_model(0).n_features_in_ == 2**18
    scored = grouped.predict(frame.withColumn("g", frame["row"] % 2))
    assert scored.count() == len(texts)


def test_a_vector_column_of_the_wrong_size_is_refused_before_any_job(spark, texts):
    X, y = collected_csr(hashed(spark, texts))
    model = SparseOnly().fit(X, y)
    small = hashed(spark, texts, n_features=2**10)
    before = set(spark.sparkContext.statusTracker().getJobIdsForGroup())
    with pytest.raises(ColumnError, match=r"'tf' holds vectors of size 1024.*262144"):
        ssb.SparkBatchPredictor(model, feature_cols="tf").predict(small)
    assert set(spark.sparkContext.statusTracker().getJobIdsForGroup()) == before


def test_a_sparse_transform_comes_back_as_a_vector_column(spark, texts):
    from pyspark.ml.linalg import SparseVector

    # (TF-IDF rather than a HashingVectorizer: scikit-learn 1.6's check_is_fitted calls a
    # fitted HashingVectorizer unfitted, and a predictor refuses unfitted models.)
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3)).fit(texts["text"])
    rows = by_row(spark, texts[["text"]])
    out = ssb.SparkBatchPredictor(vectorizer, feature_cols="text").transform(rows)
    assert type(out.schema["prediction"].dataType).__name__ == "VectorUDT"
    vectors = out.orderBy("row").select("prediction").collect()
    expected = vectorizer.transform(texts["text"])
    assert all(isinstance(r.prediction, SparseVector) for r in vectors)
    got = sparse.vstack([sparse.csr_matrix(r.prediction.toArray()) for r in vectors[:20]])
    np.testing.assert_allclose(got.toarray(), expected[:20].toarray())


def test_embeddings_and_binary_columns(spark):
    """An array column (embeddings) is a 2-D matrix; a binary column named by a string is a
    1-D object array of bytes."""
    from sklearn.base import TransformerMixin
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    E = rng.normal(size=(60, 4))
    model = Ridge().fit(E, E @ [1.0, 2.0, 0.0, -1.0])
    frame = pd.DataFrame({"row": np.arange(60), "emb": list(E)})
    out = ssb.SparkBatchPredictor(model, feature_cols="emb").predict(spark.createDataFrame(frame))
    np.testing.assert_allclose(column(out), model.predict(E), rtol=1e-12)

    class ByteLength(TransformerMixin, BaseEstimator):
        def fit(self, X, y=None):
            self.fitted_ = True
            return self

        def transform(self, X):
            assert X.ndim == 1 and isinstance(X[0], bytes), (type(X), X[:1])
            return np.array([[len(b)] for b in X], dtype=float)

    blobs = pd.DataFrame({"row": np.arange(5), "blob": [b"a" * i for i in range(5)]})
    out = ssb.SparkBatchPredictor(ByteLength().fit(None), feature_cols="blob").transform(
        spark.createDataFrame(blobs)
    )
    assert [v[0] for v in column(out)] == [0.0, 1.0, 2.0, 3.0, 4.0]


class RecordsSparse(ClassifierMixin, BaseEstimator):
    """A logistic regression that records whether it was given a sparse matrix."""

    def fit(self, X, y):
        self.sparse_ = sparse.issparse(X) or hasattr(X, "sparse")
        self.model_ = LogisticRegression(max_iter=500).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.model_.predict(X)


@pytest.mark.parametrize("placement", ["hash", "size"])
def test_pandas_sparse_features_stay_sparse_in_a_grouped_fit(spark, texts, placement):
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3))
    matrix = vectorizer.fit_transform(texts["text"])  # 2,476 x ~4,000, 0.2 % filled
    names = [f"f{i}" for i in range(matrix.shape[1])]
    X = pd.DataFrame.sparse.from_spmatrix(matrix, columns=names).assign(group=texts["group"])
    y = texts["positive"].to_numpy()
    model = ssb.GroupedEstimator(RecordsSparse(), "group", placement=placement).fit(X, y)
    for group, rows in X.groupby("group"):
        by_hand = LogisticRegression(max_iter=500).fit(rows[names], y[rows.index])
        ours = model.get_group_model(group)
        assert ours.sparse_ and list(ours.feature_names_in_) == names
        np.testing.assert_allclose(ours.model_.coef_, by_hand.coef_, rtol=1e-8, atol=1e-12)
    expected = RecordsSparse().fit(X[names], y)  # a sanity check that this is no dense fit
    assert expected.sparse_
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)


# ------------------------------------------------- the guide's table, row by row
def describe(X) -> str:
    """What a model was given, as the guide's table names it."""
    if sparse.issparse(X):
        return f"csr {X.dtype}" if X.format == "csr" else X.format
    if isinstance(X, pd.Series):
        return "Series"
    if isinstance(X, pd.DataFrame):
        return "DataFrame"
    return f"{X.ndim}-D {X.dtype}"


class Spy(ClassifierMixin, BaseEstimator):
    """Records what ``fit`` was given; ``predict`` answers with what it was given."""

    def fit(self, X, y):
        self.seen_ = describe(X)
        self.classes_ = np.array(sorted(set(TABLE.values())), dtype=object)  # its "labels"
        return self

    def predict(self, X):
        return np.full(X.shape[0], describe(X), dtype=object)

    def score(self, X, y):
        return 1.0


def typed_rows(spark):
    """One column of each Spark type of the guide's table (12 rows, labels 0/1)."""
    from pyspark.ml.linalg import DenseVector, SparseVector, VectorUDT
    from pyspark.sql import types as T

    schema = T.StructType(
        [
            T.StructField("row", T.LongType()),
            T.StructField("g", T.LongType()),
            T.StructField("y", T.LongType()),
            T.StructField("text", T.StringType()),
            T.StructField("blob", T.BinaryType()),
            T.StructField("a", T.DoubleType()),
            T.StructField("b", T.LongType()),
            T.StructField("emb", T.ArrayType(T.DoubleType())),
            T.StructField("dense", VectorUDT()),
            T.StructField("sparse", VectorUDT()),
        ]
    )
    rows = [
        (i, i % 2, i % 2, f"doc {i}", bytes([i]), float(i), i, [float(i), 1.0],
         DenseVector([i, 1.0]), SparseVector(4, [i % 4], [1.0]))
        for i in range(12)
    ]  # fmt: skip
    return spark.createDataFrame(rows, schema)


#: feature_cols -> what the model gets, in every paradigm (docs/guide/inference.rst).
TABLE = {
    "text": "Series",
    "blob": "1-D object",
    "a": "Series",
    ("a", "b"): "DataFrame",
    ("a", "text"): "DataFrame",
    "emb": "2-D float64",
    "dense": "2-D float64",
    "sparse": "csr float64",
}
#: ... except that a model fitted without feature names gets numeric columns as a matrix
#: from SparkBatchPredictor (as it was fitted).
UNNAMED = {("a", "b"): "2-D float64"}


@pytest.mark.parametrize("setting", list(TABLE), ids=str)
def test_which_spark_type_reaches_the_model_as_what(spark, setting):
    cols = setting if isinstance(setting, str) else list(setting)
    expected = TABLE[setting]
    data = typed_rows(spark)
    search = ssb.SparkGridSearchCV(Spy(), {}, cv=2, feature_cols=cols, label_col="y")
    assert search.fit(data).best_estimator_.seen_ == expected
    grouped = ssb.GroupedEstimator(Spy(), "g", feature_cols=cols, label_col="y").fit(data)
    assert grouped.get_group_model(0).seen_ == expected
    assert set(column(grouped.predict(data))) == {expected}
    model = search.best_estimator_  # fitted without feature names: Spy records none
    predicted = ssb.SparkBatchPredictor(model, feature_cols=cols).predict(data)
    assert set(column(predicted)) == {UNNAMED.get(setting, expected)}


def test_vector_structs_from_a_sliced_arrow_batch():
    """Arrow hands over slices of a batch: their vectors are the slice's rows."""
    import pyarrow as pa

    from spark_sklearn_bridge._model_input import vectors

    rows = [{"type": 0, "size": 4, "indices": [i % 4], "values": [float(i)]} for i in range(6)]
    rows[4] = {"type": 1, "size": None, "indices": None, "values": [1.0, 2.0, 3.0, 4.0]}
    expected = np.zeros((3, 4))
    expected[0, 3], expected[1], expected[2, 1] = 3.0, [1.0, 2.0, 3.0, 4.0], 5.0
    np.testing.assert_array_equal(vectors(pa.array(rows).slice(3)).toarray(), expected)
