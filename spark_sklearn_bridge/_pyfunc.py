"""The MLflow ``python_model`` that serves a saved estimator of this package.

Its own module because it subclasses ``mlflow.pyfunc.PythonModel``: importing it imports
mlflow, which only logging and loading a model should pay for.
"""

from __future__ import annotations

import warnings

import mlflow
import pandas as pd

__all__ = ["SavedModelPyfunc"]


# Defining a PythonModel subclass makes MLflow inspect predict's type hints: without any it
# warns (past any warning filter), and with one it can build a schema from it validates input
# by it. ``pd.DataFrame`` is a hint MLflow builds no schema from: the model's signature, set
# explicitly when it is logged, is what validates input.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", ".*Any type hint is inferred as AnyType")

    class SavedModelPyfunc(mlflow.pyfunc.PythonModel):
        """Serves a :meth:`save` directory, loaded once per process by the class's ``load``
        (integrity checks included); ``predict`` is the estimator's local ``predict`` on pandas.

        Parameters
        ----------
        estimator_class : type
            The class whose ``load`` reads the directory (e.g. ``GroupedEstimator``).
        trusted : list of str, optional
            For a skops save: the types to trust beyond skops' defaults. A skops save
            refuses any pickle in it when served, as :meth:`load` does; a signing key in
            ``SPARK_SKLEARN_BRIDGE_SIGNING_KEY`` where the model is served is required to
            verify it.
        """

        artifact = "saved_model"

        def __init__(self, estimator_class, trusted=None):
            self.estimator_class = estimator_class
            self.trusted = trusted

        def load_context(self, context):
            self.model = self.estimator_class.load(
                context.artifacts[self.artifact], trusted=getattr(self, "trusted", None)
            )

        def predict(self, context, model_input: pd.DataFrame, params=None):
            return self.model.predict(model_input)
