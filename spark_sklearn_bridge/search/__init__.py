"""Parallel hyperparameter search: scikit-learn's searches with every fit run on Spark.

:class:`SparkGridSearchCV` and :class:`SparkRandomizedSearchCV` are drop-ins for
scikit-learn's, and so are :class:`SparkHalvingGridSearchCV` and
:class:`SparkHalvingRandomSearchCV` (successive halving, its iterations on one pool of tasks);
:class:`SparkHyperoptSearchCV` adds Hyperopt's TPE, annealing and random
search (and Hyperopt's own ``SparkTrials`` as a backend). :func:`to_hyperopt_space` turns a
scikit-learn style parameter space into a Hyperopt one.
"""

from ._grid import SparkGridSearchCV, SparkRandomizedSearchCV
from ._halving import SparkHalvingGridSearchCV, SparkHalvingRandomSearchCV
from ._hyperopt import SparkHyperoptSearchCV
from ._space import to_hyperopt_space

__all__ = [
    "SparkGridSearchCV",
    "SparkHalvingGridSearchCV",
    "SparkHalvingRandomSearchCV",
    "SparkHyperoptSearchCV",
    "SparkRandomizedSearchCV",
    "to_hyperopt_space",
]
