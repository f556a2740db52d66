"""The executor side of a joblib call on Spark: one Spark task runs its share of the batches,
dealt to it (:func:`run_task`) or pulled from the driver as it frees up (:func:`run_pulled_task`).

A joblib batch is a list of ``(func, args, kwargs)`` items. The driver pickles every batch
with references in place of the objects several batches share (:class:`SharedPickler`);
here they are resolved from their shipments (:mod:`.._shipping`, loaded once per Python
worker) by :class:`SharedUnpickler`. Each batch becomes an *outcome*, a tuple that goes back
to the driver:

- ``("ok", values, printed)``: the items' return values;
- ``("error", exception_blob, traceback_text, printed)``: an item raised (the blob is None when
  the exception does not survive pickling);
- ``("crashed" | "timeout", message, printed)``: the batch ran in its own process
  (:mod:`.._isolation`), which died or overran its time limit;
- ``("skipped",)``: not run, because an earlier batch failed (of the same Spark task when
  dealt, of the job when pulled) and the joblib call is going to raise that failure anyway.

``printed`` is what the items wrote to stdout, replayed on the driver in batch order.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import traceback
import types
from functools import partial

import cloudpickle

from .._compat import SequentialBackend
from .._isolation import run_isolated
from .._serialization import dump_model, load_model
from .._threads import fit_with_cores, limit_task_threads

__all__ = [
    "SharedPickler",
    "SharedUnpickler",
    "TaskKind",
    "describe_call",
    "run_arrow_tasks",
    "run_items",
    "run_task",
]


class TaskKind:
    """How the batches of a call are named, keyed and recovered; the default is plain joblib.

    The search classes subclass it (``search/_backend.py``): their batches are candidate x
    split fits with a checkpoint key, and a fit that crashed in its own process is replayed
    so that scikit-learn's ``error_score`` records it. Instances travel to the executors:
    keep them small and picklable.
    """

    unit = "task"

    def describe(self, items, index: int, total: int) -> str:
        """Name a batch in error messages (``index`` counts from 0)."""
        return f"{self.unit} {index + 1} of {total} ({describe_call(items)})"

    def key(self, items) -> str:
        """Checkpoint key of a batch ("" when outcomes are not kept)."""
        return ""

    def recover(self, items, kind: str, message: str, printed: str):
        """The outcome of a batch whose process crashed or timed out (``kind``)."""
        return (kind, message, printed)

    def portable(self, item):
        """An item as it travels to the executors (the driver calls this)."""
        return item

    def note(self, name: str, text: str) -> str:
        """The note added to an executor's exception re-raised on the driver (whose
        ``__cause__`` holds the executor's traceback ``text``)."""
        return f"Raised by {name} on a Spark executor (its traceback is the cause above)."

    def unpicklable_error(self, items, name: str, text: str) -> BaseException:
        """The error raised on the driver when a batch's exception does not unpickle there."""
        from ..exceptions import TaskError

        message = f"{name} raised on a Spark executor:\n{text}"
        return TaskError(message, task=name, remote_traceback=text)


def describe_call(items) -> str:
    """``func(arg, ...)`` of a batch's first item: its function and its short scalar arguments.

    Examples
    --------
    >>> describe_call([(max, (3, 4), {}), (max, (5, 6), {})])
    'max(3, 4), 1 more'
    """
    if not items:
        return "an empty batch"
    func, args, kwargs = items[0]
    shown = [_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()]
    text = ", ".join(s for s in shown if s)
    if len(text) > 80:
        text = text[:77] + "..."
    more = f", {len(items) - 1} more" if len(items) > 1 else ""
    return f"{_function_name(func)}({text}){more}"


def _function_name(func) -> str:
    inner = getattr(func, "function", None) or getattr(func, "func", None)  # wrappers, partial
    target = inner if inner is not None and callable(inner) else func
    return getattr(target, "__qualname__", None) or type(target).__name__


def _short(value) -> str:
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    if isinstance(value, str) and len(value) <= 30:
        return repr(value)
    return "..."


class SharedUnpickler(pickle.Unpickler):
    """Unpickles a batch, resolving shared-object references from their shipments.

    A reference is ``(bundle, key)``: object ``key`` of the ``bundle``-th shipment of shared
    objects. A batch gets its own copy of a copied bundle (``Shipment.shared``: large arrays
    in it are read-only views shared by all copies), as each joblib batch gets its own
    unpickled arguments in a process worker; a bundle of links is the Python worker's one
    copy (:class:`._runner.SharedBundles`), which the copies refer to as well.
    """

    def __init__(self, file, shipments):
        super().__init__(file)
        self.shipments = shipments
        self.copies: dict = {}

    def persistent_load(self, token):
        bundle, key = token
        if bundle not in self.copies:
            shipment = self.shipments[bundle]
            objects = shipment.load()
            self.copies[bundle] = (
                objects.copy(self.persistent_load) if shipment.shared else objects
            )
        return self.copies[bundle][key]


class SharedPickler(cloudpickle.Pickler):
    """Pickles a task list, writing the objects shared across tasks as references.

    ``shared_tokens`` maps ``id(obj)`` to the token of each shared object. ``share_definition``
    (optional) is asked about every other class and function met: it returns a token to
    share that one too (one that cloudpickle pickles by value), else None.
    """

    def __init__(self, file, shared_tokens, share_definition=None):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.shared_tokens = shared_tokens
        self.share_definition = share_definition

    def persistent_id(self, obj):
        token = self.shared_tokens.get(id(obj))
        if token is None and self.share_definition is not None and isinstance(obj, _DEFINITIONS):
            token = self.share_definition(obj)
        return token


_DEFINITIONS = (type, types.FunctionType)


def run_task(
    tasks,
    *,
    shipments,
    kind,
    total,
    isolate=False,
    timeout=None,
    cores=None,
    reporter=None,
    checkpoint=None,
):
    """The body of a Spark task: ``tasks`` yields lists of ``(index, key, payload)`` rows
    (one list per task of the call: on classic Spark each partition holds one); yields
    ``(index, outcome_blob)`` for each batch (the outcome's :func:`dump_model` bytes).

    With ``isolate`` each batch runs in a forked child process killed after ``timeout``
    seconds. With ``cores``, items may use that many cores (:func:`.._threads.fit_with_cores`);
    otherwise native thread pools get the task's cores. ``reporter`` (a
    :class:`.._progress.ProgressReporter`) counts finished items for the driver's bar;
    ``checkpoint`` (a search's ``FitWriter``) keeps every successful outcome under its key.
    """
    run = partial(
        _run_batch,
        shipments=shipments,
        kind=kind,
        total=total,
        isolate=isolate,
        timeout=timeout,
        reporter=reporter,
        checkpoint=checkpoint,
    )
    with _task_cores(cores):
        for rows in tasks:
            failed = False
            for index, key, payload in rows:
                if failed:
                    yield index, dump_model(("skipped",))
                    continue
                blob, failed = run(index, key, payload)
                yield index, blob
    if reporter is not None:
        reporter.flush()


def run_pulled_task(partitions, *, batches, queue, cores=None, reporter=None, **options):
    """The body of a Spark task of a pulled job (:mod:`._queue`): ``partitions`` yields the
    task's number; ``batches`` (a :class:`.._shipping.Shipment`) holds every ``(index, key,
    payload)`` row of the job, and ``queue`` (a :class:`._queue.QueueClient`) says which to
    run next until none is left. Yields ``(index, outcome_blob)`` as :func:`run_task` does,
    which documents the other options."""
    from pyspark import TaskContext

    rows = batches.load(cached=False)  # a task per worker and job: keeping it would only pile up
    attempt = TaskContext.get().attemptNumber()
    run = partial(_run_batch, reporter=reporter, **options)
    with _task_cores(cores):
        for partition in partitions:
            with queue.connect(partition, attempt) as pull:
                failed = False
                while (position := pull.next(failed)) is not None:
                    blob, failed = run(*rows[position])
                    yield rows[position][0], blob
    if reporter is not None:
        reporter.flush()


def _run_batch(
    index, key, payload, *, shipments, kind, total, isolate, timeout, reporter, checkpoint
):
    """``(outcome blob, failed)`` of one batch (see :func:`run_task`)."""
    items = SharedUnpickler(io.BytesIO(payload), shipments).load()
    if isolate:
        outcome = _run_isolated(items, kind, timeout, index, total)
    else:
        outcome = run_items(items)
    failed = outcome[0] != "ok"
    blob = dump_model(outcome)
    if checkpoint is not None and not failed:
        checkpoint.write(key, blob)
    if reporter is not None:
        reporter.add(len(items))
    return blob, failed


@contextlib.contextmanager
def _task_cores(cores):
    """One core (the default): native pools get one thread and a nested joblib call runs
    sequentially (the backend's nested backend); ``cores``: both get that many."""
    if cores is not None:
        with fit_with_cores(cores):
            yield
        return
    from joblib import parallel_config

    with limit_task_threads(), parallel_config(backend=SequentialBackend(nesting_level=1)):
        yield


def run_arrow_tasks(batches, *, payloads, **options):
    """``mapInArrow`` body (Spark Connect, which has no RDDs): each input row is a task
    number of ``spark.range``; its rows come with the function (``payloads``)."""
    import pyarrow as pa

    for batch in batches:
        tasks = [payloads[task] for task in batch.column(0).to_pylist()]
        results = list(run_task(tasks, **options))
        yield pa.RecordBatch.from_arrays(
            [
                pa.array([r[0] for r in results], pa.int64()),
                pa.array([r[1] for r in results], pa.binary()),
            ],
            names=["index", "outcome"],
        )


def run_items(items):
    printed = io.StringIO()  # what the items print goes back to the driver
    try:
        with contextlib.redirect_stdout(printed):
            values = [func(*args, **kwargs) for func, args, kwargs in items]
        return ("ok", values, printed.getvalue())
    except BaseException as exc:  # every failure goes back to the driver with its traceback
        text = traceback.format_exc()
        try:
            blob = cloudpickle.dumps(exc)
            pickle.loads(blob)
        except Exception:  # an exception that does not survive pickling: text only
            blob = None
        return ("error", blob, text, printed.getvalue())


def _run_isolated(items, kind, timeout, index, total):
    name = kind.describe(items, index, total)
    outcome = run_isolated(partial(run_items, items), timeout, name=name)
    if outcome.failure is None:
        return outcome.value
    return kind.recover(items, outcome.kind, outcome.failure, "")


def load_outcome(blob):
    """An outcome made by :func:`run_task`, its digest checked."""
    return load_model(blob, what="task outcome")
