import os
import stat
import sys

import pytest

from spark_sklearn_bridge import get_spark, is_spark_connect
from spark_sklearn_bridge._session import (
    _JVM_NOISE,
    check_java,
    parse_java_version,
    require_spark_context,
)
from spark_sklearn_bridge.exceptions import JavaNotFoundError, SparkSklearnBridgeError


def test_get_spark_returns_the_active_session(spark):
    assert get_spark() is spark
    assert get_spark(spark) is spark
    assert get_spark().range(3).count() == 3


def test_explicit_session_is_returned_unchanged(spark):
    sentinel = object()
    assert get_spark(sentinel) is sentinel


def test_session_is_configured_like_the_embedded_default(spark):
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"
    assert conf.get("spark.ui.enabled") == "false"
    assert not is_spark_connect(spark)


def test_workers_run_the_drivers_python(spark):
    def executable(batches):
        import sys as worker_sys

        import pandas as pd

        for _ in batches:
            yield pd.DataFrame({"exe": [worker_sys.executable]})

    rows = spark.range(4, numPartitions=2).mapInPandas(executable, "exe string").collect()
    assert {r.exe for r in rows} == {sys.executable}


def test_require_spark_context_on_classic(spark):
    assert require_spark_context(spark, "x", "y") is spark.sparkContext


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_292"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("no version here", None),
    ],
)
def test_parse_java_version(text, major):
    assert parse_java_version(text) == major


def test_missing_java_gives_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no java anywhere
    with pytest.raises(JavaNotFoundError, match="No Java runtime found") as info:
        check_java()
    assert "apt-get install openjdk-17" in str(info.value)
    assert isinstance(info.value, SparkSklearnBridgeError)


def test_old_java_is_refused(monkeypatch, tmp_path):
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\necho 'java version \"1.8.0_292\"' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="is Java 8; Spark 4 needs Java 17"):
        check_java()


def test_this_machines_java_is_accepted():
    assert check_java() >= 17


def test_embedded_session_prints_no_warnings(tmp_path):
    """The README's first command: a fresh process prints the count and nothing else."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "SPARK_REMOTE"}
    code = "import spark_sklearn_bridge as s; print(s.get_spark().range(3).count())"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "3\n"
    assert result.stderr == ""


def test_jvm_noise_filter_only_matches_known_banners():
    assert b"WARNING: Using incubator modules: jdk.incubator.vector".startswith(_JVM_NOISE)
    assert not b"ERROR SparkContext: failed".startswith(_JVM_NOISE)


def test_spark_remote_local_starts_an_in_process_connect_server():
    """``SPARK_REMOTE=local[N]`` (what ``--spark-remote local[2]`` uses): its own process, as
    one process cannot hold a classic and a Connect session."""
    import subprocess

    code = (
        "from spark_sklearn_bridge import get_spark, is_spark_connect\n"
        "s = get_spark()\n"
        "print(is_spark_connect(s), s.range(7).count())\n"
    )
    env = {**os.environ, "SPARK_REMOTE": "local[1]"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-2:] == ["True", "7"]
