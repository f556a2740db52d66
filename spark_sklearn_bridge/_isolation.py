"""Run one unit of work (a group's fit, a candidate's fit) where a crash or a hang cannot
take the Spark task down with it: in a forked child process, with an optional time limit.

A Python exception inside a fit is caught in-process and recorded; that needs none of this.
What in-process code cannot survive is the process itself dying (a segfault in native code,
the kernel's out-of-memory killer, ``os._exit``) or a fit that never returns: Spark then
retries the whole task and, after ``spark.task.maxFailures`` attempts, fails the whole job,
losing every other group or candidate of it. Run isolated, the child dies instead, and its
parent (the Spark task) records the failure under the unit's name and goes on.

Forking shares the parent's memory copy-on-write, so the parent's loaded estimator, data and
imports are there at no cost. Call it inside :func:`~._threads.limit_task_threads` (both
callers do): the child inherits the parent's thread-pool limits, and GNU OpenMP is fork-safe
only when the parent has not run a wider pool. The child leaves through ``os._exit``, so
nothing of the Spark worker's own machinery runs twice.
"""

from __future__ import annotations

import os
import select
import signal
import time
import traceback
import warnings
from dataclasses import dataclass

import cloudpickle

__all__ = ["Isolated", "is_worker_crash", "retry_isolated", "run_isolated"]

_CHUNK = 1 << 20


@dataclass
class Isolated:
    """What became of isolated work: its value, or why there is none."""

    value: object = None
    failure: str | None = None  # None: finished, ``value`` is its result
    kind: str | None = None  # why there is no value: "error", "timeout" or "crashed"


def run_isolated(func, timeout: float | None = None, *, name: str = "the work") -> Isolated:
    """Call ``func()`` in a forked child process and return its result.

    Parameters
    ----------
    func : callable
        Called without arguments in the child; its return value must pickle.
    timeout : float, optional
        Seconds after which the child is killed (SIGKILL) and the work recorded as timed out.
    name : str
        What the work is, for the failure message (e.g. ``"group {'store': 3}"``).

    Returns
    -------
    Isolated
        ``failure`` is None and ``value`` the result, or ``failure`` says what happened: an
        exception (its traceback), a timeout, or the child's death (signal or exit code);
        ``kind`` is then ``"error"``, ``"timeout"`` or ``"crashed"``.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, measured through its parent
        os.close(read_end)
        _child(func, write_end)
    os.close(write_end)
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks, timed_out = [], False
    try:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([read_end], [], [], wait)
            if not ready:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(read_end, _CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    if timed_out:
        return Isolated(
            failure=f"{name} did not finish within the {timeout:g} s time limit", kind="timeout"
        )
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and chunks:
        kind, payload = cloudpickle.loads(b"".join(chunks))
        if kind == "ok":
            return Isolated(value=payload)
        return Isolated(failure=f"{name} raised an exception:\n{payload}", kind="error")
    return Isolated(failure=f"{name} crashed: the Python process {_death(status)}", kind="crashed")


def _child(func, write_end) -> None:  # pragma: no cover - runs in the child
    code = 0
    try:
        result = ("ok", func())
        try:
            blob = cloudpickle.dumps(result)
        except Exception:
            blob = cloudpickle.dumps(("error", traceback.format_exc()))
        view = memoryview(blob)
        while view:
            view = view[os.write(write_end, view) :]
    except BaseException:
        try:
            os.write(write_end, cloudpickle.dumps(("error", traceback.format_exc())))
        except BaseException:
            code = 1
    finally:
        os._exit(code)


def _death(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = ""
        hint = (
            " (the kernel's out-of-memory killer sends this)" if number == signal.SIGKILL else ""
        )
        return f"was killed by signal {number} {name}{hint}".rstrip()
    return f"exited with code {os.WEXITSTATUS(status)} before returning a result"


#: How Spark reports a task whose Python worker died (a crash, the OOM killer, ``os._exit``),
#: in the messages of the exception a failed job raises on the driver (classic and Connect).
_CRASH_MARKERS = (
    "Python worker exited unexpectedly",
    "PYTHON_WORKER_EXITED_UNEXPECTEDLY",
    "crashed",
    "EOFException",
)


def is_worker_crash(exc: BaseException) -> bool:
    """True when a Spark job failed because a Python worker process died, not because of a
    Python exception in our code (that one is reported as a ``PythonException``)."""
    text = str(exc)
    return any(marker in text for marker in _CRASH_MARKERS)


def retry_isolated(run_job, *, isolate: bool, unit: str):
    """``run_job(isolate)``; when a Python worker died in a job that was not isolated, warn
    and run it once more with every ``unit`` ("group", "candidate") in its own process, so
    the one responsible is found and recorded instead of the whole job failing."""
    try:
        return run_job(isolate)
    except Exception as exc:
        if isolate or not is_worker_crash(exc):
            raise
    warnings.warn(
        f"A Spark Python worker died while fitting {unit}s (a crash in native code or the "
        f"out-of-memory killer); fitting again with each {unit} in its own process, to find "
        f"and record the {unit} responsible.",
        RuntimeWarning,
        stacklevel=4,
    )
    return run_job(True)
