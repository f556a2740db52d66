"""Data-parallel training of one model: delegate a scikit-learn estimator to pyspark.ml.

:class:`SparkMLEstimator` translates a supported estimator (see
:func:`supported_estimators`) into its pyspark.ml counterpart with parameters chosen so the
results agree with scikit-learn, trains it on the executors and mirrors the fitted
attributes. The translations and exports live in one registry (``_registry.py``).
"""

from ._estimator import SparkMLEstimator
from ._registry import supported_estimators

__all__ = ["SparkMLEstimator", "supported_estimators"]
