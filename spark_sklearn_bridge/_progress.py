"""Progress bars for long calls: shown on an interactive terminal, silent in CI and pipes."""

from __future__ import annotations

import os
import secrets
import socket
import sys
import threading
import time

from tqdm.auto import tqdm

__all__ = ["ProgressReporter", "TaskProgress", "progress_bar", "progress_enabled"]


def progress_enabled(progress: bool | None = None) -> bool:
    """Resolve a ``progress`` argument: ``None`` means "on a TTY and not in CI"."""
    if progress is not None:
        return bool(progress)
    if os.environ.get("CI") or os.environ.get("SPARK_SKLEARN_BRIDGE_NO_PROGRESS"):
        return False
    stream = sys.stderr
    return bool(getattr(stream, "isatty", None) and stream.isatty())


def progress_bar(total: int | None, desc: str, progress: bool | None = None, unit: str = "it"):
    """A tqdm bar, disabled (a silent no-op) unless :func:`progress_enabled`.

    Examples
    --------
    >>> with progress_bar(3, "groups", progress=False) as bar:
    ...     bar.update(3)
    >>> bar.disable
    True
    """
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not progress_enabled(progress),
        leave=False,
        dynamic_ncols=True,
    )


class TaskProgress:
    """A driver-side bar of units of work (e.g. groups) that Spark tasks report while they run.

    Spark tells the driver about a task only when it ends, so a job of four long tasks would
    move a task-based bar in quarters. Instead the driver listens on a UDP socket and each task
    sends how many units it has finished (at most every ``interval`` seconds, through a
    :class:`ProgressReporter` shipped with the task). Lost or refused datagrams only make the
    bar lag: reporting never fails or slows a task. When the bar is disabled nothing listens
    and :attr:`reporter` is None.

    Parameters
    ----------
    total : int or None
        Units expected, if known.
    desc, unit : str
        Bar label and unit name.
    progress : bool or None
        As for :func:`progress_enabled`.
    host : str
        Address the tasks can reach the driver on (``127.0.0.1`` in local mode).

    Examples
    --------
    >>> with TaskProgress(3, "groups", progress=True, host="127.0.0.1") as bar:
    ...     bar.reporter.add(3)
    ...     bar.reporter.flush()
    ...     bar.wait_for(3)
    True
    """

    def __init__(self, total, desc, *, unit="it", progress=None, host="127.0.0.1"):
        self.total, self.desc, self.unit = total, desc, unit
        self.enabled = progress_enabled(progress)
        self.host = host
        self.reporter = None
        self.received = 0
        self._socket = self._thread = self._bar = None
        self._done = threading.Event()

    def __enter__(self):
        if not self.enabled:
            return self
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._socket.bind((self.host, 0))
        except OSError:  # e.g. an unresolvable driver host: no bar, the job runs as ever
            self._socket.close()
            self._socket, self.enabled = None, False
            return self
        self._socket.settimeout(0.1)
        token = secrets.token_hex(8)
        self.reporter = ProgressReporter(self._socket.getsockname(), token)
        self._bar = progress_bar(self.total, self.desc, progress=True, unit=self.unit)
        self._thread = threading.Thread(
            target=self._listen, args=(token.encode(),), daemon=True, name="ssb-progress"
        )
        self._thread.start()
        return self

    def _listen(self, token: bytes):
        while not self._done.is_set():
            try:
                message = self._socket.recv(64)
            except (TimeoutError, OSError):
                continue
            prefix, _, count = message.partition(b" ")
            if prefix == token and count.isdigit():
                self.received += int(count)
                self._bar.update(int(count))

    def wait_for(self, units: int, timeout: float = 1.0) -> bool:
        """Wait until ``units`` have been reported (datagrams can trail the job's end).

        Returns at once when the bar is disabled."""
        if self._thread is None:
            return False
        deadline = time.monotonic() + timeout
        while self.received < units and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.received >= units

    def __exit__(self, *exc_info):
        if self._thread is not None:
            self._done.set()
            self._thread.join()
            self._socket.close()
            self._bar.close()
        return False


class ProgressReporter:
    """Task-side half of :class:`TaskProgress`: picklable, sends counts over UDP."""

    def __init__(self, address, token: str, interval: float = 0.25):
        self.address, self.token, self.interval = tuple(address), token, interval
        self._pending, self._last, self._socket = 0, 0.0, None

    def __getstate__(self):
        return {"address": self.address, "token": self.token, "interval": self.interval}

    def __setstate__(self, state):
        self.__init__(**state)

    def add(self, units: int = 1) -> None:
        self._pending += units
        if time.monotonic() - self._last >= self.interval:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._socket.sendto(f"{self.token} {self._pending}".encode(), self.address)
        except OSError:
            pass  # progress is best effort; the task's result is what counts
        self._pending, self._last = 0, time.monotonic()
