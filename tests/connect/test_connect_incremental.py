"""SparkIncrementalEstimator on Spark Connect (issue #24): the classic suite's tests, each
against partial_fit called by hand on the same batches, run through a Connect session (where
the server streams the partitions)."""

from test_incremental import (  # noqa: F401  (fixtures and tests run here on Connect)
    iris_sdf,
    test_a_classifier_equals_partial_fit_by_hand,
    test_bad_input_is_named_before_any_batch,
    test_local_input_and_partial_fit_continue_training,
    test_other_estimators_equal_partial_fit_by_hand,
    test_the_driver_holds_about_two_batches,
)
