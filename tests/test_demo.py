"""The main job: ``python -m spark_sklearn_bridge demo`` end to end (quick mode), its MLflow
store, its report, and its models served by ``mlflow models serve`` over HTTP."""

import contextlib
import io
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from demo_checks import check_report, check_store, check_summary

from spark_sklearn_bridge import SparkBatchPredictor
from spark_sklearn_bridge.__main__ import main as module_main
from spark_sklearn_bridge.demo import main
from spark_sklearn_bridge.demo._cli import parser, session
from spark_sklearn_bridge.demo._data import (
    GROUP,
    NUMERIC,
    forecast_split,
    load_gapminder,
    scale_up,
)

sys.path.insert(0, str(Path(__file__).parent / "engines"))
import harness


@pytest.fixture(scope="module")
def demo(spark, tmp_path_factory):
    """One quick demo through the command line (the active session; the default store)."""
    output = tmp_path_factory.mktemp("demo")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = module_main(["demo", "--quick", "--rows", "30000", "--output", str(output)])
    # Like a script, the demo leaves its own store active.
    assert mlflow.get_tracking_uri() == f"sqlite:///{(output / 'mlflow.db').resolve()}"
    return code, stdout.getvalue(), output


def test_demo_exits_0_and_prints_a_summary_where_every_step_agrees(demo):
    code, stdout, _ = demo
    assert code == 0, stdout
    check_summary(stdout)
    assert "30,000" in stdout  # --rows


def test_demo_writes_the_report_with_its_four_plots(demo):
    check_report(demo[2] / "report")


def test_demo_store_holds_the_runs_models_and_artefacts(demo):
    output = demo[2]
    assert (output / "mlflow.db").is_file()  # the default store, under --output
    check_store(f"sqlite:///{(output / 'mlflow.db').resolve()}")


def test_logged_models_served_over_http_equal_the_batch_path(spark, demo, tmp_path):
    """The real-time path: both logged models behind ``mlflow models serve`` on 127.0.0.1,
    queried over HTTP, predict what SparkBatchPredictor (the batch path) predicts."""
    tracking_uri = f"sqlite:///{(demo[2] / 'mlflow.db').resolve()}"
    uris = check_store(tracking_uri)
    frame = load_gapminder()
    _, test, unseen, _ = forecast_split(frame)
    requests = {
        "grouped_model": test[[GROUP, *NUMERIC]],  # unseen countries included: the fallback
        "best_model": frame[["continent", *NUMERIC]].sample(200, random_state=0),
    }
    requests = {name: rows.reset_index(drop=True) for name, rows in requests.items()}
    assert test[GROUP].isin(unseen).any()
    servers = {
        name: harness.start_model_server(uris[name], tmp_path / name, tracking_uri)
        for name in uris
    }
    try:
        for server in servers.values():  # nothing beyond loopback (issue #23)
            sockets = harness.listening_sockets(server.process.pid)
            assert sockets and {ip for ip, _ in sockets} <= harness.LOOPBACK, sockets
        for name, rows in requests.items():
            served = np.asarray(servers[name].predict(rows), dtype=float)
            batch = SparkBatchPredictor.from_mlflow(uris[name]).predict(
                spark.createDataFrame(rows.reset_index(names="row"))
            )
            batch = batch.toPandas().sort_values("row")["prediction"].to_numpy()
            assert len(served) == len(rows)
            np.testing.assert_allclose(served, batch, rtol=1e-12, err_msg=name)
    finally:
        for server in servers.values():
            server.stop()
    assert all(s.process.popen.poll() is not None for s in servers.values())


@pytest.mark.parametrize(
    ("options", "builder", "argument"),
    [
        (["--master", "spark://127.0.0.1:7077"], "build_local_session", "spark://127.0.0.1:7077"),
        (["--spark-remote", "local[2]"], "connect_session", "local[2]"),
        (["--spark-remote", "sc://127.0.0.1:15002"], "connect_session", "sc://127.0.0.1:15002"),
        ([], "get_spark", None),
    ],
)
def test_engine_options_choose_how_the_session_is_made(monkeypatch, options, builder, argument):
    """--master builds a classic session on that master, --spark-remote a Connect session
    (local[N] starting its server as get_spark does); neither: get_spark()."""
    from spark_sklearn_bridge import _session

    calls = []
    for name in ("build_local_session", "connect_session", "get_spark"):
        monkeypatch.setattr(_session, name, lambda *a, name=name: calls.append((name, *a)))
    session(parser().parse_args(options))
    assert calls == [(builder, argument) if argument else (builder,)]


def test_master_and_spark_remote_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["--master", "local[2]", "--spark-remote", "sc://h:1"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_module_entry_point_needs_the_demo_command(capsys):
    assert module_main([]) == 2
    assert "usage: python -m spark_sklearn_bridge demo" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--scale", "0"], ["--rows", "-5"], ["--quick", "--bogus"]])
def test_demo_options_are_checked_before_spark_starts(option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(option)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_scale_copies_every_country_with_perturbed_values():
    frame = load_gapminder()
    assert frame[GROUP].nunique() == 142 and len(frame) == 1704
    bigger = scale_up(frame, 3)
    assert bigger[GROUP].nunique() == 3 * 142 and len(bigger) == 3 * 1704
    pd.testing.assert_frame_equal(bigger.iloc[: len(frame)], frame)
    copy = bigger[bigger[GROUP] == "Norway #2"].reset_index(drop=True)
    norway = frame[frame[GROUP] == "Norway"].reset_index(drop=True)
    assert (copy["year"] == norway["year"]).all()
    assert 0 < np.abs(copy["log_gdp"] - norway["log_gdp"]).max() < 1
    # The per-country forecast holds out unseen and young countries in proportion.
    _, _, unseen, young = forecast_split(bigger)
    assert (len(unseen), len(young)) == (3 * 8, 3 * 5)
