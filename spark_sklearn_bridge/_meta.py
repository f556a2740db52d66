"""Helpers shared by the meta-estimators that wrap one scikit-learn estimator."""

from __future__ import annotations

__all__ = ["delegated_tags"]


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
