"""The joblib backend and the trust rules (issues #21, #23) on a real engine: the standalone
cluster and the Spark Connect server of ``make test``."""

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hyperopt import hp
from joblib import Parallel, delayed
from sklearn.linear_model import Ridge

import spark_sklearn_bridge as ssb
from spark_sklearn_bridge.exceptions import PickleRefusedError, SearchTimeoutError, SignatureError

sys.path.insert(0, str(Path(__file__).parent.parent))
import harness
from joblib_cases import CASES, assert_same
from search_cancel_cases import SlowFit
from test_trust import Payload, forge_group_model, reseal


@pytest.mark.parametrize("case", ["cross_validate", "random_forest_classifier", "stacking"])
def test_joblib_calls_equal_joblibs_default_backend(spark, case):
    expected = CASES[case]()
    with ssb.parallel_backend():
        assert_same(CASES[case](), expected)


def fail_on(i, bad):
    if i == bad:
        raise ArithmeticError(f"item {i} is bad")
    return os.getpid()


def test_a_failing_joblib_task_is_named(spark):
    with pytest.raises(ArithmeticError, match="item 2 is bad") as info, ssb.parallel_backend():
        Parallel()(delayed(fail_on)(i, 2) for i in range(5))
    assert "task 3 of 5" in "\n".join(info.value.__notes__)
    with ssb.parallel_backend():
        pids = Parallel()(delayed(fail_on)(i, -1) for i in range(4))
    assert os.getpid() not in pids  # the tasks ran in executors


def test_a_first_round_hang_times_out_with_a_named_error(spark, tmp_path):
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = np.arange(20, dtype=float)
    search = ssb.SparkHyperoptSearchCV(
        SlowFit(sleep=600), {"alpha": hp.uniform("a", 0, 1)}, max_evals=2, timeout=5, cv=2
    )
    start = time.monotonic()
    with pytest.raises(SearchTimeoutError, match="timeout of 5 s"):
        search.fit(X, y)
    assert time.monotonic() - start < 20


def test_a_forged_skops_save_runs_no_pickle(spark, tmp_path):
    rng = np.random.default_rng(0)
    X = {"g": np.repeat([0, 1], 20), "x": rng.normal(size=40)}
    import pandas as pd

    X = pd.DataFrame(X)
    model = ssb.GroupedEstimator(Ridge(), "g").fit(X, 2 * X["x"])
    root = tmp_path / "save"
    model.save(root, serializer="skops", signing_key="k")
    marker = tmp_path / "pwned"
    forge_group_model(root, ssb.dump_model(Payload(marker)))
    reseal(root)
    with pytest.raises(PickleRefusedError):
        ssb.GroupedEstimator.load(root)
    with pytest.raises(SignatureError):
        ssb.GroupedEstimator.load(root, signing_key="k")
    assert not marker.exists()


def test_the_harness_servers_listen_on_loopback_only(spark, engine):
    processes = [engine.master, *engine.workers] if hasattr(engine, "master") else [engine.process]
    for process in processes:
        sockets = harness.listening_sockets(process.pid)
        assert sockets, process.name
        assert {ip for ip, _ in sockets} <= harness.LOOPBACK, (process.name, sockets)


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "broadcast"])
def test_a_pooled_hyperopt_search_equals_the_unpooled_one(spark, monkeypatch, pool_starts, inline):
    """On the cluster a search's rounds share one pool of tasks, and the objects a later round
    adds travel inline; with nothing inline they are broadcasts, which tasks started before
    them cannot read, so each round starts its pool again. Spark Connect has no pool."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import KFold

    from spark_sklearn_bridge.parallel import _runner

    X, y = load_diabetes(return_X_y=True)
    if not inline:
        monkeypatch.setattr(_runner, "POOL_INLINE_BYTES", 0)

    def search():
        return ssb.SparkHyperoptSearchCV(
            Ridge(),
            {"alpha": hp.loguniform("alpha", -4, 2)},
            max_evals=6,
            parallelism=2,
            cv=KFold(3),
            random_state=0,
        ).fit(X, y)

    pooled = search()
    engine = os.environ.get("SSB_ENGINE")
    if engine == "cluster":
        assert pooled.n_spark_jobs_ == 3  # rounds of 2 candidates
        assert len(pool_starts) == (1 if inline else 3)
    elif engine == "connect":
        assert pool_starts == []
    monkeypatch.setattr(_runner, "POOL_TASKS", False)
    plain = search()
    np.testing.assert_array_equal(
        pooled.cv_results_["param_alpha"], plain.cv_results_["param_alpha"]
    )
    np.testing.assert_allclose(
        pooled.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
