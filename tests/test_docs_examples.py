"""Every example of the user guide runs as written (each ends with checks against plain
scikit-learn, Hyperopt, applyInPandas or MLflow), every page's included example exists, and
the README's quickstart runs."""

import re
import runpy
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))
PAGES = sorted((ROOT / "docs").rglob("*.rst"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_guide_example_runs(spark, path, mlflow_store):
    with warnings.catch_warnings():
        # Not failures of an example: the fallback's row count (shown on purpose), MLflow's
        # note on its own pyfunc wrappers, pyspark's note from SparkTrials' and joblibspark's
        # threads (which would otherwise die on it as an error, and fmin would wait for them
        # forever).
        warnings.filterwarnings("ignore", "The fallback model predicted", UserWarning)
        warnings.filterwarnings("ignore", ".*Any type hint is inferred as AnyType", UserWarning)
        warnings.filterwarnings("ignore", "Spark session is not provided", UserWarning)
        # joblibspark (the migration page's "before") on a local session.
        warnings.filterwarnings("ignore", "Spark local mode doesn't support stage-level")
        warnings.filterwarnings("ignore", "`apply_async` is deprecated", DeprecationWarning)
        runpy.run_path(str(path), run_name="__main__")


def test_every_example_is_on_a_page_and_every_include_exists():
    included = set()
    for page in PAGES:
        for target in re.findall(r"literalinclude:: (\S+)", page.read_text()):
            path = (page.parent / target).resolve()
            assert path.is_file(), f"{page.name} includes a missing {target}"
            included.add(path)
    assert {p.resolve() for p in EXAMPLES} <= included


def test_readme_quickstart_runs(spark, tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 20
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README quickstart", "exec"), {"__name__": "__main__"})


def test_readme_joblib_backend_example_runs(spark):
    text = (ROOT / "README.md").read_text()
    section = text.split("## Any scikit-learn program on Spark", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {"__name__": "__main__"}
    exec(compile(code, "README joblib backend", "exec"), namespace)
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import cross_validate

    X, y = namespace["X"], namespace["y"]
    expected = cross_validate(RandomForestClassifier(n_estimators=50, random_state=0), X, y)
    assert list(namespace["scores"]) == list(expected["test_score"])
