"""SparkHalvingGridSearchCV and SparkHalvingRandomSearchCV: successive halving on Spark.

scikit-learn's halving searches run their iterations one after the other; each iteration's
candidate x fold fits go to joblib in one ``evaluate_candidates`` call, which the Spark backend
turns into one Spark job. Everything else (resources, candidate elimination, ``cv_results_``
with ``iter`` and ``n_resources``) is scikit-learn's own.
"""

from __future__ import annotations

import numpy as np
from sklearn.experimental import enable_halving_search_cv  # noqa: F401  (public opt-in)
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, HalvingRandomSearchCV

from ._base import EXTRA_CONSTRAINTS, EXTRA_DOC, SparkSearchMixin

__all__ = ["SparkHalvingGridSearchCV", "SparkHalvingRandomSearchCV"]

_PRE_DISPATCH_DOC = """
    pre_dispatch : "all" or int or str, default="all"
        As in :class:`sklearn.model_selection.GridSearchCV`. scikit-learn's halving classes do
        not expose it (they dispatch ``2 * n_jobs`` fits ahead); here ``"all"`` submits each
        iteration's fits at once, so that every iteration is ONE Spark job."""

_ATTRIBUTES_DOC = """
    Attributes
    ----------
    cv_results_, best_estimator_, best_score_, best_params_, best_index_, scorer_, \
n_splits_, refit_time_, multimetric_, n_resources_, n_candidates_, \
n_remaining_candidates_, max_resources_, min_resources_, n_iterations_, \
n_possible_iterations_, n_required_iterations_ :
        As in scikit-learn's class (``cv_results_`` has the ``iter`` and ``n_resources``
        columns).
    n_spark_jobs_ : int
        Iterations the search ran on Spark: one batch of candidates each, served by one
        pool of tasks for the whole search on classic Spark (a Spark job each on Connect).
    n_resumed_fits_ : int
        Fits taken from ``checkpoint`` instead of run (0 without one).
"""

#: Constraints: scikit-learn's, plus the Spark parameters and ``pre_dispatch`` (which
#: scikit-learn's halving classes drop from their constraints, not from their behaviour).
_CONSTRAINTS = {
    **EXTRA_CONSTRAINTS,
    "pre_dispatch": GridSearchCV._parameter_constraints["pre_dispatch"],
}


class SparkHalvingGridSearchCV(SparkSearchMixin, HalvingGridSearchCV):
    __doc__ = (
        """Successive halving over a parameter grid, each iteration's fits as one Spark job.

    A drop-in replacement for :class:`sklearn.model_selection.HalvingGridSearchCV`
    (experimental in scikit-learn; importing this class enables it there too): same
    arguments, same fitted attributes, same ``cv_results_`` for the same ``random_state``.
    Every candidate starts with few resources (samples, or the parameter named by
    ``resource``); after each iteration only the best ``1 / factor`` go on, with ``factor``
    times the resources. The fits of an iteration run as the tasks of one Spark job; the data
    is shipped to the executors once per search.

    Parameters
    ----------
    estimator, param_grid, factor, resource, max_resources, min_resources, \
aggressive_elimination, cv, scoring, refit, error_score, return_train_score, random_state, \
n_jobs, verbose :
        As in :class:`sklearn.model_selection.HalvingGridSearchCV`. ``n_jobs`` is accepted
        for compatibility and ignored (Spark's cores decide the parallelism)."""
        + _PRE_DISPATCH_DOC
        + EXTRA_DOC
        + _ATTRIBUTES_DOC
        + """
    See Also
    --------
    SparkHalvingRandomSearchCV : samples the candidates from distributions.
    SparkGridSearchCV : every candidate with all the resources.
    sklearn.model_selection.HalvingGridSearchCV : the class this replaces.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.svm import SVC
    >>> from spark_sklearn_bridge import SparkHalvingGridSearchCV
    >>> X, y = load_digits(return_X_y=True)
    >>> search = SparkHalvingGridSearchCV(
    ...     SVC(), {"C": [0.1, 1, 10], "gamma": [1e-4, 1e-3, 1e-2]}, random_state=0
    ... ).fit(X, y)
    >>> search.n_candidates_, search.n_spark_jobs_
    ([9, 3, 1], 3)
    """
    )

    _parameter_constraints = {**HalvingGridSearchCV._parameter_constraints, **_CONSTRAINTS}

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        factor=3,
        resource="n_samples",
        max_resources="auto",
        min_resources="exhaust",
        aggressive_elimination=False,
        cv=5,
        scoring=None,
        refit=True,
        error_score=np.nan,
        return_train_score=True,
        random_state=None,
        n_jobs=None,
        verbose=0,
        pre_dispatch="all",
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
            factor=factor,
            resource=resource,
            max_resources=max_resources,
            min_resources=min_resources,
            aggressive_elimination=aggressive_elimination,
            cv=cv,
            scoring=scoring,
            refit=refit,
            error_score=error_score,
            return_train_score=return_train_score,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
        )
        self.pre_dispatch = pre_dispatch
        self.spark = spark
        self.parallelism = parallelism
        self.feature_cols = feature_cols
        self.label_col = label_col
        self.mlflow = mlflow
        self.progress = progress
        self.candidate_timeout = candidate_timeout
        self.checkpoint = checkpoint
        self.task_cpus = task_cpus


class SparkHalvingRandomSearchCV(SparkSearchMixin, HalvingRandomSearchCV):
    __doc__ = (
        """Successive halving over sampled candidates, each iteration's fits as one Spark job.

    A drop-in replacement for :class:`sklearn.model_selection.HalvingRandomSearchCV`
    (experimental in scikit-learn; importing this class enables it there too): for the same
    ``random_state`` it samples the same candidates and keeps the same ones at every
    iteration. The fits of an iteration run as the tasks of one Spark job.

    Parameters
    ----------
    estimator, param_distributions, n_candidates, factor, resource, max_resources, \
min_resources, aggressive_elimination, cv, scoring, refit, error_score, return_train_score, \
random_state, n_jobs, verbose :
        As in :class:`sklearn.model_selection.HalvingRandomSearchCV`. ``n_jobs`` is accepted
        for compatibility and ignored."""
        + _PRE_DISPATCH_DOC
        + EXTRA_DOC
        + _ATTRIBUTES_DOC
        + """
    See Also
    --------
    SparkHalvingGridSearchCV : the candidates of a grid.
    SparkRandomizedSearchCV : every sampled candidate with all the resources.
    sklearn.model_selection.HalvingRandomSearchCV : the class this replaces.

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.svm import SVC
    >>> from spark_sklearn_bridge import SparkHalvingRandomSearchCV
    >>> X, y = load_digits(return_X_y=True)
    >>> search = SparkHalvingRandomSearchCV(
    ...     SVC(), {"C": loguniform(1e-2, 1e2), "gamma": loguniform(1e-4, 1e-2)},
    ...     n_candidates=8, random_state=0,
    ... ).fit(X, y)
    >>> search.n_candidates_, search.n_resources_
    ([8, 3], [100, 300])
    """
    )

    _parameter_constraints = {**HalvingRandomSearchCV._parameter_constraints, **_CONSTRAINTS}

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_candidates="exhaust",
        factor=3,
        resource="n_samples",
        max_resources="auto",
        min_resources="smallest",
        aggressive_elimination=False,
        cv=5,
        scoring=None,
        refit=True,
        error_score=np.nan,
        return_train_score=True,
        random_state=None,
        n_jobs=None,
        verbose=0,
        pre_dispatch="all",
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
            n_candidates=n_candidates,
            factor=factor,
            resource=resource,
            max_resources=max_resources,
            min_resources=min_resources,
            aggressive_elimination=aggressive_elimination,
            cv=cv,
            scoring=scoring,
            refit=refit,
            error_score=error_score,
            return_train_score=return_train_score,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
        )
        self.pre_dispatch = pre_dispatch
        self.spark = spark
        self.parallelism = parallelism
        self.feature_cols = feature_cols
        self.label_col = label_col
        self.mlflow = mlflow
        self.progress = progress
        self.candidate_timeout = candidate_timeout
        self.checkpoint = checkpoint
        self.task_cpus = task_cpus
