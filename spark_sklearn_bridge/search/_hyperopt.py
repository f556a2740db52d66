"""SparkHyperoptSearchCV: Bayesian (TPE), annealing or random search with Hyperopt on Spark.

Each round asks Hyperopt for ``parallelism`` proposals, evaluates them through scikit-learn's
``evaluate_candidates`` (all their folds as one Spark job) and feeds the mean test scores
back as losses. Hyperopt's own ``SparkTrials`` remains available as ``backend``.
"""

from __future__ import annotations

import time
import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from .._compat import BaseSearchCV, Interval, StrOptions
from .._session import get_spark, require_spark_context
from .._threads import running_in_spark_task
from ..exceptions import SearchTimeoutError
from ..parallel._runner import JobTimedOut
from ._base import EXTRA_CONSTRAINTS, EXTRA_DOC, SparkSearchMixin
from ._space import resolve_algo, to_hyperopt_space

__all__ = ["SparkHyperoptSearchCV"]


class SparkHyperoptSearchCV(SparkSearchMixin, BaseSearchCV):
    __doc__ = (
        """Bayesian (Hyperopt TPE), annealing or random search, candidates fitted on Spark.

    Each round asks Hyperopt for ``parallelism`` candidates, fits all their folds as the tasks
    of one Spark job, and feeds the mean test scores back (loss = -score). The result has the
    same attributes as scikit-learn's searches (``cv_results_`` keys and meaning included),
    plus the Hyperopt history in ``trials_``.

    Parameters
    ----------
    estimator : estimator or Pipeline
        The estimator whose hyperparameters are searched (cloned for every fit).
    search_space : dict, list of dicts, or Hyperopt space
        A Hyperopt expression (``hp.*``), or a scikit-learn style dict (a list of dicts is a
        choice between sub-spaces): lists become ``hp.choice``; ``scipy.stats`` ``uniform``,
        ``loguniform``, ``randint`` and ``norm`` become ``hp.uniform``, ``hp.loguniform``,
        ``hp.randint`` and ``hp.normal``; other distributions raise a ``ValueError`` naming the
        parameter.
    max_evals : int, default=50
        Candidates to evaluate at most.
    algo : {"tpe", "random", "anneal"} or callable, default="tpe"
        Hyperopt suggest function (``hyperopt.tpe.suggest`` etc. are accepted as well).
    n_startup_evals : int, optional
        For TPE: candidates drawn at random before TPE starts modelling the scores. Default:
        chosen from the budget and the space, ``min(20, max(2 * n_params + 2, max_evals //
        5, parallelism))`` (10 for a 4-parameter space up to 54 evaluations), where
        Hyperopt's own default of 20 would spend most of a small budget at random. The value
        used is :attr:`n_startup_evals_`. Candidates still pending in a parallel round count
        as the worst so far (Hyperopt's rule), which keeps one round's proposals apart.
    scoring, n_jobs, refit, cv, verbose, pre_dispatch, error_score, return_train_score :
        As in scikit-learn's searches. With several metrics, the one named by ``refit`` is
        optimised.
    random_state : int, RandomState or None
        Seeds Hyperopt's proposals.
    timeout : float, optional
        Seconds after which the search stops: no new round starts, and a round still running
        is cancelled with its Spark job, the first one included. The search then ends with
        the candidates of the rounds that finished; a cancelled round's candidates are left
        out of ``cv_results_`` and are in ``trials_`` as failed trials whose result says
        ``"cancelled": True``. If no round finished in time, ``fit`` raises
        :class:`~spark_sklearn_bridge.exceptions.SearchTimeoutError`.
    loss_threshold : float, optional
        Stop once a candidate's loss (-mean test score) is at most this.
    early_stop_fn : callable, optional
        Hyperopt-style ``early_stop_fn(trials, *state) -> (stop, state)``, called after each
        round (e.g. ``hyperopt.early_stop.no_progress_loss(10)``).
    backend : {"spark", "spark_trials"}, default="spark"
        ``"spark"``: rounds of candidates as Spark jobs (works on Spark Connect).
        ``"spark_trials"``: Hyperopt's own ``SparkTrials`` drives the search (one Spark job per
        trial; classic Spark only); ``cv_results_`` then comes from one more batched job, so
        each candidate is fitted twice."""
        + EXTRA_DOC
        + """
    Attributes
    ----------
    cv_results_, best_estimator_, best_score_, best_params_, best_index_, scorer_, \
n_splits_, refit_time_, multimetric_ :
        As in scikit-learn's searches.
    trials_ : hyperopt.Trials
        The Hyperopt history (``loss`` = -mean test score of the optimised metric).
    n_startup_evals_ : int or None
        Random candidates TPE drew before modelling the scores (None for other ``algo``).
    n_spark_jobs_ : int
        Rounds the search ran on Spark itself with ``backend="spark"`` (one pool of tasks
        serves them all on classic Spark, a Spark job each on Connect).
    n_resumed_fits_ : int
        Fits taken from ``checkpoint`` instead of run (0 without one).

    See Also
    --------
    SparkRandomizedSearchCV : random candidates, scikit-learn's own sampling.
    SparkGridSearchCV : every candidate of a grid.
    sklearn.model_selection.RandomizedSearchCV : scikit-learn's random search.

    Examples
    --------
    >>> from hyperopt import hp
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.svm import SVC
    >>> from spark_sklearn_bridge import SparkHyperoptSearchCV
    >>> X, y = load_iris(return_X_y=True)
    >>> space = {"C": hp.loguniform("C", -3, 3), "kernel": hp.choice("kernel", ["rbf", "linear"])}
    >>> search = SparkHyperoptSearchCV(SVC(), space, max_evals=6, random_state=0, cv=3)
    >>> len(search.fit(X, y).cv_results_["params"]), len(search.trials_.trials)
    (6, 6)
    """
    )

    _parameter_constraints = {
        **BaseSearchCV._parameter_constraints,
        **EXTRA_CONSTRAINTS,
        "search_space": "no_validation",
        "max_evals": [Interval(Integral, 1, None, closed="left")],
        "algo": "no_validation",
        "n_startup_evals": [None, Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "timeout": [None, Interval(Real, 0, None, closed="neither")],
        "loss_threshold": [None, Real],
        "early_stop_fn": [None, callable],
        "backend": [StrOptions({"spark", "spark_trials"})],
    }

    def __init__(
        self,
        estimator,
        search_space,
        *,
        max_evals=50,
        algo="tpe",
        n_startup_evals=None,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=5,
        verbose=0,
        pre_dispatch="all",
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
        timeout=None,
        loss_threshold=None,
        early_stop_fn=None,
        backend="spark",
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
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.search_space = search_space
        self.max_evals = max_evals
        self.algo = algo
        self.n_startup_evals = n_startup_evals
        self.random_state = random_state
        self.timeout = timeout
        self.loss_threshold = loss_threshold
        self.early_stop_fn = early_stop_fn
        self.backend = backend
        self.spark = spark
        self.parallelism = parallelism
        self.feature_cols = feature_cols
        self.label_col = label_col
        self.mlflow = mlflow
        self.progress = progress
        self.candidate_timeout = candidate_timeout
        self.checkpoint = checkpoint
        self.task_cpus = task_cpus

    def fit(self, X, y=None, **params):
        """Run the search: rounds of Hyperopt proposals, each fitted as one Spark job.

        Parameters
        ----------
        X : array-like, pandas DataFrame or Spark DataFrame
            Spark input is collected to the driver; ``feature_cols`` / ``label_col`` select
            its columns.
        y : array-like, optional
            Target for local input.
        **params
            Passed on as scikit-learn does (fit parameters, ``groups`` for group splitters).

        Returns
        -------
        self : SparkHyperoptSearchCV
            The fitted search.
        """
        self._validate_params()
        if self.backend == "spark_trials" and not running_in_spark_task():
            require_spark_context(
                get_spark(self.spark),
                "SparkHyperoptSearchCV(backend='spark_trials') (Hyperopt's SparkTrials)",
                "Use the default backend='spark', which runs on Spark Connect.",
            )
        # Bad spaces, algorithms and metrics fail here, before any Spark job.
        self._space = to_hyperopt_space(self.search_space)
        _check_space_gives_parameters(self._space)
        self._algo = resolve_algo(self.algo)
        self._metric()
        return super().fit(X, y, **params)

    def _metric(self):
        """Name of the metric whose mean test score the search maximises."""
        if isinstance(self.scoring, (dict, list, tuple)):
            if not isinstance(self.refit, str):
                raise ValueError(
                    "SparkHyperoptSearchCV optimises one metric: with several metrics set "
                    f"refit to the name of the scorer to optimise; got refit={self.refit!r}."
                )
            return self.refit
        return "score"

    def _run_search(self, evaluate_candidates, callback_ctx=None):
        import hyperopt
        from hyperopt.base import (
            JOB_STATE_DONE,
            STATUS_FAIL,
            STATUS_OK,
            spec_from_misc,
        )

        space, algo, metric = self._space, self._algo, self._metric()
        rng = check_random_state(self.random_state)
        backend = self.__dict__.get("_backend")  # None inside another job's task: one by one
        domain = hyperopt.Domain(lambda params: 0.0, space)
        # Rounds of `parallelism` proposals (inside another job's task, fitted one by one
        # there): the proposals depend on the round size, so an explicit parallelism gives
        # the same candidates wherever the search runs.
        batch = max(1, backend.parallelism) if backend is not None else (self.parallelism or 1)
        self.n_startup_evals_ = None
        if algo is hyperopt.tpe.suggest:
            self.n_startup_evals_ = self._startup_evals(len(domain.params), batch)
            algo = partial(algo, n_startup_jobs=self.n_startup_evals_)
        if self.backend == "spark_trials" and backend is not None:
            return self._search_with_spark_trials(evaluate_candidates, space, algo, rng)
        trials = hyperopt.Trials()
        self.trials_ = trials
        start = time.monotonic()
        if self.timeout is not None and backend is not None:  # cancels a round past it
            backend.runner.deadline = start + self.timeout
        early_state = []
        while len(trials.trials) < self.max_evals:
            docs = []
            for _ in range(min(batch, self.max_evals - len(trials.trials))):
                # One proposal at a time: TPE proposes one point per call, and sees the
                # earlier proposals of this round as pending (worst-case) trials.
                new = algo(trials.new_trial_ids(1), domain, trials, rng.randint(2**31 - 1))
                trials.insert_trial_docs(new)
                trials.refresh()
                docs.extend(new)
            candidates = [hyperopt.space_eval(space, spec_from_misc(d["misc"])) for d in docs]
            try:
                results = evaluate_candidates(candidates)
            except JobTimedOut:
                for doc in docs:  # failed trials (hyperopt lists no cancelled ones)
                    doc["result"] = {
                        "status": STATUS_FAIL,
                        "cancelled": True,
                        "failure": f"cancelled by the search's timeout of {self.timeout:g} s",
                    }
                    doc["state"] = JOB_STATE_DONE
                trials.refresh()
                finished = [t for t in trials.trials if not t["result"].get("cancelled")]
                if not finished:
                    raise SearchTimeoutError(
                        f"SparkHyperoptSearchCV's timeout of {self.timeout:g} s passed before "
                        f"any candidate finished: the first round of {len(docs)} candidates "
                        "was cancelled. Give the search more time, or candidates less work "
                        "(fewer folds, less data, cheaper parameters)."
                    ) from None
                break
            if f"mean_test_{metric}" not in results:
                raise ValueError(
                    "The scoring callable returned several metrics; set refit to the name of "
                    "the one SparkHyperoptSearchCV should optimise."
                )
            scores = results[f"mean_test_{metric}"][-len(docs) :]
            for doc, score in zip(docs, scores):
                doc["result"] = (
                    {"loss": -float(score), "status": STATUS_OK}
                    if np.isfinite(score)
                    else {"status": STATUS_FAIL}
                )
                doc["state"] = JOB_STATE_DONE
            trials.refresh()
            losses = [r["loss"] for r in trials.results if r.get("status") == STATUS_OK]
            if self.loss_threshold is not None and losses and min(losses) <= self.loss_threshold:
                break
            if self.early_stop_fn is not None:
                stop, early_state = self.early_stop_fn(trials, *early_state)
                if stop:
                    break
            if self.timeout is not None and time.monotonic() - start >= self.timeout:
                break

    def _startup_evals(self, n_params: int, batch: int) -> int:
        """How many random candidates TPE draws first (``n_startup_evals`` or the default).

        TPE models the best quarter of the scores against the rest, one density per
        parameter: with fewer than about two points per parameter that model is noise, and
        with Hyperopt's fixed 20 a budget of 24 is nearly all random. A fifth of the budget,
        at least 2 per parameter + 2 and one parallel round, at most Hyperopt's 20 (measured
        in benchmarks/bench_search.py: TPE against random search over seeds and data sets).
        """
        if self.n_startup_evals is not None:
            return self.n_startup_evals
        return min(20, max(2 * n_params + 2, self.max_evals // 5, batch))

    def _search_with_spark_trials(self, evaluate_candidates, space, algo, rng):
        """Hyperopt's own SparkTrials drives the search (one Spark job per trial).

        SparkTrials computes the losses that guide Hyperopt; ``cv_results_`` is then built by
        scikit-learn from one more batched Spark job over the proposed candidates.
        """
        import hyperopt

        warnings.warn(
            "backend='spark_trials' runs one Spark job per trial (Hyperopt's SparkTrials) and "
            "fits each candidate twice; the default backend='spark' is much faster.",
            UserWarning,
            stacklevel=5,
        )
        trials = hyperopt.SparkTrials(
            parallelism=self._backend.parallelism,
            timeout=self.timeout,
            spark_session=get_spark(self.spark),
        )
        with warnings.catch_warnings():
            # SparkTrials' dispatcher thread warns about tag inheritance on every trial; under
            # warnings-as-errors that kills the thread and fmin waits forever.
            warnings.filterwarnings("ignore", "Spark session is not provided", UserWarning)
            hyperopt.fmin(
                _SparkTrialsObjective(self, self._metric()),
                space,
                algo=algo,
                max_evals=self.max_evals,
                trials=trials,
                rstate=np.random.default_rng(rng.randint(2**31 - 1)),
                loss_threshold=self.loss_threshold,
                early_stop_fn=self.early_stop_fn,
                show_progressbar=False,
            )
        # A plain Trials with SparkTrials' history: it pickles (SparkTrials holds the context).
        self.trials_ = hyperopt.Trials()
        self.trials_.insert_trial_docs(trials.trials)
        self.trials_.refresh()
        spec = hyperopt.base.spec_from_misc
        evaluate_candidates([hyperopt.space_eval(space, spec(t["misc"])) for t in trials.trials])


def _check_space_gives_parameters(space) -> None:
    """Refuse a space whose points are not dicts of parameter values (e.g. a bare
    ``hp.choice("x", [1, 2])``): scikit-learn would fail deep inside every fit instead."""
    from hyperopt.pyll import stochastic

    point = stochastic.sample(space, rng=np.random.default_rng(0))
    if not isinstance(point, dict) or not all(isinstance(k, str) for k in point):
        raise ValueError(
            "search_space must describe a dict of parameter values, e.g. {'alpha': "
            "hp.loguniform('alpha', -3, 3)} (or a choice between such dicts); a point of this "
            f"space is {point!r} ({type(point).__name__})."
        )


class _SparkTrialsObjective:
    """The objective SparkTrials ships to executors: cross-validated loss of one candidate."""

    def __init__(self, search, metric):
        self.estimator = search.estimator
        self.scoring = search.scoring
        self.cv = search.cv
        self.metric = metric
        self.X, self.y, params = search._backend.fit_data
        self.params = dict(params)
        self.groups = self.params.pop("groups", None)

    def __call__(self, candidate):
        from hyperopt import STATUS_FAIL, STATUS_OK
        from sklearn.base import clone
        from sklearn.model_selection import cross_validate

        scores = cross_validate(
            clone(self.estimator).set_params(**candidate),
            self.X,
            self.y,
            groups=self.groups,
            cv=self.cv,
            scoring=self.scoring,
            params=self.params or None,
        )
        key = "test_score" if self.metric == "score" else f"test_{self.metric}"
        score = float(np.mean(scores[key]))
        if not np.isfinite(score):  # a failed fit (error_score=nan) is a failed trial
            return {"status": STATUS_FAIL, "failure": f"mean test score {score}"}
        return {"loss": -score, "status": STATUS_OK}
