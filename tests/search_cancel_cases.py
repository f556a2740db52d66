"""Slow candidates for the cancellation tests (classic and Connect), and how to wait for a
cancelled job to end (classic).

A slow fit touches its file in ``log_dir`` every 0.2 s while it runs, so a test can tell
from the files' modification times whether any executor still works after the driver gave
up (Spark Connect has no status tracker to ask).
"""

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


class SlowFit(RegressorMixin, BaseEstimator):
    """Predicts ``alpha`` times the mean label; ``fit`` takes ``sleep`` seconds once
    ``slow_after`` (a wall-clock time) has passed, no time before it."""

    def __init__(self, alpha=1.0, sleep=30.0, slow_after=0.0, log_dir=None):
        self.alpha = alpha
        self.sleep = sleep
        self.slow_after = slow_after
        self.log_dir = log_dir

    def fit(self, X, y):
        beat = Path(self.log_dir, uuid.uuid4().hex) if self.log_dir else None
        end = time.time() + (self.sleep if time.time() >= self.slow_after else 0.0)
        while True:
            if beat is not None:
                beat.touch()
            if time.time() >= end:
                break
            time.sleep(0.2)
        self.mean_ = self.alpha * float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def fits_seen(log_dir) -> int:
    return len(os.listdir(log_dir))


def last_beat(log_dir) -> float:
    """Wall-clock time of the latest heartbeat of any fit (0 if none)."""
    return max((p.stat().st_mtime for p in Path(log_dir).iterdir()), default=0.0)


def interrupt_when(ready, delay=1.0, limit=120.0):
    """Send this process SIGINT (what Ctrl-C sends) ``delay`` seconds after ``ready()``
    first returns true (polled from a thread; gives up after ``limit`` seconds)."""

    def watch():
        start = time.monotonic()
        while not ready():
            if time.monotonic() - start > limit:
                return
            time.sleep(0.1)
        time.sleep(delay)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def files_in(directory) -> int:
    directory = Path(directory)
    return len(os.listdir(directory)) if directory.exists() else 0


def seconds_until_quiet(log_dir, limit=10.0, quiet=2.0) -> float:
    """Seconds from now until no fit has beaten for ``quiet`` seconds; ``inf`` when fits
    still run after ``limit`` seconds."""
    start = time.time()
    while time.time() - start <= limit:
        if time.time() - last_beat(log_dir) >= quiet:
            return max(0.0, last_beat(log_dir) - start)
        time.sleep(0.2)
    return float("inf")


def no_active_job_within(spark, seconds):
    """Spark cancels a job asynchronously: the scheduler ends it shortly after the call
    (under load, after the caller has already got its exception)."""
    deadline = time.monotonic() + seconds
    while spark.sparkContext.statusTracker().getActiveJobsIds() and time.monotonic() < deadline:
        time.sleep(0.2)
    return not spark.sparkContext.statusTracker().getActiveJobsIds()
