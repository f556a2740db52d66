"""spark_sklearn_bridge: scale plain scikit-learn code out on Apache Spark.

Four paradigms, one class family each:

- :class:`SparkMLEstimator` (:mod:`.spark_ml`): data-parallel training of one model,
  delegated to ``pyspark.ml`` (and :class:`SparkIncrementalEstimator`: one model trained out
  of core with ``partial_fit``);
- :class:`GroupedEstimator` (:mod:`.grouped`): one scikit-learn model per group of rows;
- :class:`SparkGridSearchCV`, :class:`SparkRandomizedSearchCV`, :class:`SparkHyperoptSearchCV`,
  :class:`SparkHalvingGridSearchCV`, :class:`SparkHalvingRandomSearchCV` (:mod:`.search`):
  hyperparameter search with candidates fitted as Spark tasks;
- :class:`SparkBatchPredictor` and :func:`predict_udf` (:mod:`.inference`): distributed
  inference.

Beyond its own classes, :func:`parallel_backend` (:mod:`.parallel`; also registered with
joblib as ``"spark"``) runs any scikit-learn code that parallelises through joblib on Spark.
"""

from ._serialization import dump_model, load_model
from ._session import get_spark, is_spark_connect
from .exceptions import SparkSklearnBridgeError
from .grouped import GroupedEstimator
from .inference import SparkBatchPredictor, predict_udf
from .parallel import SparkBackend, parallel_backend, register_spark
from .search import (
    SparkGridSearchCV,
    SparkHalvingGridSearchCV,
    SparkHalvingRandomSearchCV,
    SparkHyperoptSearchCV,
    SparkRandomizedSearchCV,
)
from .spark_ml import SparkIncrementalEstimator, SparkMLEstimator, supported_estimators

__version__ = "0.2.0"

__all__ = [
    "GroupedEstimator",
    "SparkBackend",
    "SparkBatchPredictor",
    "SparkGridSearchCV",
    "SparkHalvingGridSearchCV",
    "SparkHalvingRandomSearchCV",
    "SparkHyperoptSearchCV",
    "SparkIncrementalEstimator",
    "SparkMLEstimator",
    "SparkRandomizedSearchCV",
    "SparkSklearnBridgeError",
    "__version__",
    "dump_model",
    "get_spark",
    "is_spark_connect",
    "load_model",
    "parallel_backend",
    "predict_udf",
    "register_spark",
    "supported_estimators",
]
