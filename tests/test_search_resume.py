"""Resumable searches (issue #13, point 2): a search interrupted midway and run again with
the same ``checkpoint`` reuses every fit that finished and gives scikit-learn's results."""

import numpy as np
import pytest
from hyperopt import hp
from search_cancel_cases import SlowFit, files_in, fits_seen, interrupt_when
from sklearn.model_selection import GridSearchCV

from spark_sklearn_bridge import SparkGridSearchCV, SparkHyperoptSearchCV

X = np.arange(40, dtype=float).reshape(20, 2)
y = np.arange(20, dtype=float) + 1


# Python's own Ctrl-C handler for every test here (see conftest.plain_sigint).
pytestmark = pytest.mark.usefixtures("spark", "plain_sigint")


def interrupted(search, checkpoint, n_finished):
    """Fit ``search``, Ctrl-C once ``n_finished`` fits are in the checkpoint."""
    interrupt_when(lambda: files_in(checkpoint / "fits") >= n_finished, delay=0.3)
    with pytest.raises(KeyboardInterrupt):
        search.fit(X, y)


def test_an_interrupted_grid_search_resumes_without_refitting(tmp_path):
    log, checkpoint = tmp_path / "log", tmp_path / "checkpoint"
    log.mkdir()
    grid = {"alpha": [0.5, 0.8, 0.9, 1.0, 1.1, 1.5]}  # 6 candidates x 2 folds

    def search():
        return SparkGridSearchCV(
            SlowFit(sleep=1.5, log_dir=str(log)), grid, cv=2, checkpoint=str(checkpoint)
        )

    interrupted(search(), checkpoint, 2)
    started_before = fits_seen(log)
    resumed = search().fit(X, y)
    ran_again = fits_seen(log) - started_before
    assert 1 <= resumed.n_resumed_fits_ < 12  # stopped midway, and some fits were kept
    # only the unfinished fits ran, and the refit of the best candidate on all the data
    assert ran_again == 12 - resumed.n_resumed_fits_ + 1
    expected = GridSearchCV(SlowFit(sleep=0), grid, cv=2).fit(X, y)
    for key in ("mean_test_score", "split0_test_score", "split1_test_score", "rank_test_score"):
        np.testing.assert_allclose(resumed.cv_results_[key], expected.cv_results_[key])
    assert resumed.best_params_ == expected.best_params_
    again = search().fit(X, y)  # everything is in the checkpoint now
    assert again.n_resumed_fits_ == 12 and again.n_spark_jobs_ == 0


def test_an_interrupted_hyperopt_search_resumes_where_it_stopped(tmp_path):
    log, checkpoint = tmp_path / "log", tmp_path / "checkpoint"
    log.mkdir()

    def search(path):
        return SparkHyperoptSearchCV(
            SlowFit(sleep=1.0, log_dir=str(log)),
            {"alpha": hp.uniform("alpha", 0.5, 1.5)},
            max_evals=8,
            cv=2,
            parallelism=2,
            random_state=3,
            checkpoint=str(path),
        )

    interrupted(search(checkpoint), checkpoint, 4)
    resumed = search(checkpoint).fit(X, y)
    assert 1 <= resumed.n_resumed_fits_ < 16
    fresh = search(tmp_path / "other").fit(X, y)  # an uninterrupted run, same seed
    assert resumed.cv_results_["params"] == fresh.cv_results_["params"]
    np.testing.assert_allclose(
        resumed.cv_results_["mean_test_score"], fresh.cv_results_["mean_test_score"]
    )


def test_a_checkpoint_of_other_data_is_refused(tmp_path):
    SparkGridSearchCV(SlowFit(sleep=0), {"alpha": [1.0]}, cv=2, checkpoint=str(tmp_path)).fit(X, y)
    with pytest.raises(ValueError, match="was written by another search .*data"):
        SparkGridSearchCV(SlowFit(sleep=0), {"alpha": [1.0]}, cv=2, checkpoint=str(tmp_path)).fit(
            X, y * 2
        )


def test_fits_are_reused_only_for_the_same_scoring(tmp_path):
    grid = {"alpha": [0.5, 1.0]}

    def search(scoring):
        return SparkGridSearchCV(
            SlowFit(sleep=0), grid, cv=2, scoring=scoring, checkpoint=str(tmp_path)
        ).fit(X, y)

    search("r2")
    other = search("neg_mean_absolute_error")  # same candidates and splits, other scores
    assert other.n_resumed_fits_ == 0
    expected = GridSearchCV(SlowFit(sleep=0), grid, cv=2, scoring="neg_mean_absolute_error")
    np.testing.assert_allclose(
        other.cv_results_["mean_test_score"], expected.fit(X, y).cv_results_["mean_test_score"]
    )
    assert search("r2").n_resumed_fits_ == 4
