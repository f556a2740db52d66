"""The Python daemon of the embedded session (spark_sklearn_bridge._daemon)."""

import os
import subprocess
import sys
from pathlib import Path


def test_daemon_imports_what_tasks_unpickle_and_starts_no_thread():
    """Workers fork from the daemon: what it imported, they have (scikit-learn, this package,
    Hyperopt, whose space a Hyperopt search's fits unpickle); a Python thread running at fork
    time would not survive in them, so importing starts none."""
    code = (
        "import sys, threading\n"
        "import spark_sklearn_bridge._daemon\n"
        "wanted = ['hyperopt', 'sklearn.model_selection', 'pandas', 'pyarrow', "
        "'spark_sklearn_bridge', 'pyspark.worker']\n"
        "missing = [m for m in wanted if m not in sys.modules]\n"
        "assert not missing, missing\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_daemon_forks_without_zip_importers_that_invalidate_caches_would_reread():
    """A new worker's first task calls ``importlib.invalidate_caches()`` (pyspark's
    ``setup_spark_files``), which makes every zip importer in ``sys.path_importer_cache``
    read its archive again: with pyspark imported from ``pyspark.zip``, as on the workers'
    ``PYTHONPATH``, one per package. Fails if the daemon's imports leave such importers, or
    if dropping them stops an import from the archive working."""
    import pyspark

    lib = Path(pyspark.__file__).parent / "python" / "lib"
    zips = sorted(str(p) for p in lib.glob("*.zip"))
    assert any(p.endswith("pyspark.zip") for p in zips), zips
    code = (
        "import importlib, sys, zipimport\n"
        "import spark_sklearn_bridge._daemon as d\n"
        "import pyspark\n"
        "assert '.zip' in pyspark.__file__, pyspark.__file__\n"
        "def zipped():\n"
        "    return [k for k, v in sys.path_importer_cache.items()\n"
        "            if isinstance(v, zipimport.zipimporter)]\n"
        "assert len(zipped()) > 2, zipped()\n"
        "assert d.drop_zip_finders() > 2 and zipped() == []\n"
        "import pyspark.testing.utils as later  # not imported before: from the archive\n"
        "assert '.zip' in later.__file__, later.__file__\n"
        "importlib.invalidate_caches()\n"
        "# left: the archives, and the packages on the way to the new module\n"
        "inside = {p.split('.zip')[1] for p in zipped()}\n"
        "assert inside <= {'', '/pyspark', '/pyspark/testing'}, zipped()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(zips)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
