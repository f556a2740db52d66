"""pyspark's Python daemon, with scikit-learn, Hyperopt and this package imported before it forks.

Spark starts one daemon per executor (``python -m pyspark.daemon``) and forks a Python worker
from it for every concurrent task; each new worker then imports what its task needs:
scikit-learn, scipy, pandas and this package, about 2 CPU-seconds. A cold 32-slot job
spent 70 of its 80 CPU-seconds there (measured on ``local[32]``). Forked from this daemon,
the workers find those modules already imported, in pages they share copy-on-write.
``gc.freeze()`` keeps the garbage collector from writing to those pages (and from walking
their objects) in every worker.

pyspark's own daemon imports nothing before forking, because a library thread running at
fork time is not copied into the child. What runs here then: an OpenBLAS thread each for
numpy and scipy and pyarrow's jemalloc background thread, all three of which reinitialise
themselves in a forked child (they install ``pthread_atfork`` handlers; forking after these
imports is what ``multiprocessing``'s fork start method has always done).

A new worker's first task also pays for pyspark's ``setup_spark_files``, which puts the
session's files directory on ``sys.path`` and calls ``importlib.invalidate_caches()``: every
zip importer in ``sys.path_importer_cache`` then reads its archive's directory again, and
pyspark is imported from ``pyspark.zip`` (first on the workers' ``PYTHONPATH``), one importer
per package: 16 reads of its 1,485 entries, 70 ms of CPU per new worker, 9 CPU-seconds for
the first job of a 128-slot session. The daemon drops those importers before it forks
(:func:`drop_zip_finders`).

The embedded session uses it (``spark.python.daemon.module``); on a cluster, set that conf
to ``spark_sklearn_bridge._daemon`` where the package is installed on the executors.
"""

import gc
import sys
import zipimport

import hyperopt  # noqa: F401  (a Hyperopt search's space unpickles it: 0.18 s a worker)
import numpy  # noqa: F401
import pandas  # noqa: F401
import pyarrow  # noqa: F401
import pyspark.worker  # noqa: F401  (the daemon imports it in each worker, after the fork)
import scipy.sparse  # noqa: F401
import sklearn.base
import sklearn.model_selection  # noqa: F401

import spark_sklearn_bridge  # noqa: F401


def drop_zip_finders() -> int:
    """Remove the zip importers from ``sys.path_importer_cache``; returns how many.

    The modules they imported keep their loaders; an import that needs one again makes a new
    importer from ``zipimport``'s cache of the archive's directory, without reading the
    archive. Only ``importlib.invalidate_caches()`` reads it again, once per importer that
    is in the cache: after this, once per archive a worker imports from after the fork.
    """
    zipped = [
        path
        for path, finder in sys.path_importer_cache.items()
        if isinstance(finder, zipimport.zipimporter)
    ]
    for path in zipped:
        del sys.path_importer_cache[path]
    return len(zipped)


if __name__ == "__main__":
    from pyspark import daemon

    drop_zip_finders()
    gc.freeze()
    daemon.manager()
