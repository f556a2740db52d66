"""The main job on a real engine: the demo's command line against the Spark Connect server
(``--spark-remote sc://...``) and the standalone cluster (``--master spark://...``), with its
own MLflow store (``--mlflow-uri``); the same checks as the classic run."""

import contextlib
import io
import os

from demo_checks import check_report, check_store, check_summary

from spark_sklearn_bridge.demo import main

ENGINE = os.environ.get("SSB_ENGINE")


def test_demo_command_runs_on_the_engine(engine, spark, tmp_path):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    output = tmp_path / "out"
    args = ["--quick", "--rows", "20000", "--output", str(output), "--mlflow-uri", store]
    if ENGINE == "connect":
        args += ["--spark-remote", engine.url]
    else:
        args += ["--master", engine.master_url]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(args)
    assert code == 0, stdout.getvalue()
    check_summary(stdout.getvalue())
    check_report(output / "report")
    assert not (output / "mlflow.db").exists()  # --mlflow-uri given: no default store
    assert any((output / "mlartifacts").iterdir())  # a local store's artefacts: in --output
    check_store(store)
