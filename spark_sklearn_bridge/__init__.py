"""spark_sklearn_bridge: scale plain scikit-learn code out on Apache Spark.

Four paradigms, one class family each:

- :class:`SparkMLEstimator`: data-parallel training of one model, delegated to ``pyspark.ml``;
- :class:`GroupedEstimator`: one scikit-learn model per group of rows;
- :class:`SparkGridSearchCV`, :class:`SparkRandomizedSearchCV`, :class:`SparkHyperoptSearchCV`:
  hyperparameter search with candidates fitted as Spark tasks;
- :class:`SparkBatchPredictor` and :func:`predict_udf`: distributed inference.
"""

from ._batch_predict import SparkBatchPredictor, predict_udf
from ._grouped import GroupedEstimator
from ._search import SparkGridSearchCV, SparkHyperoptSearchCV, SparkRandomizedSearchCV
from ._serialization import dump_model, load_model
from ._session import get_spark, is_spark_connect
from ._spark_ml import SparkMLEstimator, supported_estimators
from .exceptions import SparkSklearnBridgeError

__version__ = "0.1.0"

__all__ = [
    "GroupedEstimator",
    "SparkBatchPredictor",
    "SparkGridSearchCV",
    "SparkHyperoptSearchCV",
    "SparkMLEstimator",
    "SparkRandomizedSearchCV",
    "SparkSklearnBridgeError",
    "__version__",
    "dump_model",
    "get_spark",
    "is_spark_connect",
    "load_model",
    "predict_udf",
    "supported_estimators",
]
