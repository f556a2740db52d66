"""A job's batches handed to its tasks as they ask for them (classic Spark).

Dealt up front, a job's batches need a few tasks per slot so that uneven ones even out
(:data:`._runner.TASKS_PER_SLOT`), and every task costs its launch: about 8 ms of CPU on
the executors and the driver's scheduler. With one-second fits on 128 slots that made each
wave of launches a visible pause. Pulled, the job has one task per slot it may use, and each
task asks the driver for the position of the next batch whenever it is free: every slot
stays busy until the last batch (list scheduling, in submission order), whatever the fits
cost, and the tasks are launched once.

The batches themselves travel as before, pickled once and shipped to the workers with the
job (:func:`.._shipping.ship`); only positions cross this socket, so nothing a task receives
from it is unpickled. A task connects with the job's secret token, its partition and its
attempt number:

* a retried attempt first gets again every position an earlier attempt of its partition got
  (their outcomes were lost with it), then new ones; an older attempt still running gets no
  more;
* a task whose batch failed says so, and no task gets another position: the call is going to
  raise (the batches never handed out are reported as skipped, as the rest of a failed
  task's batches are when they are dealt).

A batch whose outcome no task returned (a stale attempt whose result Spark kept after all)
is run again by the runner, dealt.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import socket
import struct
import threading

__all__ = [
    "BatchQueue",
    "QueueClient",
    "QueueUnreachableError",
    "accept_tasks",
    "listen",
]

_HELLO = struct.Struct("!32sqq")  # token, partition, attempt
_POSITION = struct.Struct("!q")
_NEXT, _FAILED = b"n", b"f"
#: Seconds a task waits to reach the driver before it gives up (the job then runs dealt).
CONNECT_TIMEOUT = 10.0


class QueueUnreachableError(RuntimeError):
    """A task could not reach the driver's batch queue (e.g. a firewall between executors
    and the driver's ephemeral ports), or the driver could not listen on its host: the
    runner then deals the batches instead."""

    MARKER = "ssb-batch-queue-unreachable"


class BatchQueue:
    """Driver side: positions ``0 .. n - 1`` handed out in order over TCP, while the block runs.

    Parameters
    ----------
    n : int
        Number of batches.
    host : str
        Address the tasks reach the driver on (``127.0.0.1`` in local mode).

    Examples
    --------
    >>> with BatchQueue(3, "127.0.0.1") as queue:
    ...     with queue.client.connect(partition=0, attempt=0) as pull:
    ...         got = [pull.next(), pull.next(), pull.next(), pull.next()]
    >>> got
    [0, 1, 2, None]
    """

    def __init__(self, n: int, host: str = "127.0.0.1"):
        self.n, self.host = n, host
        self.stopped = False  # a batch failed: no more positions
        self._closed = False  # the job is over
        self._next = 0
        self._given: dict = {}  # partition -> positions handed to its attempts
        self._attempts: dict = {}  # partition -> latest attempt seen
        self._lock = threading.Lock()
        self._server = None
        self._token = secrets.token_hex(16).encode()

    def __enter__(self):
        self._server = listen(self.host)
        self.client = QueueClient(self._server.getsockname()[:2], self._token)
        accept_tasks(self._server, self._token, self._serve, "ssb-batch-queue")
        return self

    def __exit__(self, *exc_info):
        with self._lock:  # a cancelled job's tasks may still ask: they get nothing more
            self._closed = True
        # Closing alone leaves a socket that a thread is accepting on listening (Linux):
        # shutdown wakes that thread; the task connections end with their tasks.
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        return False

    # ------------------------------------------------------------------ the server
    def _serve(self, connection, partition, attempt):
        try:
            replay = self._start(partition, attempt)
            while (request := connection.recv(1)) in (_NEXT, _FAILED):
                position = self._hand(partition, attempt, replay, request == _FAILED)
                connection.sendall(_POSITION.pack(-1 if position is None else position))
        except OSError:  # the task is gone: Spark reports its failure
            return

    def _start(self, partition: int, attempt: int) -> list:
        """Register an attempt; what it must run again first (its partition's earlier
        positions, when it is a retry)."""
        with self._lock:
            latest = self._attempts.get(partition, -1)
            if attempt <= latest:
                return [] if attempt == latest else None  # None: a stale attempt
            self._attempts[partition] = attempt
            return list(self._given.get(partition, []))

    def _hand(self, partition, attempt, replay, failed):
        with self._lock:
            if failed:
                self.stopped = True
            if self._closed or replay is None or self._attempts.get(partition) != attempt:
                return None  # the job is over, or an older attempt: a newer one runs them
            if replay:
                return replay.pop(0)
            if self.stopped or self._next >= self.n:
                return None
            position, self._next = self._next, self._next + 1
            self._given.setdefault(partition, []).append(position)
            return position


class QueueClient:
    """Task side of :class:`BatchQueue` (and of :class:`._pool.TaskPool`): picklable (an
    address and the job's token)."""

    def __init__(self, address, token: bytes):
        self.address, self.token = tuple(address), token

    def connect(self, partition: int, attempt: int) -> _Pull:
        """A connection that hands this task's positions out (:meth:`_Pull.next`)."""
        return _Pull(self.open(partition, attempt))

    def open(self, partition: int, attempt: int):
        """A socket to the driver's server, introduced by the job's token, this task's
        partition and attempt (what :func:`accept_tasks` checks)."""
        try:
            connection = socket.create_connection(self.address, timeout=CONNECT_TIMEOUT)
            connection.settimeout(None)
            connection.sendall(_HELLO.pack(self.token, partition, attempt))
        except OSError as exc:
            raise QueueUnreachableError(
                f"{QueueUnreachableError.MARKER}: this task cannot reach the driver at "
                f"{self.address[0]}:{self.address[1]} ({exc})."
            ) from exc
        return connection


class _Pull:
    def __init__(self, connection):
        self.connection = connection

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.connection.close()
        return False

    def next(self, failed: bool = False):
        """The next position to run, or None when there is none; ``failed``: the last
        batch failed (no task gets another)."""
        self.connection.sendall(_FAILED if failed else _NEXT)
        answer = _receive(self.connection, _POSITION.size)
        if answer is None:
            raise ConnectionError("The driver's batch queue closed the connection.")
        position = _POSITION.unpack(answer)[0]
        return None if position < 0 else position


# ---------------------------------------------------------------- shared with ._pool
def listen(host: str):
    """A server socket on ``host`` (an ephemeral port) for a job's tasks to reach."""
    try:
        return socket.create_server((host, 0))
    except OSError as exc:  # e.g. a driver host that does not resolve here
        raise QueueUnreachableError(
            f"{QueueUnreachableError.MARKER}: the driver cannot listen on {host} ({exc})."
        ) from exc


def accept_tasks(server, token: bytes, serve, name: str) -> None:
    """Serve each task that connects to ``server`` with the job's ``token`` (a
    :meth:`QueueClient.open`) with ``serve(connection, partition, attempt)``, in a daemon
    thread of its own, until the server is closed. Other connections get nothing."""

    def handle(connection):
        with connection:
            try:
                hello = _receive(connection, _HELLO.size)
            except OSError:
                return
            if hello is None:
                return
            sent, partition, attempt = _HELLO.unpack(hello)
            if hmac.compare_digest(sent, token):
                serve(connection, partition, attempt)

    def accept():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:  # closed: the job is over
                return
            threading.Thread(
                target=handle, args=(connection,), daemon=True, name=f"{name}-task"
            ).start()

    threading.Thread(target=accept, daemon=True, name=name).start()


def _receive(connection, size: int):
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
