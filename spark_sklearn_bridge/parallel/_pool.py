"""A search's tasks kept running across its rounds (classic Spark): one launch per search.

A search that proposes candidates in rounds (Hyperopt, successive halving, ``pre_dispatch``
waves) ran one Spark job per round, and each job launched one task per slot. Launching costs
about 7 ms of executor CPU and a share of the driver's scheduler per task: at 128 slots
0.3-0.5 s a round on the 2 cores of the simulated cluster (``benchmarks/bench_scale``'s task
launch floor), and the fits of a round started in the launch's stagger. A :class:`TaskPool`
is one job whose tasks, one per slot, stay for the search's rounds:

* each task connects to the driver (the job's secret token, its partition and attempt) and
  asks for work; the driver hands it the next batch of the current round, with the round's
  options (and the shipments the task does not have yet) before its first batch of a round;
* the task runs the batch and sends its outcome back on the same connection, which asks for
  the next: outcomes travel over the socket, not through ``collect``;
* between rounds the tasks wait; a pool idle for :data:`IDLE_SECONDS` ends its job, so a
  Spark job the caller runs between rounds gets the slots back, and the next round starts a
  new pool.

What a running task can read is fixed when it starts: a broadcast made later is invisible to
it. So the shipments a round adds travel inline (bytes, or a local-mode file); a round whose
new shipments are broadcasts ends the pool and starts a new one (:meth:`TaskPool.sees`).

A task that goes away in the middle of a batch (its Python worker died, its executor was
lost) is Spark's to handle, as in any job: Spark runs it again, and the new attempt first
gets again the batches its partition had not answered (an older attempt still running
keeps working); or the job fails, and :meth:`TaskPool.run` raises its error, which the
runner handles as it does a failed job (a worker crash runs the round again with every
batch in its own process, which names the batch responsible). A batch that raises stops
the round: no task gets another of its batches, and the ones never handed out are reported
as skipped.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import struct
import threading
import time
from functools import partial

import cloudpickle

from .._serialization import dump_model
from .._shipping import LocalFile
from ._queue import QueueClient, _receive, accept_tasks, listen

__all__ = ["IDLE_SECONDS", "TaskPool", "run_pool_task"]

#: Seconds a pool waits for a round before its job ends and gives its slots back.
IDLE_SECONDS = 2.0
#: Seconds a partition may be without a task while it has batches unanswered (Spark runs a
#: lost task again, or fails the job, well within that) before the round fails.
LOST_SECONDS = 300.0
_WORK = struct.Struct("!cqqqq")  # kind, round, position, options length, payload length
_RESULT = struct.Struct("!qq?q")  # round, position (-1: none yet), failed, outcome length
_BATCH, _STOP = b"b", b"s"


class PoolGone(RuntimeError):
    """The pool's job ended (idle, closed): the runner starts another."""


class TaskLost(RuntimeError):
    """A pool task went away in the middle of a batch (a worker crash, a lost executor) and
    Spark neither ran it again nor failed the job."""


class TaskPool:
    """Driver side: a job of ``n_tasks`` long-lived tasks that run the rounds given to
    :meth:`run`, one at a time.

    Parameters
    ----------
    n_tasks : int
        Tasks of the pool's job (the slots the search may use).
    host : str
        Address the tasks reach the driver on.
    shipments : list of Shipment
        The shipments the tasks get with the job (broadcasts included).
    launch : callable
        ``launch(client)`` runs the job, blocking until it ends: each of its tasks serves
        the pool through ``client`` (a :class:`._queue.QueueClient`) with
        :func:`serve_pool` (:func:`run_pool_task` on Spark).
    cancel : callable, optional
        Cancels the job (:meth:`close` may not get its tasks to stop).
    """

    def __init__(self, n_tasks: int, host: str, shipments, launch, cancel=None):
        self.n_tasks, self.host = n_tasks, host
        self.shipments = list(shipments)
        self._launch = launch
        self._token = secrets.token_hex(16).encode()
        # One lock, two conditions: the tasks wait for work (woken by a new round, a replay,
        # the end), the round's caller for outcomes; an outcome wakes only the caller (each
        # outcome waking every waiting task cost the driver O(tasks) per fit).
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._round: _Round | None = None
        self._rounds = 0
        self._error: BaseException | None = None
        self._closing = False
        self._ended = threading.Event()
        self._idle_since = time.monotonic()
        self._attempts: dict = {}  # partition -> its latest attempt
        self._live: dict = {}  # partition -> its tasks connected now
        self._gone: dict = {}  # partition -> when its last task went away
        self._server = None
        self.cancel = cancel or (lambda: None)

    # ------------------------------------------------------------------ lifecycle
    def start(self, thread_factory=None) -> TaskPool:
        """Listen and start the job (in a thread made by ``thread_factory(target)``, by
        default a plain thread)."""
        self._server = listen(self.host)
        accept_tasks(self._server, self._token, self._serve, "ssb-task-pool")
        client = QueueClient(self._server.getsockname()[:2], self._token)
        target = partial(self._run_job, client)
        job = thread_factory(target) if thread_factory else threading.Thread(target=target)
        job.daemon = True
        job.start()
        return self

    def sees(self, shipments) -> bool:
        """Can the pool's running tasks read every one of ``shipments``? Those it started with
        and any that travel inline (bytes, a local-mode file)."""
        known = len(self.shipments)
        return list(shipments[:known]) == self.shipments and all(
            s is None or isinstance(s.source, (bytes, bytearray, LocalFile))
            for s in shipments[known:]
        )

    @property
    def alive(self) -> bool:
        with self._lock:
            return not (self._closing or self._error is not None or self._ended.is_set())

    def close(self, wait: float = 30.0) -> bool:
        """End the job: the waiting tasks are told to stop. Waits up to ``wait`` seconds for
        it to end (0: not at all); whether it did (else :attr:`cancel` it)."""
        with self._lock:
            self._closing = True
            self._wake_all()
        self._ended.wait(wait)
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._server.close()
        return self._ended.is_set()

    def _wake_all(self) -> None:
        self._work.notify_all()
        self._done.notify_all()

    def _run_job(self, client) -> None:
        error = None
        try:
            self._launch(client)
        except BaseException as exc:  # handed to the round waiting in run()
            error = exc
        with self._lock:
            if error is None and not self._closing:
                error = PoolGone("The task pool's job ended.")
            if self._error is None:
                self._error = error
            self._ended.set()
            self._wake_all()

    # ------------------------------------------------------------------ one round
    def run(self, rows, shipments, options) -> list:
        """Run the batches ``rows`` (``(index, key, payload)``) on the pool's tasks with
        ``options`` (what :func:`._tasks.run_task` takes besides the shipments); returns
        ``[(index, outcome_blob), ...]``, with ``("skipped",)`` outcomes for the batches a
        failed batch kept from running. Raises the job's error if it failed meanwhile,
        :class:`TaskLost` if a task went away and Spark neither ran it again nor failed the
        job within :data:`LOST_SECONDS`, and :class:`PoolGone` if the pool had ended."""
        with self._lock:
            if self._error is not None or self._closing:
                raise self._error or PoolGone("The task pool is closed.")
            self._rounds += 1
            this = self._round = _Round(self._rounds, rows, list(shipments), options)
            self._work.notify_all()
            try:
                while not this.complete():
                    if self._error is not None:
                        raise self._error
                    since = time.monotonic() - LOST_SECONDS
                    orphaned = this.orphaned(self._live, self._gone, since)
                    if orphaned:
                        raise TaskLost(
                            f"A task of the search's pool went away while running {orphaned} "
                            f"batches, and Spark did not run it again within {LOST_SECONDS:g} "
                            "s: its Python worker exited unexpectedly (a crash in native "
                            "code, the out-of-memory killer) or its executor was lost."
                        )
                    self._done.wait(0.5)
            finally:  # the tasks find the round gone when they next wake
                self._round = None
                self._idle_since = time.monotonic()
        return this.results()

    # ------------------------------------------------------------------ the server
    def _serve(self, connection, partition, attempt):
        task = self._register(partition, attempt)
        try:
            while True:
                header = _receive(connection, _RESULT.size)
                if header is None:
                    return  # the task is gone: Spark fails the job or runs it again
                round_id, position, failed, size = _RESULT.unpack(header)
                blob = _receive(connection, size) if size else b""
                work = self._next(task, (round_id, position, failed, blob))
                connection.sendall(work)
                if work[:1] == _STOP:
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._live[partition] -= 1
                self._gone[partition] = time.monotonic()
                self._done.notify_all()

    def _register(self, partition: int, attempt: int) -> _TaskState:
        """A task connected. A newer attempt of a partition (Spark ran the task again: its
        executor was lost, or its Python worker died) first runs again what the partition
        had not answered; an older attempt still running keeps working too."""
        with self._lock:
            self._live[partition] = self._live.get(partition, 0) + 1
            if attempt > self._attempts.get(partition, -1):
                self._attempts[partition] = attempt
                if self._round is not None:
                    self._round.replay(partition)
            self._work.notify_all()
        return _TaskState(partition, known=len(self.shipments))

    def _next(self, task, result) -> bytes:
        """Record a task's result; the frame of its next work (waits for a round)."""
        round_id, position, failed, blob = result
        with self._lock:
            if position >= 0 and self._round is not None and self._round.id == round_id:
                self._round.record(task.partition, position, failed, blob)
                self._done.notify_all()
            while True:
                if self._closing or self._error is not None:
                    return _WORK.pack(_STOP, 0, 0, 0, 0)
                current = self._round
                if current is not None:
                    position = current.take(task.partition)
                    if position is not None:
                        return current.frame(position, task)
                elif time.monotonic() - self._idle_since >= IDLE_SECONDS:
                    self._closing = True  # idle: end the job, give the slots back
                    self._wake_all()
                    continue
                # Woken by a round, a replay or the end; else, between rounds, at the idle
                # deadline (during a round, the idle time counts from its end).
                idle_at = self._idle_since + IDLE_SECONDS
                self._work.wait(IDLE_SECONDS if current else max(0.01, idle_at - time.monotonic()))


class _TaskState:
    """What the driver knows of one task (connection): its partition, the shipments it
    holds and the round it has the options of."""

    __slots__ = ("known", "partition", "round")

    def __init__(self, partition: int, known: int):
        self.partition, self.known, self.round = partition, known, None


class _Round:
    """One :meth:`TaskPool.run`: its batches, which partition has which, and the outcomes."""

    def __init__(self, round_id, rows, shipments, options):
        self.id, self.rows, self.shipments, self.options = round_id, rows, shipments, options
        self.next = 0
        self.outstanding: dict = {}  # partition -> positions handed out, no outcome yet
        self.replays: dict = {}  # partition -> positions its newer attempt runs again
        self.outcomes: dict = {}  # position -> outcome blob
        self.stopped = False  # a batch failed: no more are handed out
        self._options: dict = {}  # shipments a task has -> the pickled options it needs

    def take(self, partition: int):
        """The next position for a task of ``partition``, or None (none left, stopped)."""
        replay = self.replays.get(partition)
        while replay:
            position = replay.pop(0)
            if position not in self.outcomes:
                return position  # still outstanding for the partition
        if self.stopped or self.next >= len(self.rows):
            return None
        position, self.next = self.next, self.next + 1
        self.outstanding.setdefault(partition, set()).add(position)
        return position

    def replay(self, partition: int) -> None:
        self.replays[partition] = sorted(self.outstanding.get(partition, ()))

    def record(self, partition, position, failed, blob) -> None:
        self.outstanding.get(partition, set()).discard(position)
        if position not in self.outcomes and 0 <= position < len(self.rows):
            self.outcomes[position] = blob
        if failed:
            self.stopped = True

    def complete(self) -> bool:
        if len(self.outcomes) == len(self.rows):
            return True
        return self.stopped and not any(self.outstanding.values())

    def orphaned(self, live: dict, gone: dict, before: float) -> int:
        """Outstanding batches of partitions without a live task since before ``before``."""
        return sum(
            len(positions)
            for partition, positions in self.outstanding.items()
            if positions and not live.get(partition) and gone.get(partition, before) < before
        )

    def results(self) -> list:
        skipped = None
        results = []
        for position, (index, _, _) in enumerate(self.rows):
            blob = self.outcomes.get(position)
            if blob is None:
                skipped = skipped or dump_model(("skipped",))
                blob = skipped
            results.append((index, blob))
        return results

    def frame(self, position: int, state: _TaskState) -> bytes:
        """The bytes that hand ``position`` to a task: the round's options first if the task
        has not had them (with the shipments it lacks)."""
        options = b""
        if state.round != self.id:
            options = self._options.get(state.known)
            if options is None:
                new = self.shipments[state.known :]
                options = self._options[state.known] = cloudpickle.dumps((new, self.options))
            state.round, state.known = self.id, len(self.shipments)
        payload = self.rows[position][2]
        header = _WORK.pack(_BATCH, self.id, position, len(options), len(payload))
        return header + options + payload


# ---------------------------------------------------------------------- task side
def serve_pool(client, partition, attempt, shipments, run_batch):
    """A pool task's loop: ask for work, run it with ``run_batch(index, key, payload,
    shipments=..., **options) -> (blob, failed)``, send the outcome back, until told to stop."""
    shipments = list(shipments)
    options, result = None, (0, -1, False, b"")
    with contextlib.closing(client.open(partition, attempt)) as connection:
        while True:
            round_id, position, failed, blob = result
            connection.sendall(_RESULT.pack(round_id, position, failed, len(blob)) + blob)
            header = _receive(connection, _WORK.size)
            if header is None:
                raise ConnectionError("The driver's task pool closed the connection.")
            kind, round_id, position, n_options, n_payload = _WORK.unpack(header)
            if kind == _STOP:
                return
            if n_options:
                new, options = cloudpickle.loads(_receive(connection, n_options))
                shipments += new
            payload = _receive(connection, n_payload) if n_payload else b""
            blob, failed = run_batch(position, "", payload, shipments=shipments, **options)
            result = (round_id, position, failed, blob)


def run_pool_task(partitions, *, client, shipments, cores=None):
    """The body of a pool task on Spark (see :func:`serve_pool`); yields nothing."""
    from pyspark import TaskContext

    from ._tasks import _run_batch, _task_cores

    attempt = TaskContext.get().attemptNumber()

    def run_batch(position, key, payload, *, reporter=None, **options):
        blob, failed = _run_batch(position, key, payload, reporter=reporter, **options)
        if reporter is not None:
            reporter.flush()
        return blob, failed

    with _task_cores(cores):
        for partition in partitions:
            serve_pool(client, partition, attempt, shipments, run_batch)
    return iter(())
