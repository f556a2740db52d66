"""Resumable searches: every finished fit is kept in a checkpoint directory.

With ``checkpoint=PATH`` each Spark task writes the outcome of every candidate x fold fit it
finishes to ``PATH/fits/<key>`` as soon as it has it, on any file system pyarrow opens (a
local path, ``s3://``, ``hdfs://`` ...). A search that was interrupted (Ctrl-C, a crash of
the driver, a lost cluster, a timeout) is resumed by running it again with the same
checkpoint: the fits found there are not run again, their recorded outcomes go to
scikit-learn as if they had just come back, so ``cv_results_`` is the same as an
uninterrupted run's.

A fit's key is a hash of what decides its outcome: the estimator with the candidate's
parameters, the train and test indices, the scorers, fit and score parameters and
``error_score``. ``PATH/search.json`` records the search class and a
hash of the data; a checkpoint is refused for another search's data. Searches that draw
candidates at random (randomized, halving-random, Hyperopt) resume only with a fixed
``random_state``: otherwise their candidates differ and every fit runs again.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import cloudpickle
import joblib

from .._compat import fit_and_score_arguments
from .._persistence import filesystem

__all__ = ["Checkpoint", "FitWriter"]

FORMAT = "spark_sklearn_bridge.search_checkpoint/2"


def _hash(obj) -> str:
    try:
        return joblib.hash(obj)
    except Exception:  # objects joblib's pickler refuses (lambdas): by cloudpickle's bytes
        return hashlib.sha256(cloudpickle.dumps(obj)).hexdigest()


def fit_key(item) -> str:
    """Key of one joblib task of a search (``_fit_and_score(estimator, X, y, **kwargs)``):
    the same key means the same estimator, candidate, split, scoring and fit parameters."""
    _, args, kwargs = item
    # The data is checked once per checkpoint; progress counters and verbosity change with
    # the batch, not the outcome.
    return _hash((args[0] if args else None, *fit_and_score_arguments(kwargs)))


class FitWriter:
    """What the executors get: writes one fit's outcome under its key (atomically)."""

    def __init__(self, path):
        self.path = str(path)

    def write(self, key: str, outcome: bytes) -> None:
        fs, root = filesystem(self.path)
        temporary = f"{root}/fits/.{key}.{uuid.uuid4().hex}"
        with fs.open_output_stream(temporary) as stream:
            stream.write(outcome)
        fs.move(temporary, f"{root}/fits/{key}")


class Checkpoint:
    """The driver's side of a checkpoint directory.

    Parameters
    ----------
    path : str or path-like
        The directory (created if missing).
    search : BaseSearchCV
        The search being run (its class is recorded).
    data : tuple
        ``(X, y)`` as the search fits them (their hash is recorded and checked).
    """

    def __init__(self, path, search, data):
        self.path = str(path)
        self.fs, self.root = filesystem(path)
        identity = {"format": FORMAT, "search": type(search).__name__, "data": _hash(data)}
        self.fs.create_dir(f"{self.root}/fits", recursive=True)
        meta = f"{self.root}/search.json"
        if self.fs.get_file_info(meta).type.name == "NotFound":
            with self.fs.open_output_stream(meta) as stream:
                stream.write(json.dumps(identity, indent=1).encode())
        else:
            with self.fs.open_input_stream(meta) as stream:
                recorded = json.loads(stream.readall())
            different = [k for k in identity if recorded.get(k) != identity[k]]
            if different:
                raise ValueError(
                    f"The checkpoint {self.path} was written by another search "
                    f"({', '.join(f'{k}: {recorded.get(k)!r}' for k in different)}; this "
                    f"one: {', '.join(f'{k}: {identity[k]!r}' for k in different)}). Use a "
                    "new checkpoint path for a different search or data."
                )
        from pyarrow import fs as pafs

        listing = self.fs.get_file_info(pafs.FileSelector(f"{self.root}/fits"))
        self.done = {i.base_name for i in listing if not i.base_name.startswith(".")}
        self.n_resumed = 0

    def writer(self) -> FitWriter:
        return FitWriter(self.path)

    def outcome(self, key: str) -> bytes | None:
        """The recorded outcome of a fit, or None if it has not finished before."""
        if key not in self.done:
            return None
        with self.fs.open_input_stream(f"{self.root}/fits/{key}") as stream:
            self.n_resumed += 1
            return stream.readall()
