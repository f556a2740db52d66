"""Run a scikit-learn test module against the Spark search classes.

:func:`port` binds the module's search class names to the Spark classes (the test functions
look them up in their module when they run), rewrites every class or instance of them found
in ``pytest.mark.parametrize`` values, and returns the wrapped test functions to be put in
the porting module's namespace. Nothing else of the tests changes: if a drop-in replacement
diverges from scikit-learn in what they check, they fail.
"""

import functools
import inspect
import re

import pytest


def uses(func, names) -> bool:
    """Does ``func`` (its body or its parametrization) mention one of ``names``?"""
    marks = " ".join(repr(m.args) for m in getattr(func, "pytestmark", []))
    pattern = r"\b(" + "|".join(map(re.escape, names)) + r")\b"
    return bool(re.search(pattern, inspect.getsource(func) + marks))


def selected(module, names) -> list:
    """Names of ``module``'s test functions that use one of the classes ``names``."""
    return sorted(
        name
        for name, func in vars(module).items()
        if name.startswith("test_") and callable(func) and uses(func, names)
    )


def port(module, classes: dict, tests) -> dict:
    """``{name: ported test}`` of ``module``'s ``tests``, with ``classes`` (scikit-learn
    class -> Spark class) substituted in the module and in parametrize values."""

    def to_spark(value):
        if isinstance(value, type) and value in classes:
            return classes[value]
        if type(value) in classes:
            return classes[type(value)](**value.get_params(deep=False))
        if isinstance(value, (tuple, list)):
            return type(value)(to_spark(v) for v in value)
        return value

    def port_mark(mark):
        if mark.name != "parametrize":
            return mark
        argnames, argvalues = mark.args[:2]
        ported = []
        for value in argvalues:
            if hasattr(value, "values") and hasattr(value, "marks"):  # pytest.param(...)
                values, marks, id_ = value.values, list(value.marks), value.id
            else:
                several = isinstance(argnames, (list, tuple)) or "," in argnames
                values, marks, id_ = (value if several else (value,)), [], None
            ported.append(pytest.param(*to_spark(tuple(values)), marks=marks, id=id_))
        return pytest.mark.parametrize(argnames, ported, *mark.args[2:], **mark.kwargs).mark

    def port_one(func):
        @functools.wraps(func)
        def test(*args, **kwargs):
            return func(*args, **kwargs)

        test.pytestmark = [port_mark(m) for m in getattr(func, "pytestmark", [])]
        return test

    for sk_class, spark_class in classes.items():
        setattr(module, sk_class.__name__, spark_class)
    return {name: port_one(getattr(module, name)) for name in tests}


def check_ported(namespace: dict, module, selected, skipped: dict, at_least: int) -> None:
    """Every selected test is ported into ``namespace`` as scikit-learn's own function or
    skipped with a reason; no skip is stale; at least ``at_least`` are ported."""
    assert set(skipped) <= set(selected), f"stale skips: {set(skipped) - set(selected)}"
    ported = [n for n in selected if n not in skipped]
    assert all(namespace[n].__wrapped__ is getattr(module, n) for n in ported)
    assert len(ported) >= at_least, f"only {len(ported)} tests ported"
