"""Helpers shared by the meta-estimators that wrap one scikit-learn estimator."""

from __future__ import annotations

__all__ = ["check_fitted", "delegated_tags", "python_scalar"]


def delegated_tags(tags, estimator, *, input_tags=True):
    """Copy the wrapped ``estimator``'s type tags (and optionally input tags) onto ``tags``."""
    from sklearn.utils import get_tags

    try:
        base = get_tags(estimator)
    except Exception:  # not a scikit-learn estimator (e.g. an MLflow pyfunc model)
        return tags
    tags.estimator_type = base.estimator_type
    tags.classifier_tags = base.classifier_tags
    tags.regressor_tags = base.regressor_tags
    tags.transformer_tags = base.transformer_tags
    tags.target_tags = base.target_tags
    if input_tags:
        tags.input_tags = base.input_tags
    return tags


def check_fitted(estimator, attribute: str) -> None:
    """Raise the package's :class:`NotFittedError` unless ``estimator`` has ``attribute``."""
    from .exceptions import NotFittedError

    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' first."
        )


def python_scalar(value):
    """numpy scalar -> Python scalar (for messages, JSON, dict keys and Spark literals)."""
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value
