"""The private scikit-learn / joblib APIs the package relies on (all in ``_compat``).

Each test exercises the behaviour the package depends on, so an upgrade that moves or changes
one of them fails here, by name, rather than deep inside a Spark job.
"""

from numbers import Integral

import pytest
from joblib import Parallel, delayed, parallel_config
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import InvalidParameterError

from spark_sklearn_bridge import _compat


def test_every_private_name_is_still_where_we_import_it_from():
    for name in _compat.__all__:
        assert getattr(_compat, name) is not None, name


def test_fit_context_validates_declared_parameters_once():
    class Model(BaseEstimator):
        _parameter_constraints = {
            "k": [_compat.Interval(Integral, 1, None, closed="left")],
            "mode": [_compat.StrOptions({"a", "b"})],
            "spark": [None, _compat.HasMethods(["createDataFrame"])],
        }

        def __init__(self, k=1, mode="a", spark=None):
            self.k, self.mode, self.spark = k, mode, spark

        @_compat.fit_context(prefer_skip_nested_validation=True)
        def fit(self, X=None):
            self.fitted_ = True
            return self

    assert Model().fit().fitted_
    for bad in ({"k": 0}, {"mode": "c"}, {"spark": "local[2]"}):
        with pytest.raises(InvalidParameterError, match=f"'{next(iter(bad))}' parameter"):
            Model(**bad).fit()


def test_base_search_cv_calls_run_search_with_evaluate_candidates():
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge

    class OneCandidate(_compat.BaseSearchCV):
        def __init__(self, estimator, *, cv=None):
            super().__init__(estimator, cv=cv)

        def _run_search(self, evaluate_candidates):
            evaluate_candidates([{"alpha": 2.0}])

    X, y = make_regression(n_samples=30, random_state=0)
    assert OneCandidate(Ridge(), cv=2).fit(X, y).best_params_ == {"alpha": 2.0}


def test_a_backend_can_hand_a_call_back_to_the_previous_backend():
    previous = _compat.get_active_backend()[0]

    class HandsBack(_compat.ParallelBackendBase):
        def configure(self, n_jobs=1, parallel=None, **kwargs):
            raise _compat.FallbackToBackend(_compat.SequentialBackend())

        def effective_n_jobs(self, n_jobs):
            return 1

    with parallel_config(backend=HandsBack()):
        assert Parallel(n_jobs=2)(delayed(abs)(-i) for i in range(3)) == [0, 1, 2]
    assert type(_compat.get_active_backend()[0]) is type(previous)


def test_pyspark_internals_the_embedded_session_starts_its_jvm_with(spark):
    """``_session._start_local_jvm`` starts the driver JVM as pyspark does, only with its
    stderr piped (to drop start-up noise): it needs these pyspark internals."""
    import inspect

    from pyspark import SparkContext
    from pyspark.java_gateway import launch_gateway

    assert "popen_kwargs" in inspect.signature(launch_gateway).parameters
    for name in ("_gateway", "_jvm", "_lock"):
        assert hasattr(SparkContext, name), name


def test_fit_and_score_still_takes_the_arguments_checkpoints_key_fits_by():
    """A renamed keyword would make every candidate share a checkpoint key: the signature
    is checked here, and a call without one of them is refused at run time."""
    import inspect

    from sklearn.model_selection._validation import _fit_and_score

    parameters = inspect.signature(_fit_and_score).parameters
    for name in (*_compat.FIT_AND_SCORE_OUTCOME_ARGUMENTS, "split_progress", "caller"):
        assert name in parameters, name
    kwargs = dict.fromkeys(_compat.FIT_AND_SCORE_OUTCOME_ARGUMENTS, 1)
    assert _compat.fit_and_score_arguments(kwargs) == (1,) * len(kwargs)
    del kwargs["parameters"]
    with pytest.raises(RuntimeError, match=r"no longer called with \['parameters'\]"):
        _compat.fit_and_score_arguments(kwargs)


def test_a_search_keeps_its_checked_splitter_where_callbacks_read_it():
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV, KFold

    X, y = make_regression(n_samples=30, random_state=0)
    search = GridSearchCV(Ridge(), {"alpha": [1.0]}, cv=KFold(3)).fit(X, y)
    assert isinstance(_compat.checked_cv(search), KFold)
    _compat.set_checked_cv(search, 3)
    assert _compat.checked_cv(search) == 3


def test_a_backend_sees_batches_with_items_and_can_dispatch_a_call_at_once():
    """What the "spark" backend relies on: the items of a batch, and every task of a call
    submitted before joblib enters ``retrieval_context`` when ``pre_dispatch`` is "all"."""
    import contextlib

    class Deferred(_compat.ParallelBackendBase):
        supports_retrieve_callback = True

        def __init__(self, all_at_once):
            super().__init__()
            self.all_at_once, self.pending, self.seen_at_retrieval = all_at_once, [], None

        def configure(self, n_jobs=1, parallel=None, **kwargs):
            if self.all_at_once:
                _compat.dispatch_all_at_once(parallel)
            return 2

        def effective_n_jobs(self, n_jobs):
            return 2

        def submit(self, func, callback=None):
            self.pending.append([func, callback, None])
            return self.pending[-1]

        @contextlib.contextmanager
        def retrieval_context(self):
            self.seen_at_retrieval = sum(len(_compat.batch_items(p[0])) for p in self.pending)
            while any(p[2] is None for p in self.pending):
                for entry in [p for p in self.pending if p[2] is None]:
                    entry[2] = entry[0]()
                    entry[1](entry)  # may dispatch more
            yield

        def retrieve_result_callback(self, out):
            return out[2]

    for all_at_once, expected in ((True, 10), (False, 4)):
        backend = Deferred(all_at_once)
        with parallel_config(backend=backend):
            out = Parallel(pre_dispatch="2*n_jobs")(delayed(abs)(-i) for i in range(10))
        assert out == list(range(10))
        assert backend.seen_at_retrieval == expected
