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
