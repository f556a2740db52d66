"""Ship objects from the driver to the executors once, and load them once per Python worker.

Every paradigm sends something large to its tasks: a search its training data and splits,
a batch predictor its model, a grouped estimator its table of models. :func:`ship` pickles
the object once into integrity-checked bytes (:func:`~spark_sklearn_bridge.dump_model`) and
sends them the cheapest way the session allows: a broadcast on classic Spark (each executor
fetches it once), the bytes themselves inside the task's closure on Spark Connect (which has
no broadcasts). Tasks hold a small :class:`Shipment` and call :meth:`Shipment.load`, which
deserializes at most once per Python worker process: the cache is keyed by the bytes'
sha256, so two shipments of the same object share one entry. It keeps the most recently used
objects, at most 64 and at most 2 GiB of serialized bytes (a search's data, splits and scorers
are a dozen entries; evicting one of them would deserialize it again for every task).

``ship(..., shared=True)`` is for the arguments a joblib call's tasks share: the worker keeps
the bytes once (:func:`~spark_sklearn_bridge._serialization.load_shared`) and every use
gets its own copy whose large arrays are read-only views of them, as joblib's process
workers see large arguments. In local mode, where every worker runs on the driver's
machine, such a shipment is a file that each worker maps into memory instead of a
broadcast: the bytes are written once, shared by all workers through the page cache, and
never copied into the JVM (a 500 MiB ``X`` took 841 MiB of the driver JVM's heap and 2.4 s
as a broadcast).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
import threading
from collections import OrderedDict

from ._serialization import (
    dump_model,
    dump_shared,
    load_model,
    load_shared,
    model_digest,
    write_shared,
)
from ._session import is_spark_connect

__all__ = ["SHIP_LIMIT_BYTES", "Shipment", "ship", "worker_cache_misses"]

#: Small enough to travel with the tasks (a broadcast, or inside the task's function on Spark
#: Connect): a grouped model table up to this size is kept on the driver and shipped with the
#: prediction tasks, and linear coefficients up to it are broadcast to the rows; larger ones
#: stay distributed and meet their rows in a shuffled join.
SHIP_LIMIT_BYTES = 64 * 2**20

_CACHE_ENTRIES = 64
_CACHE_BYTES = 2 * 2**30
_cache: OrderedDict = OrderedDict()  # digest -> (object, serialized size)
_cache_lock = threading.Lock()
_misses = 0


def worker_cache_misses() -> int:
    """How many times this process deserialized a shipment (a cache miss); for tests."""
    return _misses


class Shipment:
    """A picklable handle on an object shipped to the executors.

    Parameters
    ----------
    digest : str
        sha256 of the serialized object (the cache key).
    source : bytes or Broadcast
        The serialized object, or a broadcast of it.
    what : str
        Names the object in integrity errors.
    shared : bool
        Bytes of :func:`~spark_sklearn_bridge._serialization.dump_shared`: :meth:`load`
        returns their :class:`~spark_sklearn_bridge._serialization.SharedObjects`.
    """

    def __init__(self, digest: str, source, what: str = "object", shared: bool = False):
        self.digest, self.source, self.what, self.shared = digest, source, what, shared

    def load(self, cached: bool = True):
        """The object (or its SharedObjects), deserialized at most once per Python worker
        (cached by digest). ``cached=False``: deserialized for this call only, neither
        looked up nor kept (an object each worker uses once, e.g. a pulled job's batches)."""
        global _misses
        with _cache_lock:
            if cached and self.digest in _cache:
                _cache.move_to_end(self.digest)
                return _cache[self.digest][0]
        source = self.source
        if isinstance(source, (bytes, bytearray)):
            blob = source
        elif isinstance(source, LocalFile):
            blob = source.map()
        else:
            blob = source.value
        loader = load_shared if self.shared else load_model
        value = loader(blob, what=self.what)
        if not cached:
            return value
        with _cache_lock:
            _misses += 1
            _cache[self.digest] = (value, len(blob))
            while len(_cache) > 1 and (
                len(_cache) > _CACHE_ENTRIES
                or sum(size for _, size in _cache.values()) > _CACHE_BYTES
            ):
                _cache.popitem(last=False)  # least recently used first; never the newest
        return value

    def release(self, *, destroy: bool = False) -> None:
        """Free the executors' copies (classic Spark; nothing to do on Connect).

        ``destroy=False`` only unpersists: a lazy DataFrame that still uses the shipment gets
        it re-sent. ``destroy=True`` is for shipments nothing will use again.
        """
        source = self.source
        if isinstance(source, LocalFile):
            if destroy:
                source.remove()
            return
        if isinstance(source, (bytes, bytearray)) or source is None:
            return
        # The context may already be stopped: then there is nothing left to free.
        with contextlib.suppress(Exception):
            source.destroy(blocking=False) if destroy else source.unpersist(blocking=False)


def ship(
    spark,
    obj,
    *,
    what: str = "object",
    blob: bytes | None = None,
    shared: bool = False,
    references=None,
    inline_bytes: int = 0,
) -> Shipment:
    """Serialize ``obj`` once (or take its ``blob`` from :func:`dump_model`) and ship it.

    With ``shared``, ``obj`` is written by :func:`dump_shared` (each task copies it; large
    arrays stay shared and read-only), with its ``references`` (objects each copy resolves
    instead of unpickling them). Serialized bytes up to ``inline_bytes`` stay in the
    :class:`Shipment` itself instead of a broadcast (a task that is already running can
    read them when they reach it: see :mod:`.parallel._pool`). Returns a :class:`Shipment`
    to pass to task functions.
    """
    connect = is_spark_connect(spark)
    if shared and blob is None and not connect and spark.sparkContext.master.startswith("local"):
        source, digest = LocalFile.write(obj, references)
        return Shipment(digest, source, what, shared=True)
    if blob is None:
        blob = dump_shared(obj, references) if shared else dump_model(obj)
    inline = connect or len(blob) <= inline_bytes
    source = blob if inline else spark.sparkContext.broadcast(blob)
    return Shipment(model_digest(blob), source, what, shared=shared)


class LocalFile:
    """Shared objects in a file on the driver's machine, for a local-mode session's workers
    (:func:`~spark_sklearn_bridge._serialization.write_shared`'s format): each worker maps
    it read-only, so the pages are shared by all of them."""

    def __init__(self, path: str):
        self.path = path

    @classmethod
    def write(cls, obj, references=None) -> tuple:
        """``(LocalFile, digest)`` of ``obj`` written to a new temporary file."""
        handle, path = tempfile.mkstemp(prefix="ssb-shared-", suffix=".bin")
        try:
            with os.fdopen(handle, "wb") as stream:
                digest = write_shared(obj, stream, references)
        except BaseException:
            os.unlink(path)
            raise
        return cls(path), digest

    def map(self):
        with open(self.path, "rb") as stream:
            return mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)

    def remove(self) -> None:
        """Delete the file (workers that mapped it keep their mapping)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
