"""Spark job control shared by the paradigms: cores, tags, cancellation, progress, resources.

Everything about *running* a job (as opposed to shaping its data, :mod:`._frames`): how many
cores the cluster offers tasks, the job tag that lets Ctrl-C, an exception or a deadline
cancel what a call started, waiting for a collect in a way Ctrl-C can interrupt, progress
bars, and stage-level resource profiles.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

from ._progress import TaskProgress
from ._session import is_spark_connect

__all__ = [
    "JobTag",
    "cancel_at",
    "cancel_on_exit",
    "cluster_cores",
    "driver_host",
    "is_local_master",
    "run_interruptibly",
    "task_profile",
    "task_progress",
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
    return TaskProgress(total, desc, unit=unit, progress=progress, host=driver_host(spark))


def driver_host(spark) -> str:
    """The address a classic session's tasks reach the driver's Python process on:
    ``127.0.0.1`` in local mode, ``spark.driver.host`` on a cluster."""
    if is_local_master(spark):
        return "127.0.0.1"
    return spark.sparkContext.getConf().get("spark.driver.host", "127.0.0.1")
