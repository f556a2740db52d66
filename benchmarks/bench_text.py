"""Scoring text and sparse vectors on Spark: SparkBatchPredictor against the other ways.

``python -m benchmarks.bench_text [--quick] [--repeat N]``

On ``local[2]``, each written to Spark's ``noop`` sink, side by side in one run:

1. 1,000,000 short documents (3 to 8 entries of the AFINN-111 lexicon that pyspark ships,
   ~40 characters) scored by ``TfidfVectorizer`` + ``LogisticRegression`` (fitted on 50,000
   of them): ``SparkBatchPredictor(pipe, feature_cols="text")``, a hand-written iterator
   pandas UDF, and ``mlflow.pyfunc.spark_udf``. MLflow's pyfunc hands the model a one-column
   DataFrame, which a vectorizer reads as ONE document (its column name): it is given the
   same model behind a ``ColumnTransformer`` that selects the column, as its users must.
2. The same documents hashed in Spark (``Tokenizer`` + ``HashingTF``, 2**18 features, a
   SparseVector column, cached) scored by a ``LogisticRegression`` fitted on 50,000 rows:
   ``SparkBatchPredictor(model, feature_cols="tf")`` against a hand-written iterator pandas
   UDF that builds the CSR matrix from the vectors (``mlflow.pyfunc.spark_udf`` takes no
   Vector column, and densifying is 2 MiB a row).

Reported: the cold first run of each method on its fresh frame (model shipping and worker
start-up included), then the best of ``--repeat`` warm runs, as rows/s and as the ratio of
SparkBatchPredictor's time to each peer's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ._common import report, timed

AFINN = "data/streaming/AFINN-111.txt"


def documents(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` documents of 3 to 8 random AFINN entries; ``positive``: their scores sum > 0."""
    import pyspark

    lexicon = pd.read_csv(
        Path(pyspark.__file__).parent / AFINN, sep="\t", names=["word", "score"], quoting=3
    )
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 9, size=n)
    picks = rng.integers(0, len(lexicon), size=int(lengths.sum()))
    words, scores = lexicon["word"].to_numpy(), lexicon["score"].to_numpy()
    ends = np.cumsum(lengths)
    starts = ends - lengths
    text = [" ".join(words[picks[s:e]]) for s, e in zip(starts, ends)]
    total = np.add.reduceat(scores[picks], starts)
    return pd.DataFrame({"id": np.arange(n), "text": text, "positive": (total > 0).astype(int)})


def hand_written_text_udf(model):
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("long")
    def score(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        for texts in batches:
            yield pd.Series(model.predict(texts))

    return score


def hand_written_vector_udf(model):
    """What a user writes for a Vector column: a pandas UDF gets the vectors as a frame of
    the Vector type's fields (``type``, ``size``, ``indices``, ``values``); the sparse
    rows' indices and values become a CSR matrix."""
    from pyspark.sql.functions import pandas_udf
    from scipy import sparse

    @pandas_udf("long")
    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.Series]:
        for vectors in batches:
            indices, values = vectors["indices"], vectors["values"]
            indptr = np.cumsum([0] + [len(i) for i in indices])
            X = sparse.csr_matrix(
                (np.concatenate(values.tolist()), np.concatenate(indices.tolist()), indptr),
                shape=(len(vectors), int(vectors["size"].iloc[0])),
            )
            yield pd.Series(model.predict(X))

    return score


def mlflow_text_udf(spark, pipe, train, tmp):
    """The same TF-IDF model as MLflow can serve it: behind a ColumnTransformer."""
    import mlflow
    from sklearn.base import clone
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline

    served = make_pipeline(make_column_transformer((clone(pipe[0]), "text")), clone(pipe[-1])).fit(
        train[["text"]], train["positive"]
    )
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            served,
            name="model",
            serialization_format="cloudpickle",
            signature=mlflow.models.infer_signature(train[["text"]].head(), [1]),
        )
    return served, mlflow.pyfunc.spark_udf(
        spark, info.model_uri, result_type="long", env_manager="local"
    )


def warm_up(sdf):
    """Start the Python workers and the JVM's code paths of a scalar-iterator UDF on each
    kind of column before the first cold run, for every method alike."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("long")
    def noop(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        for batch in batches:
            yield pd.Series(np.zeros(len(batch), dtype=np.int64))

    noop_sink(sdf.withColumn("p", noop(sdf.columns[-1])))


def noop_sink(frame):
    frame.write.format("noop").mode("overwrite").save()


def measure(part, method, n_rows, make_frame, repeat, rows):
    """The cold first run of a fresh frame, then the best of ``repeat`` warm runs."""
    frame = make_frame()
    start = time.perf_counter()
    noop_sink(frame)
    cold = time.perf_counter() - start
    warm, _ = timed(partial(noop_sink, frame), repeat=repeat)
    rows.append(
        {
            "part": part,
            "method": method,
            "cold s": round(cold, 2),
            "warm s": round(warm, 2),
            "rows/s": int(n_rows / warm),
        }
    )
    return frame


def check_equal(frame, expected, what):
    """A benchmark that scores wrongly measures nothing: compare a sample with sklearn."""
    got = frame.filter("id < 2000").select("id", "p").toPandas().sort_values("id")["p"]
    np.testing.assert_array_equal(got.to_numpy(), expected[:2000], err_msg=what)


def main(argv=None):
    from pyspark.ml.feature import HashingTF, Tokenizer
    from pyspark.sql import functions as F
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from spark_sklearn_bridge import SparkBatchPredictor
    from spark_sklearn_bridge._session import build_local_session

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10x fewer documents")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs (best reported)")
    args = parser.parse_args(argv)
    n_rows = 100_000 if args.quick else 1_000_000
    spark = build_local_session("local[2]", {"spark.driver.memory": "6g"})
    docs = documents(n_rows)
    train = docs.iloc[:50_000]
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
    pipe.fit(train["text"], train["positive"])
    expected = pipe.predict(docs["text"].iloc[:2000])
    sdf = spark.createDataFrame(docs[["id", "text"]]).repartition(4).cache()
    sdf.count()
    warm_up(sdf)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        served, mudf = mlflow_text_udf(spark, pipe, train, tmp)
        np.testing.assert_array_equal(served.predict(docs[["text"]].iloc[:2000]), expected)
        text_methods = {
            "SparkBatchPredictor": lambda: SparkBatchPredictor(
                pipe, feature_cols="text", output_col="p"
            ).predict(sdf),
            "hand-written iterator pandas UDF": lambda: sdf.withColumn(
                "p", hand_written_text_udf(pipe)("text")
            ),
            "mlflow.pyfunc.spark_udf": lambda: sdf.withColumn("p", mudf("text")),
        }
        for method, make in text_methods.items():
            frame = measure("text: TF-IDF + LR", method, n_rows, make, args.repeat, rows)
            check_equal(frame, expected, method)

    tokens = Tokenizer(inputCol="text", outputCol="words").transform(sdf)
    hashed = HashingTF(inputCol="words", outputCol="tf", numFeatures=2**18).transform(tokens)
    hashed = hashed.select("id", "tf").cache()
    hashed.count()
    warm_up(hashed)
    sample = hashed.filter(F.col("id") < 50_000).orderBy("id").toPandas()
    X = sparse.csr_matrix(
        (
            np.concatenate([v.values for v in sample["tf"]]),
            np.concatenate([v.indices for v in sample["tf"]]),
            np.cumsum([0] + [len(v.indices) for v in sample["tf"]]),
        ),
        shape=(len(sample), 2**18),
    )
    model = LogisticRegression(max_iter=1000).fit(X, train["positive"])
    expected = model.predict(X[:2000])
    vector_methods = {
        "SparkBatchPredictor": lambda: SparkBatchPredictor(
            model, feature_cols="tf", output_col="p"
        ).predict(hashed),
        "hand-written iterator pandas UDF": lambda: hashed.withColumn(
            "p", hand_written_vector_udf(model)("tf")
        ),
    }
    for method, make in vector_methods.items():
        frame = measure("2**18 sparse LR", method, n_rows, make, args.repeat, rows)
        check_equal(frame, expected, method)

    notes = []
    for part in dict.fromkeys(r["part"] for r in rows):
        ours = next(r for r in rows if r["part"] == part and r["method"] == "SparkBatchPredictor")
        for r in rows:
            if r["part"] == part and r is not ours:
                notes.append(
                    f"{part}: {r['method']} / SparkBatchPredictor time: "
                    f"warm {r['warm s'] / ours['warm s']:.2f}x, "
                    f"cold {r['cold s'] / ours['cold s']:.2f}x"
                )
    report("text", rows, notes="\n".join(notes))


if __name__ == "__main__":
    main()
