"""Text and sparse data on Spark Connect (issue #25): the classic suite's cases, each against
scikit-learn on the same data, run through a Connect session; and the dimension check, which
on Connect is shown to need no job by its speed rather than by the status tracker."""

import time

import pytest
from test_text_and_sparse import (  # noqa: F401  (fixtures and tests run here on Connect)
    SparseOnly,
    collected_csr,
    hashed,
    test_a_hashed_sparse_vector_column_is_scored_without_densifying,
    test_a_logged_grouped_text_model_scores_texts,
    test_a_sparse_matrix_stays_sparse_in_a_search,
    test_a_sparse_transform_comes_back_as_a_vector_column,
    test_embeddings_and_binary_columns,
    test_pandas_sparse_features_stay_sparse_in_a_grouped_fit,
    test_per_group_text_models_equal_a_by_hand_loop,
    test_search_of_a_text_pipeline_on_spark_equals_gridsearchcv,
    test_text_errors_name_the_column,
    test_text_scored_on_spark_equals_local_predict_and_proba,
    test_which_spark_type_reaches_the_model_as_what,
)
from text_cases import afinn, text_pipeline

import spark_sklearn_bridge as ssb
from spark_sklearn_bridge.exceptions import ColumnError


@pytest.fixture(scope="module")
def texts():
    return afinn()


@pytest.fixture(scope="module")
def fitted(texts):
    return text_pipeline().fit(texts["text"], texts["positive"])


def test_the_session_is_connect(spark):
    assert ssb.is_spark_connect(spark)


def test_a_vector_column_of_the_wrong_size_is_refused_on_connect(spark, texts):
    X, y = collected_csr(hashed(spark, texts))
    model = SparseOnly().fit(X, y)
    small = hashed(spark, texts, n_features=2**10)
    small.schema  # noqa: B018  (the schema's round trip is not the check's cost)
    started = time.perf_counter()
    with pytest.raises(ColumnError, match=r"'tf' holds vectors of size 1024.*262144"):
        ssb.SparkBatchPredictor(model, feature_cols="tf").predict(small)
    assert time.perf_counter() - started < 1.0  # read from the column's metadata: no job
