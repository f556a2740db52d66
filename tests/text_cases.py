"""A real text data set that ships with a package (no download): pyspark's copy of the
AFINN-111 sentiment lexicon, 2,476 English words and phrases, each scored -5 to 5.

A document is a word or phrase; its label says whether its sentiment is positive. A
character n-gram TF-IDF + logistic regression learns that well above chance.
"""

from pathlib import Path

import pandas as pd
import pyspark
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

AFINN = Path(pyspark.__file__).parent / "data" / "streaming" / "AFINN-111.txt"


def afinn() -> pd.DataFrame:
    """``text``, ``score`` (-5..5), ``positive`` (0/1) and ``group`` (4 groups by the
    first letter) of every entry."""
    rows = [line.rsplit("\t", 1) for line in AFINN.read_text().splitlines() if line.strip()]
    frame = pd.DataFrame(rows, columns=["text", "score"]).astype({"score": int})
    frame["positive"] = (frame["score"] > 0).astype(int)
    frame["group"] = frame["text"].str[0].map(lambda c: "abcdefghijklmnopqrstuvwxyz".find(c) // 7)
    return frame


def text_pipeline(**tfidf):
    return make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), **tfidf),
        LogisticRegression(max_iter=1000),
    )
