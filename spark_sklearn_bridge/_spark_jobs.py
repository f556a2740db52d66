"""Small Spark helpers shared by the paradigms: partition counts, job progress, row order."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from functools import partial

import numpy as np
import pandas as pd

from ._inputs import ROW_ID, column
from ._progress import TaskProgress, progress_bar, progress_enabled
from ._session import is_spark_connect

__all__ = [
    "map_in_pandas",
    "cancel_on_exit",
    "cancel_at",
    "run_interruptibly",
    "cluster_cores",
    "default_partitions",
    "is_local_master",
    "task_profile",
    "null_safe_condition",
    "key_runs",
    "larger_arrow_batches",
    "same_key",
    "spark_frame_with_row_id",
    "task_progress",
    "track_job_progress",
]


def cluster_cores(spark) -> int:
    """Cores the session's cluster offers tasks (``defaultParallelism``).

    A Spark Connect client has no SparkContext to ask; there the answer is measured once per
    session with a tiny job: ``spark.range`` splits into exactly ``defaultParallelism``
    partitions. (``spark.sql.shuffle.partitions``, 200 by default, is not a core count: used
    as one, a 4-group fit ran 200 tasks and took 70 s instead of 2 s.)
    """
    if not is_spark_connect(spark):
        return spark.sparkContext.defaultParallelism
    key = getattr(spark, "session_id", None) or id(spark)
    if key not in _CONNECT_CORES:
        from pyspark.sql import functions as F

        ids = spark.range(0, 1 << 20).select(F.spark_partition_id().alias("p"))
        row = ids.agg(F.max("p").alias("p")).first()
        _CONNECT_CORES[key] = max(1, int(row["p"]) + 1)
    return _CONNECT_CORES[key]


_CONNECT_CORES: dict = {}


def default_partitions(spark, per_core: int = 2) -> int:
    """How many partitions to pack work into: a few per core, so skew evens out."""
    return max(1, per_core * cluster_cores(spark))


def map_in_pandas(df, func, schema):
    """``df.mapInPandas(func, schema)`` for any column names.

    pyspark's ``mapInPandas`` refers to each input column by its unquoted name, so a name
    with a dot or a backtick (``a.b``) fails to resolve. Such frames travel under helper
    names and ``func`` gets its batches with the real names back.
    """
    names = df.columns
    if not any("." in n or "`" in n for n in names):
        return df.mapInPandas(func, schema)
    from ._inputs import column

    helper = [f"__ssb_col_{i}" for i in range(len(names))]
    renamed = df.select(*[column(n).alias(h) for n, h in zip(names, helper)])
    return renamed.mapInPandas(partial(_with_names, func=func, names=names), schema)


def _with_names(batches, *, func, names):
    return func(batch.set_axis(names, axis=1) for batch in batches)


#: Rows per Arrow batch for jobs whose Python side concatenates its whole partition anyway.
WHOLE_PARTITION_BATCH_ROWS = 100_000
_ARROW_BATCH_CONF = "spark.sql.execution.arrow.maxRecordsPerBatch"


@contextlib.contextmanager
def larger_arrow_batches(spark, rows: int = WHOLE_PARTITION_BATCH_ROWS):
    """Run the block's actions with Arrow batches of at least ``rows`` rows.

    For jobs whose Python side gathers its whole partition before working on it (the grouped
    fit): each batch costs a fixed conversion to pandas, so Spark's default of 10,000 rows
    made a third of a 5,000-group fit's time. The session's setting is restored after the
    block; a larger setting is left as it is. Other jobs of the session running at the same
    time see the larger batches too (a speed difference, never a result difference).
    """
    previous = spark.conf.get(_ARROW_BATCH_CONF, None)
    try:
        current = int(previous) if previous is not None else 10_000
    except ValueError:
        current = 10_000
    if current <= 0 or current >= rows:  # <= 0 means "no limit" to Spark
        yield
        return
    spark.conf.set(_ARROW_BATCH_CONF, str(rows))
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(_ARROW_BATCH_CONF)
        else:
            spark.conf.set(_ARROW_BATCH_CONF, previous)


def spark_frame_with_row_id(spark, frame: pd.DataFrame):
    """A Spark DataFrame of ``frame`` plus a :data:`ROW_ID` column holding its row positions."""
    frame = frame.reset_index(drop=True)
    frame = frame.assign(**{ROW_ID: np.arange(len(frame), dtype="int64")})
    return spark.createDataFrame(frame)


def key_runs(batch: pd.DataFrame, group_cols: list) -> list:
    """``(key_tuple, start, end)`` of each run of equal keys in a key-sorted batch.

    Null keys are equal to each other (a null group is a group, as in ``groupBy``).

    Examples
    --------
    >>> key_runs(pd.DataFrame({"g": ["a", "a", None, None, "b"]}), ["g"])
    [(('a',), 0, 2), ((None,), 2, 4), (('b',), 4, 5)]
    """
    if batch.empty:
        return []
    changed = np.zeros(len(batch) - 1, dtype=bool)
    for col in group_cols:
        values = batch[col].to_numpy()
        nulls = pd.isna(values)
        equal = (values[:-1] == values[1:]) | (nulls[:-1] & nulls[1:])
        changed |= ~np.asarray(equal, dtype=bool)
    starts = [0, *(np.flatnonzero(changed) + 1).tolist()]
    ends = [*starts[1:], len(batch)]
    return [
        (tuple(batch[c].iat[start] for c in group_cols), start, end)
        for start, end in zip(starts, ends)
    ]


def same_key(a, b) -> bool:
    """Key tuples equal, with null equal to null."""
    return all((x == y) or (pd.isna(x) and pd.isna(y)) for x, y in zip(a, b))


@contextlib.contextmanager
def track_job_progress(spark, desc: str, progress: bool | None = None, poll_seconds=0.5):
    """Show a bar of finished tasks for the Spark jobs run inside the block (classic Spark).

    Spark Connect exposes no status tracker to the client, so there the block runs without a bar.
    """
    if not progress_enabled(progress) or is_spark_connect(spark):
        yield
        return
    sc = spark.sparkContext
    group = f"ssb-{uuid.uuid4().hex[:12]}"
    sc.setJobGroup(group, desc)

    def poll(stop):
        tracker = sc.statusTracker()
        with progress_bar(None, desc, progress=True, unit="task") as bar:
            while not stop.wait(poll_seconds):
                done = total = 0
                for job_id in tracker.getJobIdsForGroup(group):
                    job = tracker.getJobInfo(job_id)
                    for stage_id in job.stageIds if job else []:
                        stage = tracker.getStageInfo(stage_id)
                        if stage:
                            done += stage.numCompletedTasks
                            total += stage.numTasks
                bar.total = total or None
                bar.n = done
                bar.refresh()

    try:
        with _while_block_runs(poll, "ssb-progress"):
            yield
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)


@contextlib.contextmanager
def _while_block_runs(target, name: str):
    """Run ``target(stop)`` in a daemon thread while the block runs; ``stop`` (an Event) is
    set when the block ends, and the thread is joined before the block is left."""
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(stop,), daemon=True, name=name)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def task_progress(spark, total, desc: str, unit: str, progress: bool | None = None):
    """A :class:`TaskProgress` bar whose reporter the job's tasks can reach (classic Spark).

    In local mode the driver listens on 127.0.0.1, on a cluster on ``spark.driver.host``. A
    Spark Connect client is not the driver and may be unreachable from the executors, so there
    the bar is disabled.
    """
    if is_spark_connect(spark):
        return TaskProgress(total, desc, unit=unit, progress=False)
    conf = spark.sparkContext.getConf()
    local = conf.get("spark.master", "local").startswith("local")
    host = "127.0.0.1" if local else conf.get("spark.driver.host", "127.0.0.1")
    return TaskProgress(total, desc, unit=unit, progress=progress, host=host)


def null_safe_condition(cols, left, right):
    """Join condition on ``cols`` where null keys match null keys (null groups are groups)."""
    from functools import reduce

    conditions = [column(c, left).eqNullSafe(column(c, right)) for c in cols]
    return reduce(lambda a, b: a & b, conditions)


class JobTag:
    """A tag on the Spark jobs started inside a :func:`cancel_on_exit` block.

    ``cancel()`` (any thread, e.g. a timer) cancels the tagged jobs still running;
    :attr:`cancelled` then tells the block that the failure it sees is that cancellation.
    Classic sessions tag jobs through the SparkContext (``addJobTag`` / ``cancelJobsWithTag``,
    with ``setInterruptOnCancel``): a local property, which ``InheritableThread`` carries
    over. (The session-level ``SparkSession.addTag`` / ``interruptTag`` missed a job run by
    ``toPandas`` from another thread, which then returned an empty frame, measured with
    pyspark 4.) Spark Connect sessions use the session's operation tags.
    """

    def __init__(self, spark):
        self.spark = spark
        self.name = f"ssb-{uuid.uuid4().hex}"
        self.cancelled = False
        self.connect = is_spark_connect(spark)

    def add(self) -> None:
        """Tag the jobs this thread starts from now on."""
        if self.connect:
            self.spark.addTag(self.name)
        else:
            sc = self.spark.sparkContext
            sc.addJobTag(self.name)
            sc.setInterruptOnCancel(True)

    def remove(self) -> None:
        with contextlib.suppress(Exception):  # a stopped session has nothing to untag
            if self.connect:
                self.spark.removeTag(self.name)
            else:
                self.spark.sparkContext.removeJobTag(self.name)

    def cancel(self) -> None:
        self.cancelled = True
        with contextlib.suppress(Exception):  # a stopped session has no jobs left
            if self.connect:
                self.spark.interruptTag(self.name)
            else:
                self.spark.sparkContext.cancelJobsWithTag(self.name)


@contextlib.contextmanager
def cancel_on_exit(spark):
    """Tag the Spark jobs this thread starts in the block; cancel them if the block raises.

    Ctrl-C (KeyboardInterrupt), a timeout or any exception on the driver then leaves no job
    working for a caller that has stopped waiting (run blocking collects through
    :func:`run_interruptibly`, or Ctrl-C waits for the collect). Yields the :class:`JobTag`.
    """
    tag = JobTag(spark)
    tag.add()
    try:
        yield tag
    except BaseException:
        tag.cancel()
        raise
    finally:
        tag.remove()


def run_interruptibly(spark, func, cancel=None):
    """``func()``, which runs Spark jobs, in a helper thread while this thread waits.

    A thread blocked in a collect reads its result in native code and does not see Ctrl-C
    until data arrives, which for a long job means the end of it (measured: a SIGINT sent 3 s
    into a 20 s job was raised after 26 s). Waiting here in short steps is interruptible.
    When the wait is interrupted, ``cancel()`` (e.g. :meth:`JobTag.cancel`) is called until
    the helper has finished, so a job it submits just after the first call is cancelled too,
    and nothing is left running. The helper is a ``pyspark.InheritableThread``: its jobs carry
    this thread's job group and tags.
    """
    from pyspark import InheritableThread

    outcome = {}

    def target():
        try:
            outcome["value"] = func()
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc

    thread = InheritableThread(target, session=spark)
    thread.daemon = True
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except BaseException:
        if cancel is not None:
            give_up = time.monotonic() + 60
            while thread.is_alive() and time.monotonic() < give_up:
                cancel()
                thread.join(0.5)
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@contextlib.contextmanager
def cancel_at(deadline, cancel):
    """Call ``cancel()`` from ``deadline`` (``time.monotonic()``) on, every half second,
    until the block ends: a job submitted just after a first call is cancelled as well."""
    if deadline is None:
        yield
        return

    def guard(done):
        if done.wait(max(0.0, deadline - time.monotonic())):
            return
        while not done.is_set():
            cancel()
            done.wait(0.5)

    with _while_block_runs(guard, "ssb-deadline"):
        yield


def is_local_master(spark) -> bool:
    """Does the session run Spark in local mode (one JVM, no cluster manager)?"""
    try:
        master = spark.conf.get("spark.master", "")
    except Exception:  # a Connect server that does not show its master: assume a cluster
        return False
    return str(master).startswith("local")


def task_profile(n_cores: int, n_gpus: float = 0):
    """A stage-level resource profile giving each task ``n_cores`` cores (and ``n_gpus``
    GPUs, which the cluster must offer as the ``gpu`` resource).

    Supported by standalone, YARN and Kubernetes cluster managers (on standalone and YARN
    with dynamic allocation off, task profiles need no new executors); not in local mode.
    """
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    requests = TaskResourceRequests().cpus(n_cores)
    if n_gpus:
        requests = requests.resource("gpu", n_gpus)
    return ResourceProfileBuilder().require(requests).build
