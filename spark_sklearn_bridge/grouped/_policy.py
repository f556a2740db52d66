"""The fallback and unseen-group policy, in one place: which model predicts which rows.

A row's group may have no usable model: it was never seen at fit (*unseen*), or it failed or
had fewer than ``min_rows`` rows (*known*, without a model). With a ``fallback`` model, known
groups always go to it; unseen ones follow ``unseen_groups``: ``"raise"``
(:class:`UnseenGroupError`), ``"null"`` (null predictions, counted in a warning) or
``"fallback"``. :class:`Routing` holds that decision for the driver (:meth:`Routing.route`,
before a job) and for the tasks (:meth:`Routing.source`, row by row on streaming input), so
a new policy is added here and nowhere else.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..exceptions import UnseenGroupError

__all__ = ["USE_FALLBACK", "Missing", "Routing"]

#: Model bytes of a known group without a model, in what prediction tasks get: "predict
#: this group with the fallback model".
USE_FALLBACK = b""


class Missing:
    """Groups of the data without a usable model: row counts of the ``known`` ones (failed
    or too few rows at fit) and of the unseen ones."""

    def __init__(self):
        self.known: dict = {}
        self.unseen: dict = {}

    def add(self, key, n_rows, *, known) -> None:
        (self.known if known else self.unseen)[key] = n_rows


@dataclass(frozen=True)
class Routing:
    """Where the rows of a group without a model go.

    Parameters
    ----------
    unseen_groups : {"raise", "null", "fallback"}
        The estimator's setting.
    has_fallback : bool
        A fallback model was fitted.
    """

    unseen_groups: str
    has_fallback: bool

    @staticmethod
    def check(unseen_groups: str, fallback) -> None:
        """Refuse settings that cannot work together (at fit, before any job)."""
        if unseen_groups == "fallback" and fallback is None:
            raise ValueError(
                "unseen_groups='fallback' needs a fallback model: pass fallback='global' (the "
                "base estimator fitted on all rows) or fallback=<an estimator>."
            )

    @property
    def unseen_to_fallback(self) -> bool:
        return self.has_fallback and self.unseen_groups == "fallback"

    def unusable_blob(self):
        """What a known group without a model is served as: :data:`USE_FALLBACK`, or None
        (no model) without a fallback model."""
        return USE_FALLBACK if self.has_fallback else None

    # ------------------------------------------------------------------- driver
    def route(self, missing: Missing, describe) -> list:
        """Apply the policy to the groups without a model before predicting: raise, or warn
        with counts; return the keys whose rows the fallback model predicts. ``describe``
        writes a key for the message."""
        to_fallback, unresolved = {}, dict(missing.unseen)
        if self.has_fallback:
            to_fallback.update(missing.known)
            if self.unseen_to_fallback:
                to_fallback.update(unresolved)
                unresolved = {}
        else:
            unresolved.update(missing.known)
        if unresolved:
            examples = [describe(k) for k in list(unresolved)[:5]]
            kinds = "" if self.has_fallback else ", failed or below min_rows"
            message = (
                f"{sum(unresolved.values())} rows in {len(unresolved)} groups have no fitted "
                f"model (unseen{kinds}), e.g. {examples}."
            )
            if self.unseen_groups == "raise":
                hint = (
                    "'fallback' (with a fallback model) or 'null'"
                    if self.has_fallback
                    else "'null'"
                )
                raise UnseenGroupError(f"{message} Set unseen_groups={hint} to predict them.")
            warnings.warn(message + " Their predictions are null.", UserWarning, stacklevel=4)
        if to_fallback:
            n_known = sum(missing.known.values()) if self.has_fallback else 0
            n_unseen = sum(to_fallback.values()) - n_known
            warnings.warn(
                f"The fallback model predicted {sum(to_fallback.values())} rows of "
                f"{len(to_fallback)} groups: {n_known} rows of groups that failed or had too "
                f"few rows at fit, {n_unseen} rows of unseen groups.",
                UserWarning,
                stacklevel=4,
            )
        return list(to_fallback)

    # -------------------------------------------------------------------- tasks
    def source(self, blob, describe) -> str | None:
        """Which model predicts a group's rows in a task, from what the task got for it:
        ``blob`` None (unseen), :data:`USE_FALLBACK` (known, without a model) or the group's
        model bytes. ``"group"``, ``"fallback"`` or None (null predictions); raises
        :class:`UnseenGroupError` for an unseen group under ``unseen_groups="raise"``
        (streaming input, checked here row by row). ``describe()`` names the group."""
        if blob is None:
            if self.unseen_to_fallback:
                return "fallback"
            if self.unseen_groups == "raise":
                raise UnseenGroupError(
                    f"Rows of group {describe()} have no fitted model (unseen_groups='raise')."
                )
            return None
        return "fallback" if len(blob) == 0 else "group"

    def rows_to_fallback(self, known: np.ndarray) -> np.ndarray:
        """Of rows without a group model (``known``: their group was fitted, without a
        model), those the fallback model predicts; the others get null."""
        return known | self.unseen_to_fallback
