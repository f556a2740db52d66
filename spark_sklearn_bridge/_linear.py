"""Linear regressors predicted in Spark SQL: ``X @ coef_ + intercept_``, no Python worker.

For the regressors in :data:`LINEAR_TYPES`, ``predict(X)`` on dense input is
``X @ coef_ + intercept_`` (:func:`linear_form` reads the two). :func:`linear_prediction` writes
that sum as a Spark column: the JVM computes it, so no row travels to a Python worker and no
model is loaded. Both scoring paradigms use it: :class:`~spark_sklearn_bridge.SparkBatchPredictor`
with the coefficients as literals, :class:`~spark_sklearn_bridge.GroupedEstimator` with each
group's coefficients joined to its rows.

scikit-learn's ``predict`` refuses null, NaN and infinite features; so does this expression:
the job fails with an error naming the column (and, per group, the group).
"""

from __future__ import annotations

from inspect import getattr_static

import numpy as np
from sklearn import linear_model
from sklearn.model_selection import GridSearchCV

__all__ = ["LINEAR_TYPES", "linear_form", "linear_prediction", "plain_numbers"]

#: Exactly these types (not subclasses, which may override ``predict``): their ``predict`` on
#: dense input is ``X @ coef_ + intercept_`` (``tests/test_grouped_fast_paths.py`` checks each).
LINEAR_TYPES = frozenset(
    getattr(linear_model, name)
    for name in (
        "ElasticNet",
        "ElasticNetCV",
        "HuberRegressor",
        "Lars",
        "LarsCV",
        "Lasso",
        "LassoCV",
        "LassoLars",
        "LassoLarsCV",
        "LassoLarsIC",
        "LinearRegression",
        "OrthogonalMatchingPursuit",
        "OrthogonalMatchingPursuitCV",
        "QuantileRegressor",
        "Ridge",
        "RidgeCV",
        "TheilSenRegressor",
    )
)
#: What every search's ``predict`` is (scikit-learn's and this package's search classes
#: inherit it): ``best_estimator_.predict``. Compared as the class attribute itself: scikit-learn
#: wraps it in a descriptor that makes a new function on every access.
_SEARCH_PREDICT = getattr_static(GridSearchCV, "predict")


def linear_form(model):
    """``(intercept, coef)`` of a fitted model whose ``predict(X)`` is exactly
    ``X @ coef + intercept`` with one output in float64, else ``(None, None)``.

    A fitted search (scikit-learn's or this package's) predicts with its best estimator,
    so it has that estimator's form.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> intercept, coef = linear_form(LinearRegression().fit(X, 3 * X[:, 0] + 1))
    >>> round(intercept, 6), np.round(coef, 6).tolist()
    (1.0, [3.0])
    """
    if getattr_static(type(model), "predict", None) is _SEARCH_PREDICT:
        best = getattr(model, "best_estimator_", None)
        return (None, None) if best is None else linear_form(best)
    if type(model) not in LINEAR_TYPES:
        return None, None
    coef, intercept = np.asarray(model.coef_), np.asarray(model.intercept_)
    if coef.ndim != 1 or intercept.ndim != 0 or coef.dtype != np.float64:
        return None, None
    return float(intercept), coef.tolist()


def plain_numbers(schema, columns) -> bool:
    """Whether ``columns`` of a Spark ``schema`` are all integers or floats: what
    :func:`linear_prediction` casts to double exactly as Arrow and numpy convert them for the
    model (booleans and decimals take the model's own path)."""
    from pyspark.sql import types as T

    types = {f.name: f.dataType for f in schema.fields}
    return all(
        isinstance(types[c], T.NumericType) and not isinstance(types[c], T.DecimalType)
        for c in columns
    )


def linear_prediction(features, weights, intercept, *, where=(), refusal):
    """``intercept + sum(feature * weight)`` as a Spark column, or an error naming a null,
    NaN or infinite feature (scikit-learn's ``predict`` raises on those).

    Parameters
    ----------
    features : list of (str, Column)
        Each feature's name (for the error) and its column, in the model's feature order.
    weights : list of Column
        One weight per feature (literals, or columns joined to the rows).
    intercept : Column
        The intercept.
    where : sequence of str or Column, default=()
        Pieces of the error message after "in a row" (e.g. the row's group).
    refusal : str
        The rest of the error message: whose ``predict`` refuses the row, and what to do.

    Returns
    -------
    Column
        A double column; evaluating it on a bad row fails the job with that message.
    """
    from pyspark.sql import functions as F

    total = None  # summed as scikit-learn does: the products, then the intercept
    for (_, value), weight in zip(features, weights):
        product = value.cast("double") * weight
        total = product if total is None else total + product
    total = intercept if total is None else total + intercept
    checked = None
    for name, value in features:
        value = value.cast("double")
        bad = value.isNull() | F.isnan(value) | (F.abs(value) == float("inf"))
        pieces = [F.lit(f"Feature column {name!r} is null, NaN or infinite in a row")]
        pieces += [F.lit(p) if isinstance(p, str) else p for p in where]
        error = F.raise_error(F.concat(*pieces, F.lit(f"; {refusal}")))
        checked = F.when(bad, error) if checked is None else checked.when(bad, error)
    return total if checked is None else checked.otherwise(total)
