"""The driver side of a joblib call on Spark: pending batches become the tasks of ONE job.

joblib hands the backend batches (lists of ``(func, args, kwargs)`` items) and asks for their
results later. :class:`TaskRunner` keeps them until the call has submitted all of them, then
runs them as one Spark job (:meth:`TaskRunner.run_pending`):

1. Objects that several batches share (X, y, a fitted estimator, the splits, the scorers,
   and the classes and functions that cloudpickle pickles by value, such as a notebook's
   estimator class) are pickled once, as one bundle per job, and shipped once
   (:mod:`.._shipping`: a broadcast on classic Spark); each batch is pickled with references
   in their place, so a batch's payload holds only what is its own (:class:`SharedBundles`).
   What links the batches to their caller (scikit-learn's callback contexts) goes in a
   second bundle, of which each Python worker keeps one copy.
2. On classic Spark, a job of more batches than the tasks that may run at once
   (``concurrency``) has one task per slot, and each task pulls the next batch from the
   driver whenever it is free (:mod:`._queue`): every slot stays busy to the end whatever
   the batches cost, and each task's fixed cost (about 8-15 ms of CPU) is paid once per
   slot. Otherwise (Spark Connect, whose executors may not reach the client; executors that
   cannot reach the driver; more than ``PULL_MAX_BYTES`` of batches) the batches are dealt
   round-robin to at most ``max_tasks`` tasks: a few per slot, so uneven batches even out.
   A search's rounds (a runner with a caller's tag) go instead, where they can, to one pool
   of tasks that outlives them (:mod:`._pool`): launched once per search, not per round.
3. The job runs on an RDD on classic Spark (its tasks cost about a third of a DataFrame
   task's CPU), as a ``mapInArrow`` over ``spark.range`` on Spark Connect, which has no
   RDDs. Its Spark job tag lets Ctrl-C, an exception or a deadline cancel it.
4. If a Python worker died, the job runs again with every batch in its own process
   (:func:`.._isolation.retry_isolated`), so the batch responsible is named and nothing else
   is lost.
5. Each batch's outcome resolves its future: its values, or its error re-raised on the driver
   (the executor's exception with its traceback attached, or :class:`TaskCrashedError` /
   :class:`TaskTimeoutError` naming the task). Then joblib's callbacks run, in batch order.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import pickle
import sys
import warnings
from functools import partial

import cloudpickle
import numpy as np

from .._compat import batch_items
from .._isolation import retry_isolated
from .._jobs import (
    JobTag,
    cancel_at,
    cancel_on_exit,
    driver_host,
    is_local_master,
    run_interruptibly,
    task_profile,
    task_progress,
)
from .._serialization import dump_model
from .._session import is_spark_connect
from .._shipping import ship
from ..exceptions import RemoteTraceback, TaskCrashedError, TaskError, TaskTimeoutError
from ._pool import PoolGone, TaskPool, run_pool_task
from ._queue import BatchQueue, QueueUnreachableError
from ._tasks import (
    SharedPickler,
    TaskKind,
    load_outcome,
    run_arrow_tasks,
    run_pulled_task,
    run_task,
)

__all__ = ["Future", "JobTimedOut", "TaskRunner", "task_concurrency", "task_limit"]

try:  # scikit-learn 1.9+: fits get a callback context
    from sklearn.callback import CallbackContext
except ImportError:  # pragma: no cover - older scikit-learn: no callbacks
    CallbackContext = None

_SCALARS = (str, bytes, int, float, complex, bool, type(None), np.generic)
#: Tasks per slot when a call's batches are dealt and it may use the whole cluster: balance
#: against a task's fixed cost.
TASKS_PER_SLOT = 4
#: Batches are pulled (:mod:`._queue`) when the job's batches add up to at most this many
#: bytes (every worker loads them all), else dealt. Tests turn pulling off to compare.
PULL_BATCHES = True
PULL_MAX_BYTES = 4 * 2**20
#: A search's rounds run on one pool of long-lived tasks (:mod:`._pool`) where it can (classic
#: Spark, no per-fit timeout, checkpoint, deadline or task resource profile). Tests turn it
#: off to compare.
POOL_TASKS = True
#: Shared objects a pooled round adds travel inline up to this size (a running task cannot
#: read a broadcast made after it started); a larger one starts a new pool.
POOL_INLINE_BYTES = 256 * 2**10
#: Index arrays up to this size are shared by value across a runner's jobs (hashing 64 MiB
#: takes about 0.1 s: a split's indices of 8M rows).
INDEX_VALUE_BYTES = 64 * 2**20
#: Applications whose executors could not reach the driver's batch queue: dealt from then on.
_UNREACHABLE: set = set()


def task_limit(parallel: int, slots: int, *, local_cap: bool = False) -> int:
    """How many tasks a job may have when at most ``parallel`` batches may run at once on a
    cluster of ``slots`` task slots (the ``max_tasks`` of :class:`TaskRunner`).

    When ``parallel`` reaches the slots, a few tasks per slot (:data:`TASKS_PER_SLOT`), so that
    uneven batches even out. Fewer is a cap, and so is ``local_cap`` (cores per task in local
    mode, where no resource profile reserves them): then exactly ``parallel`` tasks, since a
    job never runs more tasks at once than it has.

    Examples
    --------
    >>> task_limit(8, 8), task_limit(2, 8), task_limit(8, 8, local_cap=True)
    (32, 2, 8)
    """
    parallel = max(1, int(parallel))
    if parallel >= slots and not local_cap:
        return TASKS_PER_SLOT * parallel
    return parallel


def task_concurrency(parallel: int, slots: int, *, local_cap: bool = False) -> int:
    """How many of a job's tasks may run at once (the ``concurrency`` of :class:`TaskRunner`),
    for the same arguments as :func:`task_limit`: a pulled job has that many tasks.

    Examples
    --------
    >>> task_concurrency(8, 8), task_concurrency(2, 8), task_concurrency(32, 8)
    (8, 2, 8)
    """
    parallel = max(1, int(parallel))
    return parallel if local_cap else min(parallel, max(1, int(slots)))


class JobTimedOut(Exception):
    """A deadline (:attr:`TaskRunner.deadline`) cancelled the running job."""


class Future:
    """The result of one joblib batch, resolved when its job has run."""

    __slots__ = ("batch", "callback", "done", "error", "value")

    def __init__(self, batch, callback):
        self.batch, self.callback = batch, callback
        self.done, self.value, self.error = False, None, None

    def resolve(self, value=None, error=None):
        self.done, self.value, self.error = True, value, error

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value


class TaskRunner:
    """Runs the batches joblib submits as Spark jobs (see the module docstring).

    Parameters
    ----------
    spark : SparkSession
    max_tasks : int
        Spark tasks a job may have: the batches are dealt to ``min(batches, max_tasks)``
        tasks. Callers pass a few per slot (uneven batches even out), or exactly the number
        of tasks that may run at once when they cap it.
    concurrency : int, optional
        Tasks of a job that may run at once (default ``max_tasks``): a job of more batches
        than that, on classic Spark, has that many tasks, which pull the batches from the
        driver as they free up (:mod:`._queue`) instead of being dealt them.
    task_cpus : int, optional
        Cores per task: a stage-level resource profile on a cluster (local mode has none: the
        caller caps ``max_tasks`` instead). Inside a task, native thread pools and joblib get
        that many cores.
    task_gpus : float, optional
        GPUs per task (the cluster's ``gpu`` resource), through the same resource profile.
    progress : bool, optional
        A bar of finished items (classic Spark; Spark Connect shows none).
    kind : TaskKind, optional
        How batches are named, keyed and recovered (default: plain joblib tasks).
    """

    def __init__(
        self,
        spark,
        *,
        max_tasks,
        concurrency=None,
        task_cpus=None,
        task_gpus=0,
        progress=None,
        kind=None,
    ):
        self.spark = spark
        self.max_tasks = max(1, int(max_tasks))
        self.concurrency = max(1, int(concurrency if concurrency is not None else max_tasks))
        self.task_cpus = task_cpus
        self.task_gpus = task_gpus
        self.progress = progress
        self.kind = kind if kind is not None else TaskKind()
        self.connect = is_spark_connect(spark)
        self.local = is_local_master(spark)
        self.pending: list[Future] = []
        self.n_jobs_run = 0
        self.tag: JobTag | None = None  # a caller's tag for all its jobs (else one per job)
        self.deadline = None  # time.monotonic() after which the running job is cancelled
        self.checkpoint = None  # a search's Checkpoint: outcomes finished before are reused
        self._shared = SharedBundles()  # shipped for the runner's life
        self._pool: TaskPool | None = None  # a search's long-lived tasks (:mod:`._pool`)

    # ------------------------------------------------------------------ joblib's side
    def submit(self, batch, callback=None) -> Future:
        future = Future(batch, callback)
        self.pending.append(future)
        return future

    def run_pending(self, timeout=None) -> None:
        """Run every pending batch as a task of one Spark job; resolve their futures and
        call their callbacks. ``timeout``: seconds each batch may take (each then runs in a
        process of its own, killed when it overruns).

        A call that dispatches in waves (``pre_dispatch`` other than ``"all"``) submits more
        batches from the callbacks: they run as the next job, until none are left."""
        while self.pending:
            self._run_once(timeout)

    def _run_once(self, timeout) -> None:
        pending, self.pending = self.pending, []
        items = [batch_items(future.batch) for future in pending]
        keys = [self.kind.key(batch) for batch in items]
        outcomes = {}
        if self.checkpoint is not None:  # batches an earlier run finished
            for index, key in enumerate(keys):
                blob = self.checkpoint.outcome(key)
                if blob is not None:
                    outcomes[index] = blob
        to_run = [i for i in range(len(pending)) if i not in outcomes]
        if to_run:
            outcomes.update(self._run_job(items, keys, to_run, timeout))
        for index, future in enumerate(pending):
            outcome = load_outcome(outcomes[index])
            if outcome[0] != "skipped":
                sys.stdout.write(outcome[-1])  # what the items printed, in batch order
            if outcome[0] == "ok":
                future.resolve(value=outcome[1])
            else:
                name = self.kind.describe(items[index], index, len(pending))
                future.resolve(error=self._error(outcome, name, items[index], timeout))
        for future in pending:
            if future.callback is not None:
                future.callback(future)

    def end_pool(self) -> None:
        """Tell the pool's tasks to stop (without waiting for its job to end): no more rounds
        are coming, and the slots are the caller's again (e.g. for a search's refit)."""
        if self._pool is not None:
            self._pool.close(wait=0)

    def close(self) -> None:
        """End the pool of tasks, if any; free the executors' copies of the shared objects."""
        self._drop_pool()
        self._shared.close()

    # ------------------------------------------------------------------------ the job
    def _run_job(self, items, keys, to_run, timeout) -> dict:
        """One Spark job over the batches ``to_run``; returns their outcome blobs by index."""
        batches = [[self.kind.portable(item) for item in items[i]] for i in to_run]
        inline = POOL_INLINE_BYTES if self._pools(len(to_run), timeout, False) else 0
        what = f"objects shared by the {self.kind.unit}s"
        with self._shared.job(self.spark, what, inline_bytes=inline) as pickle:
            self._shared.add_arguments(batches)
            rows = [(index, keys[index], pickle(batch)) for index, batch in zip(to_run, batches)]
        shipments = list(self._shared.shipments)  # this job's: close() empties the list
        n_items = sum(len(items[i]) for i in to_run)
        with (
            task_progress(
                self.spark, n_items, f"{self.kind.unit}s", self.kind.unit, self.progress
            ) as bar,
            cancel_on_exit(self.spark) if self.tag is None else _same(self.tag) as tag,
        ):
            options = dict(
                shipments=shipments,
                kind=self.kind,
                total=len(items),
                timeout=timeout,
                cores=self.task_cpus,
                reporter=bar.reporter,
                checkpoint=self.checkpoint.writer() if self.checkpoint is not None else None,
            )

            def run_job(isolate):
                try:
                    return self._collect(rows, dict(options, isolate=isolate), tag)
                except Exception as exc:
                    self._raise_if_timed_out(exc, tag)  # a cancellation: no retry
                    raise

            with cancel_at(self.deadline, tag.cancel):
                try:
                    rows = retry_isolated(
                        run_job, isolate=timeout is not None, unit=self.kind.unit
                    )
                except Exception as exc:
                    self._raise_if_timed_out(exc, tag)
                    raise
            bar.wait_for(n_items, timeout=0.5)  # the last counts can trail the job's end
        if len(rows) != len(to_run):  # never a partial result (e.g. a cancelled collect)
            raise RuntimeError(
                f"The Spark job of {len(to_run)} batches returned {len(rows)} outcomes."
            )
        self.n_jobs_run += 1
        return dict(rows)

    def _collect(self, rows, options, tag):
        """Run the batches ``rows`` (``(index, key, payload)``, in submission order), pulled
        pooled, pulled or dealt; ``[(index, outcome_blob), ...]``."""
        pooled = self._pools(len(rows), options["timeout"], options["isolate"])
        if pooled or self._pulls(rows):
            try:
                if pooled:
                    return self._collect_pooled(rows, options, tag)
                return self._collect_pulled(rows, options, tag)
            except Exception as exc:
                if QueueUnreachableError.MARKER not in str(exc):
                    raise
                _UNREACHABLE.add(self.spark.sparkContext.applicationId)
                warnings.warn(
                    "The driver's batch queue cannot be used here (executors that cannot reach "
                    "the driver's ephemeral ports, or a driver host it cannot listen on): this "
                    "session's batches are dealt to tasks up front from now on, which balances "
                    f"uneven ones less well. {exc}",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return self._collect_dealt(rows, options, tag)

    def _pulls(self, rows) -> bool:
        """Pull this job's batches (:mod:`._queue`)? On classic Spark whose executors reach
        the driver, when there are more batches than tasks that may run at once and every
        worker may load all of them."""
        return (
            PULL_BATCHES
            and not self.connect
            and len(rows) > self.concurrency
            and sum(len(row[2]) for row in rows) <= PULL_MAX_BYTES
            and self.spark.sparkContext.applicationId not in _UNREACHABLE
        )

    def _pools(self, n_rows, timeout, isolate) -> bool:
        """Run this round on the search's pool of tasks (:mod:`._pool`)? A search's rounds
        (a caller's tag) on classic Spark whose executors reach the driver, without per-fit
        processes, checkpoint, deadline or resource profile; a pool is started for a round
        that fills every slot, and serves smaller ones once it runs."""
        return (
            POOL_TASKS
            and not self.connect
            and self.tag is not None
            and timeout is None
            and not isolate
            and self.checkpoint is None
            and self.deadline is None
            and self._profile() is None
            and (n_rows >= self.concurrency or (self._pool is not None and self._pool.alive))
            and self.spark.sparkContext.applicationId not in _UNREACHABLE
        )

    def _collect_pooled(self, rows, options, tag):
        """The round on the pool's tasks; a pool is started (again) when there is none, it
        ended while idle, or it cannot read this round's shipments."""
        shipments = options["shipments"]
        round_options = {k: v for k, v in options.items() if k not in ("shipments", "cores")}
        for _ in range(2):
            pool = self._pool
            if pool is None or not pool.alive or not pool.sees(shipments):
                self._drop_pool()
                pool = self._pool = self._start_pool(shipments, options["cores"])
            try:
                run = partial(pool.run, rows, shipments, round_options)
                return run_interruptibly(self.spark, run, tag.cancel)
            except PoolGone:  # it ended idle just before this round: start another
                self._drop_pool()
            except BaseException:
                self._drop_pool()
                raise
        raise RuntimeError("The task pool ended twice before a round could start.")

    def _start_pool(self, shipments, cores) -> TaskPool:
        from pyspark import InheritableThread

        sc, n_tasks = self.spark.sparkContext, self.concurrency
        own = JobTag(self.spark)  # the job carries the search's tag, and this one

        def launch(client):
            own.add()  # in the job's thread
            body = partial(run_pool_task, client=client, shipments=shipments, cores=cores)
            sc.parallelize(range(n_tasks), n_tasks).mapPartitions(body).collect()

        pool = TaskPool(n_tasks, driver_host(self.spark), shipments, launch, own.cancel)
        return pool.start(lambda target: InheritableThread(target, session=self.spark))

    def _drop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and not pool.close(wait=10.0):
            pool.cancel()  # tasks that did not stop: cancel the job
            pool.close(wait=10.0)

    def _profile(self):
        if (self.task_cpus or self.task_gpus) and not self.local:
            return task_profile(self.task_cpus or 1, self.task_gpus)
        return None

    def _collect_pulled(self, rows, options, tag):
        """One task per slot the job may use; each asks the driver for its next batch."""
        n_tasks = min(len(rows), self.concurrency)
        batches = ship(self.spark, rows, what=f"{self.kind.unit} batches")
        try:
            with BatchQueue(len(rows), driver_host(self.spark)) as queue:
                rdd = self.spark.sparkContext.parallelize(range(n_tasks), n_tasks)
                if (profile := self._profile()) is not None:
                    rdd = rdd.withResources(profile)
                body = partial(run_pulled_task, batches=batches, queue=queue.client, **options)
                collect = rdd.mapPartitions(body).collect
                outcomes = run_interruptibly(self.spark, collect, tag.cancel)
                stopped = queue.stopped
        finally:
            batches.release(destroy=True)
        returned = {index for index, _ in outcomes}
        missing = [row for row in rows if row[0] not in returned]
        if missing and stopped:  # a batch failed: the rest were never handed out
            outcomes += [(row[0], dump_model(("skipped",))) for row in missing]
        elif missing:  # lost with an attempt Spark did not keep: run them again, dealt
            outcomes += self._collect_dealt(missing, options, tag)
        return outcomes

    def _collect_dealt(self, rows, options, tag):
        """The batches dealt round-robin to at most ``max_tasks`` tasks (neighbouring
        batches are often alike), all known before the job starts."""
        n_tasks = max(1, min(len(rows), self.max_tasks))
        tasks = [rows[start::n_tasks] for start in range(n_tasks)]
        profile = self._profile()
        if self.connect:
            frame = self.spark.range(0, len(tasks), 1, len(tasks)).mapInArrow(
                partial(run_arrow_tasks, payloads=tasks, **options),
                "index long, outcome binary",
                profile=profile,
            )

            def collect():
                table = frame.toArrow()
                return list(
                    zip(table.column("index").to_pylist(), table.column("outcome").to_pylist())
                )

        else:
            rdd = self.spark.sparkContext.parallelize(tasks, len(tasks))
            if profile is not None:
                rdd = rdd.withResources(profile)
            collect = rdd.mapPartitions(partial(run_task, **options)).collect
        return run_interruptibly(self.spark, collect, tag.cancel)

    def _raise_if_timed_out(self, exc, tag) -> None:
        if self.deadline is not None and tag.cancelled and not isinstance(exc, JobTimedOut):
            raise JobTimedOut("A deadline cancelled the running Spark job.") from exc

    # ---------------------------------------------------------------------- errors
    def _error(self, outcome, name, items, timeout) -> BaseException:
        status = outcome[0]
        if status == "error":
            _, blob, text, _ = outcome
            exc = None
            if blob is not None:
                try:
                    exc = pickle.loads(blob)
                except Exception:  # a class the driver cannot import
                    exc = None
            if isinstance(exc, BaseException):
                exc.__cause__ = RemoteTraceback(text)
                if hasattr(exc, "add_note"):  # Python 3.11+
                    exc.add_note(self.kind.note(name, text))
                return exc
            return self.kind.unpicklable_error(items, name, text)
        if status == "timeout":
            return TaskTimeoutError(
                f"{outcome[1]}; it was killed (timeout={timeout:g}).", task=name
            )
        if status == "crashed":
            return TaskCrashedError(outcome[1], task=name)
        return TaskError(
            f"{name} was not run: an earlier batch of the same Spark job failed.", task=name
        )


class SharedBundles:
    """What a runner's batches share, pickled once and shipped once for the runner's life.

    Two kinds of objects are shared instead of being pickled with every batch:

    * arguments that several items use (data, splits, scorers, estimators), found before
      the batches are pickled (:meth:`add_arguments`);
    * classes and functions that cloudpickle pickles by value: those defined in
      ``__main__`` (a notebook, a script) or inside a function, and those of modules
      registered with ``cloudpickle.register_pickle_by_value``. Each costs 0.4-1 ms to
      pickle (cloudpickle looks for the submodules its code uses among every loaded module),
      so a search of 512 fits of a notebook's estimator spent 0.3-0.5 s of driver time on
      them before its job could start. They are found while the batches are pickled.

    Each job's new objects form two bundles, shipped once its batches are pickled
    (:meth:`job`); in the batches, a token ``(bundle, key)`` stands for each object
    (:class:`._tasks.SharedPickler`):

    * the *copied* bundle: a batch unpickles its own copy of it, as joblib's process workers
      unpickle their own copy of every argument (large arrays are read-only views shared by
      all copies);
    * the bundle of *links*: scikit-learn's callback contexts, which link every batch to
      the call that made them (:func:`_linked_contexts`). Each Python worker unpickles it
      once and its batches share it, as they would under joblib's threading backend; the
      copied bundle refers to them too (the search passed to every fit as ``caller`` holds
      their root). Copied with every batch, the tree of contexts (one per fit) cost each
      batch 1.7-2.8 ms of unpickling at 512 fits: a search's workers' CPU time grew with
      the square of its fits.

    An index array equal to one shipped before (a search computes its ``cv.split`` again
    for every round: new arrays, the same values) is sent as a reference to that one: a
    later round ships only what is new (its candidates), which also keeps it small enough
    to reach a running pool of tasks inline (:mod:`._pool`).
    """

    def __init__(self):
        self.shipments: list = []  # per job: [copied bundle or None, links or None]
        self._tokens: dict = {}  # id(obj) -> token
        self._kept: dict = {}  # id(obj) -> obj: each id stays valid while the runner lives
        self._pending: dict = {}  # key -> obj: the copied bundle of the job being pickled
        self._pending_links: dict = {}  # key -> obj: its bundle of links
        self._added: list = []  # ids given a token in those bundles
        self._links: set = set()  # ids of the objects in bundles of links
        self._by_value: dict = {}  # index array's value -> its token (:func:`_index_value`)
        self._added_values: list = []  # values given a token in this job's bundles

    @contextlib.contextmanager
    def job(self, spark, what: str, inline_bytes: int = 0):
        """Pickle a job's batches (the context gives ``pickle(batch) -> bytes``), then ship
        the objects they share that no earlier job shipped, as bundles named ``what``
        (those of up to ``inline_bytes`` inline: :func:`.._shipping.ship`).
        If pickling or shipping fails, none of this job's bundles is kept."""
        self._pending, self._pending_links, self._added = {}, {}, []
        self._added_values = []
        try:
            yield self._pickle
            if self._pending or self._pending_links:
                copied = links = None
                if self._pending:
                    copied = ship(
                        spark,
                        self._pending,
                        what=what,
                        shared=True,
                        references=self._link,
                        inline_bytes=inline_bytes,
                    )
                if self._pending_links:
                    links = ship(
                        spark,
                        self._pending_links,
                        what=f"links of the {what}",
                        inline_bytes=inline_bytes,
                    )
                self.shipments += [copied, links]
        except BaseException:
            for key in self._added:
                del self._tokens[key], self._kept[key]
                self._links.discard(key)
            for value in self._added_values:
                del self._by_value[value]
            raise
        finally:
            self._pending, self._pending_links, self._added = {}, {}, []

    def add_arguments(self, batches) -> None:
        """Share the arguments that several items of ``batches`` use (copied per batch),
        and the callback contexts that link the items (:func:`_linked_contexts`: kept per
        worker)."""
        counts: dict = {}
        objects: dict = {}
        linked: dict = {}  # shared whatever their count, kept per worker
        for batch in batches:
            for _, args, kwargs in batch:
                for value in _arguments(args, kwargs):
                    counts[id(value)] = counts.get(id(value), 0) + 1
                    objects[id(value)] = value
                    linked.update((id(c), c) for c in _linked_contexts(value))
        for key, obj in linked.items():
            if key not in self._tokens:
                self._add(obj, link=True)
        for key, count in counts.items():
            if count > 1 and key not in self._tokens:
                obj = objects[key]
                value = _index_value(obj)
                if value is None:
                    self._add(obj)
                elif value in self._by_value:  # equal to one shipped before: refer to it
                    self._tokens[key], self._kept[key] = self._by_value[value], obj
                    self._added.append(key)
                else:
                    self._by_value[value] = self._add(obj)
                    self._added_values.append(value)

    def close(self) -> None:
        """Free the executors' copies; a later job would ship everything again."""
        for shipment in self.shipments:
            if shipment is not None:
                shipment.release(destroy=True)
        self.shipments.clear()
        self._tokens.clear()
        self._kept.clear()
        self._links.clear()
        self._by_value.clear()

    def _pickle(self, batch) -> bytes:
        buffer = io.BytesIO()
        SharedPickler(buffer, self._tokens, self._definition).dump(batch)
        return buffer.getvalue()

    def _link(self, obj):
        """The token of ``obj`` if it is in a bundle of links (the copied bundle refers to
        those), else None."""
        return self._tokens[id(obj)] if id(obj) in self._links else None

    def _add(self, obj, link=False):
        bundle = self._pending_links if link else self._pending
        token = (len(self.shipments) + int(link), len(bundle))
        bundle[token[1]] = obj
        self._tokens[id(obj)] = token
        self._kept[id(obj)] = obj
        self._added.append(id(obj))
        if link:
            self._links.add(id(obj))
        return token

    def _definition(self, obj):
        """The token of a class or function not shared yet: a new one when cloudpickle
        pickles it by value, else None (it is pickled as a name to import)."""
        if id(obj) in self._kept:  # found before, pickled by reference
            return self._tokens.get(id(obj))
        if _pickled_by_reference(obj):
            self._kept[id(obj)] = obj
            return None
        return self._add(obj)


def _pickled_by_reference(definition) -> bool:
    """Whether cloudpickle pickles a class or function as a name to import.

    Asked of cloudpickle's pickler hook itself (``reducer_override``, the hook the standard
    :class:`pickle.Pickler` defines), which returns ``NotImplemented`` for those and the
    reduction of the whole definition for the others: the same rule, never a copy of it.
    """
    try:
        return cloudpickle.Pickler(io.BytesIO()).reducer_override(definition) is NotImplemented
    except Exception:  # pickled with the batch as before: its own error, if any, surfaces there
        return True


class _same:
    """A context that yields a tag the caller manages."""

    def __init__(self, tag):
        self.tag = tag

    def __enter__(self):
        return self.tag

    def __exit__(self, *exc_info):
        return False


def _linked_contexts(value) -> list:
    """A scikit-learn callback context (scikit-learn 1.9+) and its ancestors, else nothing.

    A search hands each fit its own context, linked to its parent, whose children are every
    other fit's context: pickled with each batch, the whole tree travelled with every batch,
    which made a job's pickling grow with the square of its fits (0.5 s of driver time for
    192 fits, 7,000 objects a batch). Shipped once with the shared objects instead, each
    batch refers to its own context.
    """
    if CallbackContext is None or not isinstance(value, CallbackContext):
        return []
    chain = []
    while value is not None:
        chain.append(value)
        value = value.parent
    return chain


def _arguments(args, kwargs):
    """The non-scalar arguments of an item, and those one container deep (a dict of fit
    parameters, a list of arrays)."""
    for value in itertools.chain(args, kwargs.values()):
        if _scalar(value):
            continue
        yield value
        if isinstance(value, (list, tuple)) and len(value) <= 64:
            yield from (v for v in value if not _scalar(v))
        elif isinstance(value, dict) and len(value) <= 64:
            yield from (v for v in value.values() if not _scalar(v))


def _index_value(obj):
    """A key for the value of a 1-D integer array of up to ``INDEX_VALUE_BYTES`` (the
    train / test indices of a split), else None."""
    if not (
        isinstance(obj, np.ndarray)
        and obj.ndim == 1
        and obj.dtype.kind in "iu"
        and obj.nbytes <= INDEX_VALUE_BYTES
    ):
        return None
    digest = hashlib.blake2b(np.ascontiguousarray(obj).data, digest_size=16).digest()
    return obj.dtype.str, len(obj), digest


def _scalar(value) -> bool:
    return isinstance(value, _SCALARS) or (
        isinstance(value, tuple) and all(isinstance(v, _SCALARS) for v in value)
    )
