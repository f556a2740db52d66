"""One model per group: fit and serve a scikit-learn model for every group of rows.

:class:`GroupedEstimator` packs groups into a few partitions per core and fits each group's
clone of the base estimator inside one ``mapInPandas`` task per partition (``_fit.py``); it
routes every row to its group's model when predicting (``_predict.py``); the fitted models
live in a model table that saves to any pyarrow file system (``_store.py``).
"""

from ._estimator import GroupedEstimator

__all__ = ["GroupedEstimator"]
