"""Translate scikit-learn style parameter spaces and algorithm names into Hyperopt's."""

from __future__ import annotations

import numpy as np

__all__ = ["resolve_algo", "to_hyperopt_space"]


def resolve_algo(algo):
    """The Hyperopt suggest function for ``algo`` (a name or a suggest function)."""
    import hyperopt

    if callable(algo):
        return algo
    names = {
        "tpe": hyperopt.tpe.suggest,
        "random": hyperopt.rand.suggest,
        "anneal": hyperopt.anneal.suggest,
    }
    if algo not in names:
        raise ValueError(
            f"algo must be one of {sorted(names)} or a Hyperopt suggest function; got {algo!r}."
        )
    return names[algo]


def to_hyperopt_space(space, prefix=""):
    """Translate a scikit-learn style parameter space into a Hyperopt space.

    Parameters
    ----------
    space : dict, list of dicts, or Hyperopt expression
        Dict values: a list (-> ``hp.choice``), a ``scipy.stats`` distribution (uniform,
        loguniform, randint, norm), or a Hyperopt expression (kept as is).
    prefix : str
        Prefix for Hyperopt labels (used for the sub-spaces of a list of dicts).

    Raises
    ------
    ValueError
        A value cannot be mapped; the message names the parameter.

    Examples
    --------
    >>> import hyperopt
    >>> from scipy.stats import loguniform
    >>> space = to_hyperopt_space({"C": loguniform(1e-3, 1e3), "kernel": ["rbf", "poly"]})
    >>> sorted(hyperopt.pyll.stochastic.sample(space, rng=np.random.default_rng(0)))
    ['C', 'kernel']
    """
    from hyperopt import hp
    from hyperopt.pyll import Apply

    if isinstance(space, Apply):
        return space
    if isinstance(space, (list, tuple)) and space and all(isinstance(s, dict) for s in space):
        options = [to_hyperopt_space(s, prefix=f"{prefix}grid{i}:") for i, s in enumerate(space)]
        return hp.choice(f"{prefix}grid", options)
    if not isinstance(space, dict):
        raise ValueError(
            "search_space must be a dict, a list of dicts, or a Hyperopt expression; got "
            f"{type(space).__name__}."
        )
    return {name: _to_hyperopt(f"{prefix}{name}", name, value) for name, value in space.items()}


def _to_hyperopt(label, name, value):
    from hyperopt import hp
    from hyperopt.pyll import Apply

    if isinstance(value, Apply):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) == 0:
            raise ValueError(f"search_space[{name!r}] is an empty list: nothing to choose.")
        return hp.choice(label, list(value))
    dist = getattr(value, "dist", None)
    if dist is None or not hasattr(value, "rvs"):
        raise ValueError(
            f"search_space[{name!r}] must be a list, a scipy.stats distribution or a Hyperopt "
            f"expression; got {value!r}. Wrap a single value in a list: [{value!r}]."
        )
    kind = dist.name.removesuffix("_gen")
    n_shapes = len(dist.shapes.split(",")) if dist.shapes else 0
    args, kwds = value.args, value.kwds
    loc = kwds.get("loc", args[n_shapes] if len(args) > n_shapes else 0.0)
    scale = kwds.get("scale", args[n_shapes + 1] if len(args) > n_shapes + 1 else 1.0)
    if kind == "uniform":
        return hp.uniform(label, loc, loc + scale)
    if kind in ("loguniform", "reciprocal") and loc == 0 and scale == 1:
        low, high = value.support()
        return hp.loguniform(label, np.log(low), np.log(high))
    if kind == "randint" and scale == 1:
        low, high = value.support()  # inclusive bounds
        return hp.randint(label, int(low), int(high) + 1)
    if kind == "norm":
        return hp.normal(label, loc, scale)
    raise ValueError(
        f"search_space[{name!r}]: scipy.stats.{kind} has no Hyperopt counterpart here "
        "(supported: uniform, loguniform, randint, norm). Use a Hyperopt expression instead, "
        f"e.g. hp.quniform({name!r}, ...)."
    )
