"""Real tables and out-of-core training (issue #24) on the standalone cluster: the classic
suite's parity tests against scikit-learn, run on a master and two 1-core workers. (On the
Connect engine, tests/connect runs the same tests.)"""

import os

import pytest
from test_incremental import (  # noqa: F401  (fixtures and tests run here on the cluster)
    iris_sdf,
    test_a_classifier_equals_partial_fit_by_hand,
    test_other_estimators_equal_partial_fit_by_hand,
)
from test_spark_ml_preprocessing import (  # noqa: F401
    frames,
    test_a_regression_pipeline_with_imputation_and_ordinal_codes,
    test_default_max_depth_trains_and_warns_only_at_the_cap,
    test_each_translated_transformer_equals_scikit_learn,
    test_saved_with_its_preprocessing,
    test_the_issue_pipeline_agrees_with_scikit_learn_and_exports,
    test_unseen_categories_at_predict_time,
)

pytestmark = pytest.mark.skipif(
    os.environ.get("SSB_ENGINE") != "cluster", reason="tests/connect runs these on Connect"
)
