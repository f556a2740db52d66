"""Simulating a large cluster on a small machine: fits that sleep, and CPU by process.

A fit that sleeps costs no CPU, so ``local[N]`` with N far above the real cores measures
scheduling overhead alone: ideal time = work / N (+ what must run serially). What the
machine's cores do meanwhile is that overhead; :func:`process_cpu` splits it between the
driver's Python process, its JVM (which in local mode is also every executor) and the
Python workers, whose share would spread over a real cluster's executors.

Benchmarks run from the repository root, where Spark's Python workers (started in the
driver's working directory) import this module by name.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

__all__ = ["SleepingRegressor", "noop_partition", "process_cpu"]


class SleepingRegressor(RegressorMixin, BaseEstimator):
    """Predicts ``alpha`` x the mean label; ``fit`` sleeps ``seconds`` (x ``len(y) /
    unit_rows`` when ``unit_rows`` is set: fit time proportional to the rows)."""

    def __init__(self, alpha=1.0, seconds=1.0, unit_rows=None):
        self.alpha = alpha
        self.seconds = seconds
        self.unit_rows = unit_rows

    def fit(self, X, y):
        scale = 1.0 if self.unit_rows is None else len(y) / self.unit_rows
        time.sleep(self.seconds * scale)
        self.mean_ = self.alpha * float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def noop_partition(partition):
    """A Spark task's body that does nothing (a task launch's own cost)."""
    yield 0


def process_cpu() -> dict:
    """CPU seconds so far of this process (driver Python), its JVM and the JVM's Python
    workers (the daemon and its children, finished ones included)."""
    import psutil

    me = psutil.Process()
    times = me.cpu_times()
    out = {"driver": times.user + times.system, "jvm": 0.0, "workers": 0.0}
    for child in me.children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue
        if "java" in child.name():
            out["jvm"] += t.user + t.system
        else:
            out["workers"] += t.user + t.system + t.children_user + t.children_system
    return out
