"""scikit-learn's own successive-halving tests, run against the Spark halving searches.

Every test function of ``sklearn/model_selection/tests/test_successive_halving.py`` that uses
``HalvingGridSearchCV`` or ``HalvingRandomSearchCV`` is collected here as is, with those names
bound to :class:`SparkHalvingGridSearchCV` / :class:`SparkHalvingRandomSearchCV`
(:mod:`tests._sklearn_port`). ``SKIPPED`` lists the tests left out, each with its reason;
``test_every_halving_test_is_ported_or_skipped`` fails when scikit-learn adds a test that is
neither, so nothing is left out silently.
"""

import pytest
from _sklearn_port import check_ported, port, selected
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV
from sklearn.model_selection.tests import test_successive_halving as sk

from spark_sklearn_bridge import SparkHalvingGridSearchCV, SparkHalvingRandomSearchCV

SPARK_CLASSES = {
    HalvingGridSearchCV: SparkHalvingGridSearchCV,
    HalvingRandomSearchCV: SparkHalvingRandomSearchCV,
}

SKIPPED = {
    "test_base_estimator_inputs": (
        "its estimator appends the samples and parameters it gets to lists of the process "
        "that runs the fits, here the executors' (as under any process backend); "
        "tests/test_halving.py::test_each_fit_gets_the_samples_scikit_learn_gives_it "
        "records them in files and compares with scikit-learn's"
    ),
    "test_cv_results": (
        "its scorer draws from a RandomState in its closure, so every Spark task draws from "
        "its own copy and scores repeat across tasks (the test requires no ties); "
        "tests/test_halving.py::test_cv_results_equal_scikit_learns_tournament uses a "
        "deterministic tie-free scorer and compares the whole tournament with scikit-learn's"
    ),
    "test_min_resources_null": (
        "empty input is refused earlier, before any Spark job, with this package's "
        "EmptyInputError (a ValueError: 'The data has no rows'); "
        "tests/test_halving.py::test_empty_input_is_refused_before_any_job"
    ),
}

SELECTED = selected(sk, ["HalvingGridSearchCV", "HalvingRandomSearchCV"])

# scikit-learn's tests run under its own warning filters (see test_search_sklearn_port.py).
# They fit Spark searches: every one of them uses the suite's session.
pytestmark = [pytest.mark.filterwarnings("default"), pytest.mark.usefixtures("spark")]

globals().update(port(sk, SPARK_CLASSES, [n for n in SELECTED if n not in SKIPPED]))


def test_every_halving_test_is_ported_or_skipped():
    # scikit-learn 1.9 has 17 such tests; 3 are skipped
    check_ported(globals(), sk, SELECTED, SKIPPED, at_least=12)
