"""Text and sparse vectors on Spark: a TF-IDF classifier scored, fitted per group and searched
on a text column; a SparseVector column scored without densifying (docs/guide/inference)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyspark
from pyspark.ml.feature import HashingTF, Tokenizer
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from spark_sklearn_bridge import (
    GroupedEstimator,
    SparkBatchPredictor,
    SparkGridSearchCV,
    get_spark,
)

spark = get_spark()
# The AFINN-111 sentiment lexicon, shipped with pyspark: 2,476 words and phrases, scored -5..5.
lexicon = Path(pyspark.__file__).parent / "data" / "streaming" / "AFINN-111.txt"
words = pd.read_csv(lexicon, sep="\t", names=["text", "score"], quoting=3)
words["positive"] = (words["score"] > 0).astype(int)
words["first"] = words["text"].str[0]
docs = spark.createDataFrame(words.reset_index(names="id"))

# [text]
# A pipeline fitted on a list of strings; feature_cols="text" (a string, not a list) gives
# it the column 1-D, as ColumnTransformer does.
pipe = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)), LogisticRegression())
pipe.fit(words["text"], words["positive"])
scored = SparkBatchPredictor(pipe, feature_cols="text").predict_proba(docs)

# One text model per first letter, and a search on the Spark DataFrame:
per_letter = GroupedEstimator(pipe, "first", feature_cols="text", label_col="positive")
per_letter.fit(docs.filter("first IN ('a', 'b', 'c')"))
grid = {"logisticregression__C": [1.0, 10.0]}
search = SparkGridSearchCV(pipe, grid, cv=3, feature_cols="text", label_col="positive")
search.fit(docs)
# [vectors]
# A SparseVector column made in Spark (2**18 hashed features) reaches the model as a
# scipy.sparse CSR matrix: never densified.
tokens = Tokenizer(inputCol="text", outputCol="words").transform(docs)
hashed = HashingTF(inputCol="words", outputCol="tf", numFeatures=2**18).transform(tokens)
rows = hashed.select("id", "tf", "positive").toPandas().sort_values("id")
X = sparse.csr_matrix(  # the same vectors, fitted on locally
    (
        np.concatenate([v.values for v in rows["tf"]]),
        np.concatenate([v.indices for v in rows["tf"]]),
        np.cumsum([0] + [len(v.indices) for v in rows["tf"]]),
    ),
    shape=(len(rows), 2**18),
)
model = LogisticRegression().fit(X, rows["positive"])
hashed_scores = SparkBatchPredictor(model, feature_cols="tf").predict(hashed)
# [end]

p = scored.select("id", "prediction").toPandas().sort_values("id")
np.testing.assert_allclose(np.stack(p["prediction"]), pipe.predict_proba(words["text"]))
theirs = GridSearchCV(pipe, grid, cv=3).fit(words["text"], words["positive"])
assert search.best_params_ == theirs.best_params_
letter_b = words[words["first"] == "b"]
by_hand = make_pipeline(
    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)), LogisticRegression()
)
by_hand.fit(letter_b["text"], letter_b["positive"])
np.testing.assert_allclose(per_letter.get_group_model("b")[-1].coef_, by_hand[-1].coef_)
h = hashed_scores.select("id", "prediction").toPandas().sort_values("id")
np.testing.assert_array_equal(h["prediction"], model.predict(X))
