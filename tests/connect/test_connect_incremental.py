"""SparkIncrementalEstimator on Spark Connect (issue #24): the classic suite's tests, each
against partial_fit called by hand on the same batches, run through a Connect session (where
each job fetches batches of the persisted epoch)."""

import numpy as np
import pytest
from pyspark import StorageLevel
from pyspark.errors import PySparkException
from pyspark.sql import functions as F
from pyspark.sql.connect.dataframe import DataFrame
from sklearn.base import clone
from sklearn.linear_model import SGDClassifier
from sklearn.utils import check_random_state
from test_incremental import (  # noqa: F401  (fixtures and tests run here on Connect)
    FEATURES,
    by_hand,
    iris_sdf,
    test_a_classifier_equals_partial_fit_by_hand,
    test_bad_input_is_named_before_any_batch,
    test_local_input_and_partial_fit_continue_training,
    test_other_estimators_equal_partial_fit_by_hand,
    test_the_driver_holds_about_two_batches,
)

from spark_sklearn_bridge import SparkIncrementalEstimator
from spark_sklearn_bridge._reserved import LABEL
from spark_sklearn_bridge.spark_ml._incremental import (
    _FETCH_BYTES,
    _numbered,
    _windows,
    epoch_batches,
)


def test_the_epochs_cache_lives_while_it_trains_and_goes_after_an_error(iris_sdf):  # noqa: F811
    """On Connect each job fetches batches of the persisted epoch: cached while partial_fit runs,
    dropped when training stops, here by partial_fit raising on the second batch."""
    # The epoch's plan as SparkIncrementalEstimator builds it (random_state=3, 4 batches).
    seed = int(check_random_state(3).randint(np.iinfo(np.int32).max))
    columns = [F.col(c).cast("double").alias(c) for c in ["a", "b", "c", "d"]]
    epoch = epoch_batches(iris_sdf.select(*columns, F.col("label").alias(LABEL)), 4, True, seed)
    numbered = _numbered(epoch)
    levels = []

    class FailsOnTheSecondBatch(SGDClassifier):
        def partial_fit(self, X, y, classes=None):
            levels.append(numbered.storageLevel)
            if len(levels) == 2:
                raise RuntimeError("second batch")
            return super().partial_fit(X, y, classes=classes)

    model = SparkIncrementalEstimator(
        FailsOnTheSecondBatch(random_state=0), label_col="label", batch_rows=300, random_state=3
    )
    with pytest.raises(RuntimeError, match="second batch"):
        model.fit(iris_sdf)
    assert levels[0] != StorageLevel.NONE
    assert numbered.storageLevel == StorageLevel.NONE


def test_a_server_that_refuses_to_cache_streams_the_epoch(iris_sdf, monkeypatch):  # noqa: F811
    """Some managed Connect servers allow no cache: the epoch is then streamed, with a warning
    naming the refusal, and the model still equals partial_fit by hand."""

    def refuse(self, *args, **kwargs):
        raise PySparkException("[NOT_SUPPORTED] PERSIST is not supported here.")

    monkeypatch.setattr(DataFrame, "persist", refuse)
    sgd = SGDClassifier(random_state=0, shuffle=False)
    with pytest.warns(UserWarning, match=r"refused to cache the epoch \(\[NOT_SUPPORTED\] PERS"):
        model = SparkIncrementalEstimator(
            sgd, feature_cols=FEATURES, batch_rows=100, epochs=2, random_state=7
        ).fit(iris_sdf)
    expected = by_hand(
        clone(sgd), iris_sdf, batch_rows=100, epochs=2, shuffle=True, random_state=7
    )
    np.testing.assert_allclose(model.estimator_.coef_, expected.coef_, rtol=1e-12)
    assert model.n_batches_ == 24


def test_small_batches_share_a_fetch_and_a_large_one_has_its_own():
    """Each Connect job brings consecutive batches up to _FETCH_BYTES, at least one batch."""
    rows = _FETCH_BYTES // 80  # rows of 10 doubles that fill one fetch
    sizes = [(0, rows // 4), (1, rows // 4), (2, rows // 4), (3, 2 * rows), (5, rows // 2), (6, 1)]
    assert _windows(sizes, row_bytes=80) == [[0, 1, 2], [3], [5, 6]]
    assert _windows([], row_bytes=80) == []
