"""One model per group: fit and serve a scikit-learn model for every group of rows.

:class:`GroupedEstimator` (``_estimator.py``) packs groups into a few partitions per core and
fits each group's clone of the base estimator inside one ``mapInPandas`` task per partition
(``_fit.py``); it routes every row to its group's model when predicting (``_predict.py``,
linear models in Spark SQL: ``_linear.py``); groups without a model of their own follow one
policy (``_policy.py``). The fitted models live in a model table (``_table.py``, its schema
in ``_schema.py``) that saves to any pyarrow file system. Group keys (``_keys.py``) and the
feature matrix a task slices per group (``_features.py``) have a module each.
"""

from ._estimator import GroupedEstimator

__all__ = ["GroupedEstimator"]
