"""The Python daemon of the embedded session (spark_sklearn_bridge._daemon)."""

import subprocess
import sys


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
