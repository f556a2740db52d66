"""SparkGridSearchCV and SparkRandomizedSearchCV: scikit-learn's searches, fits on Spark."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

from ._base import EXTRA_CONSTRAINTS, EXTRA_DOC, SparkSearchMixin

__all__ = ["SparkGridSearchCV", "SparkRandomizedSearchCV"]


class SparkGridSearchCV(SparkSearchMixin, GridSearchCV):
    __doc__ = (
        """Exhaustive search over a parameter grid, candidates fitted as Spark tasks.

    A drop-in replacement for :class:`sklearn.model_selection.GridSearchCV`: same arguments,
    same fitted attributes, same ``cv_results_``. Every candidate x fold fit of the grid runs
    as a task of one Spark job; the data is shipped to the executors once. ``n_jobs`` is
    accepted for compatibility and ignored (Spark's cores decide the parallelism).

    Parameters
    ----------
    estimator, param_grid, scoring, n_jobs, refit, cv, verbose, pre_dispatch, error_score, \
return_train_score :
        As in :class:`sklearn.model_selection.GridSearchCV`, except ``pre_dispatch``
        defaults to ``"all"`` (all fits in one Spark job)."""
        + EXTRA_DOC
        + """
    Attributes
    ----------
    cv_results_, best_estimator_, best_score_, best_params_, best_index_, scorer_, \
n_splits_, refit_time_, multimetric_, classes_, n_features_in_, feature_names_in_ :
        As in :class:`sklearn.model_selection.GridSearchCV`.
    n_spark_jobs_ : int
        Batches of candidates the search ran on Spark (one ``evaluate_candidates`` call
        each): a Spark job each, or on classic Spark one pool of tasks that serves them
        all (see the search guide).
    n_resumed_fits_ : int
        Fits taken from ``checkpoint`` instead of run (0 without one).

    See Also
    --------
    SparkRandomizedSearchCV : samples candidates instead of trying them all.
    SparkHyperoptSearchCV : proposes candidates from the scores so far (TPE).
    sklearn.model_selection.GridSearchCV : the class this replaces.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.svm import SVC
    >>> from spark_sklearn_bridge import SparkGridSearchCV
    >>> X, y = load_iris(return_X_y=True)
    >>> search = SparkGridSearchCV(SVC(), {"C": [0.1, 1, 10]}, cv=3).fit(X, y)
    >>> search.best_params_
    {'C': 10}
    >>> search.n_spark_jobs_
    1
    """
    )

    _parameter_constraints = {**GridSearchCV._parameter_constraints, **EXTRA_CONSTRAINTS}

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="all",
        error_score=np.nan,
        return_train_score=False,
        spark=None,
        parallelism=None,
        feature_cols=None,
        label_col=None,
        mlflow=False,
        progress=None,
        candidate_timeout=None,
        checkpoint=None,
        task_cpus=None,
    ):
        super().__init__(
            estimator,
            param_grid,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.spark = spark
        self.parallelism = parallelism
        self.feature_cols = feature_cols
        self.label_col = label_col
        self.mlflow = mlflow
        self.progress = progress
        self.candidate_timeout = candidate_timeout
        self.checkpoint = checkpoint
        self.task_cpus = task_cpus


class SparkRandomizedSearchCV(SparkSearchMixin, RandomizedSearchCV):
    __doc__ = (
        """Randomized search, candidates fitted as Spark tasks.

    A drop-in replacement for :class:`sklearn.model_selection.RandomizedSearchCV`: for the same
    ``random_state`` it draws the same candidates (the sampling is scikit-learn's own), and
    every candidate x fold fit runs as a task of one Spark job.

    Parameters
    ----------
    estimator, param_distributions, n_iter, scoring, n_jobs, refit, cv, verbose, \
pre_dispatch, random_state, error_score, return_train_score :
        As in :class:`sklearn.model_selection.RandomizedSearchCV`, except ``pre_dispatch``
        defaults to ``"all"``."""
        + EXTRA_DOC
        + """
    Attributes
    ----------
    cv_results_, best_estimator_, best_score_, best_params_, best_index_, scorer_, \
n_splits_, refit_time_, multimetric_ :
        As in :class:`sklearn.model_selection.RandomizedSearchCV`.
    n_spark_jobs_ : int
        Batches of candidates the search ran on Spark (see :class:`SparkGridSearchCV`).
    n_resumed_fits_ : int
        Fits taken from ``checkpoint`` instead of run (0 without one).

    See Also
    --------
    SparkGridSearchCV : tries every candidate of a grid.
    SparkHyperoptSearchCV : proposes candidates from the scores so far (TPE).
    sklearn.model_selection.RandomizedSearchCV : the class this replaces.

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from spark_sklearn_bridge import SparkRandomizedSearchCV
    >>> X, y = load_iris(return_X_y=True)
    >>> search = SparkRandomizedSearchCV(
    ...     LogisticRegression(max_iter=500), {"C": loguniform(1e-2, 1e2)}, n_iter=4,
    ...     random_state=0, cv=3).fit(X, y)
    >>> len(search.cv_results_["params"])
    4
    """
    )

    _parameter_constraints = {**RandomizedSearchCV._parameter_constraints, **EXTRA_CONSTRAINTS}

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_iter=10,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="all",
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
        spark=None,
        parallelism=None,
        feature_cols=None,
        label_col=None,
        mlflow=False,
        progress=None,
        candidate_timeout=None,
        checkpoint=None,
        task_cpus=None,
    ):
        super().__init__(
            estimator,
            param_distributions,
            n_iter=n_iter,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            random_state=random_state,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.spark = spark
        self.parallelism = parallelism
        self.feature_cols = feature_cols
        self.label_col = label_col
        self.mlflow = mlflow
        self.progress = progress
        self.candidate_timeout = candidate_timeout
        self.checkpoint = checkpoint
        self.task_cpus = task_cpus
