"""scikit-learn's own search tests, run against the Spark search classes.

scikit-learn ships ``sklearn/model_selection/tests/test_search.py``. Every test function of
it that uses ``GridSearchCV`` or ``RandomizedSearchCV`` (in its body or its parametrization)
is collected here as is, with the module's ``GridSearchCV`` / ``RandomizedSearchCV`` names
bound to ``SparkGridSearchCV`` / ``SparkRandomizedSearchCV`` and every class or instance of
them (and of the halving searches) in ``pytest.mark.parametrize`` values replaced by the
Spark class (:mod:`tests._sklearn_port`). If a drop-in
replacement diverges from scikit-learn in what these tests check, they fail.

``SKIPPED`` lists the tests left out, each with its reason; ``test_every_search_test_is_
ported_or_skipped`` fails when scikit-learn adds a test that is neither (or when a listed
skip no longer exists), so nothing is left out silently.
"""

import pytest
from _sklearn_port import check_ported, port, selected
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    RandomizedSearchCV,
)
from sklearn.model_selection.tests import test_search as sk

from spark_sklearn_bridge import (
    SparkGridSearchCV,
    SparkHalvingGridSearchCV,
    SparkHalvingRandomSearchCV,
    SparkRandomizedSearchCV,
)

SPARK_CLASSES = {
    GridSearchCV: SparkGridSearchCV,
    RandomizedSearchCV: SparkRandomizedSearchCV,
    HalvingGridSearchCV: SparkHalvingGridSearchCV,  # in some parametrizations
    HalvingRandomSearchCV: SparkHalvingRandomSearchCV,
}

SKIPPED = {
    "test_multi_metric_search_forwards_metadata": (
        "asserts on a list (_Registry) that the scorers append themselves to while they run; "
        "on Spark they run in executor processes (as with any process-based joblib backend), "
        "so the driver's list stays empty. That the metadata reaches every scorer is tested "
        "by its effect on the scores: tests/test_search.py::"
        "test_multi_metric_search_forwards_metadata_on_spark"
    ),
    "test_search_callbacks_with_partial_fit_failures": (
        "its estimator class is defined inside the test function; scikit-learn's callback "
        "transport sends hook messages from worker processes with plain pickle "
        "(multiprocessing.connection), which cannot send such a class from any worker "
        "process. The same test with a module-level class: tests/test_search.py::"
        "test_callbacks_with_partial_fit_failures_on_spark"
    ),
    "test_custom_run_search": (
        "subclasses scikit-learn's BaseSearchCV (not a Spark class) and then asserts that "
        "every fitted attribute of a SparkGridSearchCV exists on it; ours has one more, "
        "n_spark_jobs_. Overriding _run_search in a subclass of the Spark classes is tested "
        "against scikit-learn in tests/test_search.py::test_subclass_overriding_run_search"
    ),
    "test_search_html_repr": (
        "asserts on the HTML repr's text for scikit-learn's own class names; the Spark "
        "classes' repr shows their own names (tested in test_search.py)"
    ),
    "test_searchcv_raise_warning_with_non_finite_score": (
        "its scorer counts its calls across fits and returns NaN on every 5th: that needs "
        "every fit in one process. Each Spark task, like each batch of joblib's process "
        "workers (GridSearchCV(n_jobs=2) emits no warning either), gets its own copy of the "
        "scorer. The warning and ranking of non-finite scores are tested with a candidate "
        "that fails: tests/test_search.py::test_error_score_nan_keeps_every_candidate"
    ),
    "test_array_api_search_cv_classifier": (
        "array API namespaces (torch, cupy, array-api-strict) are not installed here, and "
        "fits on Spark executors receive numpy arrays by design"
    ),
}

SELECTED = selected(sk, ["GridSearchCV", "RandomizedSearchCV"])

# scikit-learn's tests run under its own warning filters, not this project's "error": these
# tests produce convergence / undefined-metric warnings on purpose and assert on them with
# pytest.warns where they matter.
# They fit Spark searches: every one of them uses the suite's session.
pytestmark = [pytest.mark.filterwarnings("default"), pytest.mark.usefixtures("spark")]

globals().update(port(sk, SPARK_CLASSES, [n for n in SELECTED if n not in SKIPPED]))


def test_every_search_test_is_ported_or_skipped():
    check_ported(globals(), sk, SELECTED, SKIPPED, at_least=79)  # scikit-learn 1.9: 85
