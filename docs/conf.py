"""Sphinx configuration: API pages generated from the numpydoc docstrings."""

import spark_sklearn_bridge

project = "spark_sklearn_bridge"
author = "spark_sklearn_bridge developers"
release = spark_sklearn_bridge.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
# Validate every documented object's docstring; a finding is a warning, and the build runs with
# -W, so it fails. PR01/PR02/PR07: every parameter documented (and only real ones), with a
# description; RT01: every function and method says what it returns; SA04: See Also entries
# say why; GL02/GL03: well-formed sections; SS01/SS03: a one-line summary ending with a period.
numpydoc_validation_checks = {
    "GL02",
    "GL03",
    "PR01",
    "PR02",
    "PR07",
    "RT01",
    "SA04",
    "SS01",
    "SS03",
}
# Methods inherited from scikit-learn (documented there) and dunder methods are not ours.
numpydoc_validation_exclude = {
    r"\._\w+$",  # private and dunder methods: not API
    r"\.(get|set)_params$",
    r"\.get_metadata_routing$",
    r"\.set_output$",
    r"\.fit_transform$",
    r"\.set_callbacks$",
    # SparkBackend's methods are joblib's backend interface (documented by joblib): joblib
    # calls them, users do not.
    r"\.SparkBackend\.\w+$",
}
numpydoc_class_members_toctree = False
exclude_patterns = ["_build"]
html_theme = "alabaster"


def _skip_metadata_request_setters(app, what, name, obj, skip, options):
    # scikit-learn generates set_*_request methods (metadata routing); their docstrings point
    # into scikit-learn's own glossary, which this site does not have.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request_setters)


# Docstrings inherited from scikit-learn (e.g. GridSearchCV's methods) link terms of
# scikit-learn's glossary, which this site does not include.
suppress_warnings = ["ref.term"]
