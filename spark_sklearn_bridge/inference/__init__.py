"""Distributed inference: score Spark DataFrames with a single-node scikit-learn model.

:class:`SparkBatchPredictor` adds a prediction column to a (batch or streaming) DataFrame;
:func:`predict_udf` is the bare Arrow UDF behind it, for ``withColumn``, ``select`` and SQL.
The model is shipped to the executors once and loaded once per Python worker.
"""

from ._predictor import SparkBatchPredictor
from ._udf import predict_udf

__all__ = ["SparkBatchPredictor", "predict_udf"]
