"""Preprocessing translated for SparkMLEstimator on Spark Connect (issue #24): the classic
suite's parity tests and refusals, each against scikit-learn on the same data, run through a
Connect session."""

from test_spark_ml_preprocessing import (  # noqa: F401  (fixtures and tests run here on Connect)
    frames,
    test_a_regression_pipeline_with_imputation_and_ordinal_codes,
    test_bad_values_are_named_before_the_model,
    test_default_feature_columns_follow_the_first_step,
    test_default_max_depth_trains_and_warns_only_at_the_cap,
    test_each_refusal_names_its_parameter,
    test_each_translated_transformer_equals_scikit_learn,
    test_saved_with_its_preprocessing,
    test_the_issue_pipeline_agrees_with_scikit_learn_and_exports,
    test_unseen_categories_at_predict_time,
)


def test_the_session_is_connect(spark):
    from spark_sklearn_bridge import is_spark_connect

    assert is_spark_connect(spark)
