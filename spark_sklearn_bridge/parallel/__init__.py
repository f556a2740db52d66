"""Any joblib call on Spark: the ``"spark"`` joblib backend.

Importing this package registers :class:`SparkBackend` with joblib as ``"spark"``, so
``joblib.parallel_config(backend="spark")`` (or ``joblib.parallel_backend("spark")``, or this
package's :func:`parallel_backend`) runs scikit-learn's own parallel work on Spark:
``cross_validate``, ``permutation_importance``, ``RFECV``, forests, meta-estimators and
``GridSearchCV(n_jobs=...)``. Each ``Parallel`` call is one Spark job; the search classes
run their fits on the same machinery.
"""

from ._backend import SparkBackend
from ._config import parallel_backend, register_spark

register_spark()

__all__ = ["SparkBackend", "parallel_backend", "register_spark"]
