"""Where a search's fits run: a joblib backend that turns them into Spark jobs.

scikit-learn's ``BaseSearchCV`` hands every candidate x fold fit to joblib. While a search
runs, :class:`SparkFitBackend` is the active joblib backend: it collects the fits joblib
submits and :class:`SparkTaskRunner` runs them as the tasks of ONE Spark job per flush.
Objects several tasks use (the data, the splits, the scorers) are shipped once per search
(:mod:`~spark_sklearn_bridge._shipping`) and pickled into each task as references, so
nothing is copied per task or per candidate.

The backend serves exactly one ``Parallel`` context: the one ``BaseSearchCV.fit`` opens
around ``_run_search``. Any later joblib call on the driver (the refit of an estimator with
``n_jobs``) falls back to the backend that was active before the search, so subclasses may
override ``_run_search`` (scikit-learn's documented extension point) freely.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import pickle
import sys
import traceback
import uuid
import weakref
from functools import partial

import cloudpickle
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .._compat import (
    FallbackToBackend,
    ParallelBackendBase,
    SequentialBackend,
    get_active_backend,
)
from .._inputs import to_pandas
from .._isolation import retry_isolated, run_isolated
from .._shipping import ship
from .._spark_jobs import (
    cancel_at,
    is_local_master,
    run_interruptibly,
    task_profile,
    track_job_progress,
)
from .._threads import fit_with_cores, limit_task_threads
from ..exceptions import CandidateFitError
from ._checkpoint import fit_key

__all__ = ["SearchTimedOut", "SparkFitBackend", "SparkTaskRunner"]

_SCALARS = (str, bytes, int, float, complex, bool, type(None), np.generic)


class SearchTimedOut(Exception):
    """A search's ``timeout`` cancelled the Spark job of its running batch."""


# ------------------------------------------------------------------ executors
def _run_fit_tasks(
    batches, *, shipments, isolate=False, timeout=None, checkpoint=None, cores=None
):
    """mapInPandas body: run pickled joblib task lists; return pickled outcomes.

    With ``isolate``, each task list runs in a child process (:mod:`.._isolation`) killed
    after ``timeout`` seconds; a crash or timeout is reported as that candidate's fit error.
    With a ``checkpoint`` (:class:`~._checkpoint.FitWriter`), every outcome that came back
    is written under its key as soon as it is known. With ``cores``, each fit may use that
    many cores (:func:`.._threads.fit_with_cores`).
    """
    run = partial(_run_isolated, timeout=timeout) if isolate else _run_items
    with limit_task_threads() if cores is None else fit_with_cores(cores):
        for frame in batches:
            results = []
            for payload, key in zip(frame["payload"], frame["key"]):
                items = _SharedUnpickler(io.BytesIO(payload), shipments).load()
                results.append(run(items))
                if checkpoint is not None and pickle.loads(results[-1])[0] == "ok":
                    checkpoint.write(key, results[-1])
            yield pd.DataFrame({"task": frame["task"].to_numpy(), "result": results})


def _run_isolated(items, *, timeout):
    name = "The fit of " + _describe(items)
    outcome = run_isolated(partial(_run_items, items), timeout, name=name)
    if outcome.failure is None:
        return outcome.value
    # Replay the tasks with a stand-in estimator whose fit raises the failure: scikit-learn's
    # own error_score handling then records it (error_score=nan) or raises it ("raise").
    return _run_items([_failing(item, outcome.failure) for item in items])


def _describe(items) -> str:
    kwargs = items[0][2] if items else {}
    split = kwargs.get("split_progress")
    where = f" on split {split[0] + 1} of {split[1]}" if split else ""
    return f"candidate {kwargs.get('parameters')}{where}"


def _failing(item, message):
    func, args, kwargs = item
    if args and hasattr(args[0], "fit"):  # _fit_and_score(estimator, X, y, ...)
        return func, (_FailedFit(message), *args[1:]), kwargs
    return _raise, (CandidateFitError(message, params=repr(kwargs.get("parameters"))),), {}


def _raise(exc):
    raise exc


class _FailedFit(BaseEstimator):
    """Stands in for an estimator whose fit crashed or timed out in a child process."""

    def __init__(self, message=""):
        self.message = message

    def set_params(self, **params):
        return self  # the candidate's parameters: nothing left to set

    def fit(self, *args, **kwargs):
        raise CandidateFitError(self.message)


def _run_items(items):
    output = io.StringIO()  # what the fits print (verbose > 2) goes back to the driver
    try:
        with contextlib.redirect_stdout(output):
            values = [func(*args, **kwargs) for func, args, kwargs in items]
        outcome = ("ok", values, output.getvalue())
    except BaseException as exc:  # every failure goes back to the driver with its traceback
        params = next((kw.get("parameters") for _, _, kw in items), None)
        text = traceback.format_exc()
        try:
            blob = cloudpickle.dumps(exc)
            pickle.loads(blob)
        except Exception:  # an exception that does not survive pickling: text only
            blob = None
        outcome = ("error", blob, text, repr(params), output.getvalue())
    return cloudpickle.dumps(outcome)


class _SharedUnpickler(pickle.Unpickler):
    def __init__(self, file, shipments):
        super().__init__(file)
        self.shipments = shipments

    def persistent_load(self, token):
        return self.shipments[token].load()


class _SharedPickler(cloudpickle.Pickler):
    """Pickles a task list, writing the objects shared across tasks as references."""

    def __init__(self, file, shared_tokens):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.shared_tokens = shared_tokens

    def persistent_id(self, obj):
        return self.shared_tokens.get(id(obj))


# --------------------------------------------------------------------- driver
class _Pending:
    """Future-like result of one joblib batch, resolved when the runner flushes."""

    def __init__(self, batch, callback):
        self.batch, self.callback = batch, callback
        self.done, self.value, self.error = False, None, None

    def resolve(self, value=None, error=None):
        self.done, self.value, self.error = True, value, error
        self.batch = None


class SparkTaskRunner:
    """Runs the fits joblib hands to :class:`SparkFitBackend` as Spark jobs.

    Parameters
    ----------
    spark : SparkSession
    search : BaseSearchCV
        The search whose fits these are (shipped to the tasks as ``caller`` when scikit-learn
        callbacks need it).
    parallelism : int
        Fits Spark runs at once.
    progress : bool or None
        Progress bar of finished tasks.
    timeout : float or None
        Seconds one fit may take (each then runs in a child process of the task).
    task_cpus : int or None
        Cores per fit: a task resource profile on a cluster; in local mode, where Spark has
        none, ``parallelism`` tasks at once (the caller divides the cores).
    """

    def __init__(self, spark, search, *, parallelism, progress=None, timeout=None, task_cpus=None):
        self.spark = spark
        self.task_cpus = task_cpus
        self.local = is_local_master(spark)
        self.timeout = timeout
        self.search = search
        self.parallelism = parallelism
        self.progress = progress
        self.served = False  # the backend serves one Parallel context: the search's own
        self.pending: list[_Pending] = []
        self.fallback = get_active_backend()[0]
        self.fit_data = None
        self._shared: dict = {}  # id(obj) -> (obj, token, shipment)
        self._caller = None
        self.n_jobs_run = 0
        self.tag = None  # the search's Spark job tag (_spark_jobs.JobTag), set by its fit
        self.deadline = None  # time.monotonic() after which a running job is cancelled
        self.checkpoint = None  # a _checkpoint.Checkpoint: fits finished before are reused

    def submit(self, batch, callback):
        future = _Pending(batch, callback)
        self.pending.append(future)
        return future

    def result(self, future):
        if not future.done:
            self.flush()
        if future.error is not None:
            raise future.error
        return future.value

    def flush(self):
        """Run every pending batch as a task of one Spark job."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        keys = [self._key(p.batch.items) for p in pending]
        results = {}
        if self.checkpoint is not None:  # fits an earlier run of this search finished
            results = {i: self.checkpoint.outcome(k) for i, k in enumerate(keys)}
            results = {i: outcome for i, outcome in results.items() if outcome is not None}
        to_run = [i for i in range(len(pending)) if i not in results]
        if to_run:
            task_lists = [
                [self._portable(item) for item in pending[i].batch.items] for i in to_run
            ]
            shipments, tokens = self._share(task_lists)
            payloads = []
            for items in task_lists:
                buffer = io.BytesIO()
                _SharedPickler(buffer, tokens).dump(items)
                payloads.append(buffer.getvalue())
            rows = self._run_job(payloads, [keys[i] for i in to_run], shipments)
            results.update(zip((to_run[t] for t in rows["task"]), rows["result"]))
        for index, future in enumerate(pending):
            outcome = pickle.loads(results[index])
            sys.stdout.write(outcome[-1])  # the executor's output, in task order
            if outcome[0] == "ok":
                future.resolve(value=outcome[1])
            else:
                future.resolve(error=_remote_error(*outcome[1:4]))
        for future in pending:
            if future.callback is not None:  # lets joblib dispatch more (pre_dispatch != "all")
                future.callback(future.value)

    def _key(self, items) -> str:
        """The checkpoint key of a batch of fits ("" without a checkpoint)."""
        if self.checkpoint is None:
            return ""
        return "-".join(fit_key(item) for item in items)

    def _run_job(self, payloads, keys, shipments):
        """One Spark job over the payloads; run again with every fit isolated in a child
        process if a Python worker died, so the candidate responsible is recorded."""
        frame = pd.DataFrame({"task": np.arange(len(payloads)), "payload": payloads, "key": keys})
        n_partitions, profile = 4 * self.parallelism, None
        if self.task_cpus is not None:
            if self.local:  # no stage-level scheduling: fewer tasks at once instead
                n_partitions = self.parallelism
            else:
                profile = task_profile(self.task_cpus)
        tasks = self.spark.createDataFrame(
            frame, "task long, payload binary, key string"
        ).repartition(max(1, min(len(payloads), n_partitions)))
        writer = self.checkpoint.writer() if self.checkpoint is not None else None
        cancel = self.tag.cancel if self.tag is not None else None

        def run_job(isolate):
            body = partial(
                _run_fit_tasks,
                shipments=shipments,
                isolate=isolate,
                timeout=self.timeout,
                checkpoint=writer,
                cores=self.task_cpus,
            )
            job = tasks.mapInPandas(body, "task long, result binary", profile=profile)
            try:
                with track_job_progress(
                    self.spark, f"fitting {len(payloads)} fits", self.progress
                ):
                    return run_interruptibly(self.spark, partial(to_pandas, job), cancel)
            except Exception as exc:
                self._raise_if_timed_out(exc, len(payloads))  # not a crash: no retry
                raise

        # The search's time is up while this job runs: cancel it (the search keeps what
        # finished before, see SparkHyperoptSearchCV's timeout).
        with cancel_at(self.deadline if cancel is not None else None, cancel):
            try:
                rows = retry_isolated(run_job, isolate=self.timeout is not None, unit="candidate")
                if len(rows) != len(payloads):  # never a partial result (a cancelled collect)
                    raise RuntimeError(
                        f"The Spark job of {len(payloads)} fits returned {len(rows)} results."
                    )
            except Exception as exc:
                self._raise_if_timed_out(exc, len(payloads))
                raise
        self.n_jobs_run += 1
        return rows

    def _raise_if_timed_out(self, exc, n_fits) -> None:
        """Raise :class:`SearchTimedOut` if ``exc`` ended a job the search's time limit
        cancelled (the search then keeps what finished before)."""
        if self.tag is not None and self.tag.cancelled and not isinstance(exc, SearchTimedOut):
            raise SearchTimedOut(
                f"The search's time limit cancelled a job of {n_fits} fits."
            ) from exc

    def _portable(self, item):
        """A task as it travels: ``caller`` (the search, which scikit-learn passes only for
        its callback hooks) becomes a stand-in that pickles (:func:`_executor_stand_in`)."""
        func, args, kwargs = item
        if "caller" not in kwargs:
            return item
        if self._caller is None:
            self._caller = _executor_stand_in(self.search)
        return func, args, {**kwargs, "caller": self._caller}

    def _share(self, task_lists):
        """Objects used by several tasks (data, splits, scorers) are shipped once each."""
        counts: dict = {}
        objects: dict = {}
        for items in task_lists:
            for _, args, kwargs in items:
                for value in itertools.chain(args, kwargs.values()):
                    if isinstance(value, _SCALARS) or _is_small_tuple(value):
                        continue
                    counts[id(value)] = counts.get(id(value), 0) + 1
                    objects[id(value)] = value
        tokens, shipments = {}, {}
        for key, count in counts.items():
            if count < 2:
                continue
            if key not in self._shared:
                token = f"shared-{len(self._shared)}"
                shipment = ship(self.spark, objects[key], what="shared search object")
                # keep a reference: the id stays valid for the whole search
                self._shared[key] = (objects[key], token, shipment)
            _, token, shipment = self._shared[key]
            tokens[key] = token
            shipments[token] = shipment
        return shipments, tokens

    def close(self):
        for _, _, shipment in self._shared.values():
            shipment.release(destroy=True)
        self._shared.clear()
        if self._caller is not None:
            _LIVE_SEARCHES.pop(self._caller._driver_token, None)
            self._caller = None


#: Searches running in this (driver) process, by token: a stand-in unpickled here (a callback
#: message sent back from an executor) resolves to the live search object itself.
_LIVE_SEARCHES: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _executor_stand_in(search):
    """A copy of ``search`` for the executors, as scikit-learn's callback hooks see it.

    Its ``cv`` is the checked splitter when that pickles; a one-shot splitter (a generator)
    does not, and is not needed there (the splits travel as index arrays), so the stand-in
    holds the number of splits instead. The user's search object is never changed.
    """
    stand_in = copy.copy(search)  # via __getstate__: no session, no runner
    cv = search._checked_cv_orig
    try:
        cloudpickle.dumps(cv)
    except Exception:
        cv = search.n_splits_
    stand_in.cv = stand_in._checked_cv_orig = cv
    token = uuid.uuid4().hex
    stand_in._driver_token = token
    _LIVE_SEARCHES[token] = search
    return stand_in


def resolve_search(cls, token, state):
    """Unpickle a stand-in: the live search in the driver process, else a copy."""
    live = _LIVE_SEARCHES.get(token)
    if live is not None:
        return live
    search = cls.__new__(cls)
    search.__setstate__(state)
    return search


def _is_small_tuple(value):
    return isinstance(value, tuple) and all(isinstance(v, _SCALARS) for v in value)


def _remote_error(blob, text, params):
    """The executor's exception, re-raised on the driver with the candidate and traceback."""
    exc = None
    if blob is not None:
        try:
            exc = pickle.loads(blob)
        except Exception:  # a class the driver cannot import
            exc = None
    note = f"Raised while fitting candidate {params} on a Spark executor:\n{text}"
    if isinstance(exc, BaseException):
        if hasattr(exc, "add_note"):  # Python 3.11+
            exc.add_note(note)
        return exc
    return CandidateFitError(note, params=params, remote_traceback=text)


class SparkFitBackend(ParallelBackendBase):
    """joblib backend that defers every submitted batch to one Spark job per flush.

    It serves the first ``Parallel`` context configured while it is active (the search's
    own); every later one falls back to the backend active before the search started.
    """

    supports_retrieve_callback = False

    def __init__(self, runner, **kwargs):
        super().__init__(**kwargs)
        self.runner = runner

    def configure(self, n_jobs=1, parallel=None, **backend_kwargs):
        if self.runner.served:
            raise FallbackToBackend(self.runner.fallback)
        self.runner.served = True
        self.parallel = parallel
        return self.effective_n_jobs(n_jobs)

    def effective_n_jobs(self, n_jobs):
        # Never 1: joblib would then run the tasks itself, sequentially, on the driver.
        return max(2, self.runner.parallelism)

    def compute_batch_size(self):
        return 1

    def submit(self, func, callback=None):
        return self.runner.submit(func, callback)

    def retrieve_result(self, out, timeout=None):
        return self.runner.result(out)

    def abort_everything(self, ensure_ready=True):
        self.runner.pending.clear()

    def get_nested_backend(self):
        return SequentialBackend(nesting_level=(self.nesting_level or 0) + 1), None
