"""Linear group models, predicted in Spark SQL: no Python worker, no model loaded.

For the regressors in :data:`~.._linear.LINEAR_TYPES`, ``predict(X)`` is
``X @ coef_ + intercept_``. The fit records every such group model's ``intercept_`` and
``coef_`` in the model table (its ``intercept`` and ``coef`` columns,
:func:`~.._linear.linear_form`); when every usable group model has them,
:func:`join_coefficients` joins them to the rows and :func:`linear_prediction` computes that sum
in the JVM.
Per-group Python costs (a model load and a ``predict`` call per group) are what limit the
general path when groups are small: 200,000 groups of 10 rows ran at 7 % of a no-op pandas
UDF's rate. Rows routed to the fallback model still go through Python, and only they.

scikit-learn's ``predict`` refuses null, NaN and infinite features; so does this path: the
job fails with an error naming the column and the group.
"""

from __future__ import annotations

from .._inputs import column
from .._linear import linear_prediction as _linear_prediction
from .._reserved import INTERCEPT, KNOWN, WEIGHT
from .._shipping import SHIP_LIMIT_BYTES

__all__ = ["join_coefficients", "linear_prediction"]


def join_coefficients(X, coefficients, *, group_cols, n_features, n_groups):
    """``(joined, has_model)``: ``X``'s columns, then ``KNOWN`` (true for the rows of a
    fitted group) and its model's intercept and weights (null without a usable model).

    ``coefficients`` is the model table (group columns, ``intercept``, ``coef``); up to
    :data:`~.._shipping.SHIP_LIMIT_BYTES` of it is broadcast to the rows, else Spark joins
    the two.
    """
    from pyspark.sql import functions as F

    from .._frames import null_safe_condition

    table = coefficients.select(
        *[column(c) for c in group_cols],
        F.lit(True).alias(KNOWN),
        F.col("intercept").alias(INTERCEPT),
        *[F.col("coef")[i].alias(WEIGHT.format(i)) for i in range(n_features)],
    )
    if n_groups * (n_features + 2) * 8 <= SHIP_LIMIT_BYTES:
        table = F.broadcast(table)
    joined = X.alias("rows").join(
        table.alias("models"), null_safe_condition(group_cols, "rows", "models"), "left"
    )
    helpers = [KNOWN, INTERCEPT] + [WEIGHT.format(i) for i in range(n_features)]
    joined = joined.select(
        *[column(c, "rows") for c in X.columns],
        *[column(h, "models") for h in helpers],
    )
    return joined, F.col(INTERCEPT).isNotNull()


def linear_prediction(group_cols, feature_cols):
    """``intercept + sum(feature * weight)`` with the joined weights of the row's group, or an
    error naming a null, NaN or infinite feature and its group (scikit-learn's ``predict``
    raises on those)."""
    from pyspark.sql import functions as F

    return _linear_prediction(
        [(name, column(name)) for name in feature_cols],
        [F.col(WEIGHT.format(i)) for i in range(len(feature_cols))],
        F.col(INTERCEPT),
        where=[" of group ", F.to_json(F.struct(*[column(c) for c in group_cols]))],
        refusal="its linear model cannot predict it (scikit-learn's predict refuses such "
        "input). Impute or drop those rows first.",
    )
