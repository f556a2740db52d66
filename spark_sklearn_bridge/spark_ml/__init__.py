"""Data-parallel training of one model: delegate a scikit-learn estimator to pyspark.ml.

:class:`SparkMLEstimator` translates a supported estimator (see
:func:`supported_estimators`) into its pyspark.ml counterpart with parameters chosen so the
results agree with scikit-learn, trains it on the executors and mirrors the fitted
attributes. The translations and exports live in one registry (``_registry.py``); scikit-learn
preprocessing (ColumnTransformer, encoders, imputers, scalers...) is fitted from Spark
aggregates and applied as Spark columns (``_preprocessing.py``, ``_compose.py``).

:class:`SparkIncrementalEstimator` trains one scikit-learn model that has no pyspark.ml
counterpart but a ``partial_fit``, streaming the rows to the driver batch by batch.
"""

from ._estimator import SparkMLEstimator
from ._incremental import SparkIncrementalEstimator
from ._registry import supported_estimators

__all__ = ["SparkIncrementalEstimator", "SparkMLEstimator", "supported_estimators"]
