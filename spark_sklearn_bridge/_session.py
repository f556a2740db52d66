"""The Spark session every class uses: the active one, Spark Connect, or an embedded local one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from .exceptions import JavaNotFoundError, SparkConnectUnsupportedError

__all__ = ["get_spark", "is_spark_connect", "require_spark_context"]

MIN_JAVA_VERSION = 17
_LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
_lock = threading.Lock()

_JAVA_HELP = (
    "Spark needs a Java runtime, version {min} or newer. Install one, for example\n"
    "  Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless\n"
    "  macOS:         brew install openjdk@17\n"
    "  conda:         conda install -c conda-forge openjdk=17\n"
    "then put its `java` on PATH or point JAVA_HOME at it."
)


def get_spark(spark=None):
    """Return the Spark session to use.

    In order of preference: ``spark`` if given; the active session of this process; a Spark
    Connect session when ``SPARK_REMOTE`` is set (``sc://host:port``, or ``local[N]`` for a local
    Connect server); else the embedded default, a local session on all cores (``local[*]``).

    The embedded session runs its Python workers with the driver's own interpreter
    (``sys.executable``, so a virtualenv's packages are found), enables Arrow, disables the web
    UI (no port clash between processes), logs errors only and gives the driver JVM (which runs
    every task in local mode) a quarter of the machine's memory, 1 to 8 GiB, unless
    ``SPARK_DRIVER_MEMORY`` is set. Everything it listens on (driver, block manager, the web
    UI if turned on, a local Connect server) is bound to 127.0.0.1; its Python workers talk
    to the JVM over Unix sockets and fork from a daemon that has scikit-learn imported
    already (``spark_sklearn_bridge._daemon``). A session you built yourself, a cluster's or
    a Connect server's is used as it is.

    Parameters
    ----------
    spark : SparkSession, optional
        Returned unchanged when given.

    Returns
    -------
    SparkSession

    Raises
    ------
    JavaNotFoundError
        No Java 17+ runtime was found for the embedded or local Connect session.

    Examples
    --------
    >>> from spark_sklearn_bridge import get_spark
    >>> get_spark().range(3).count()
    3
    """
    if spark is not None:
        return spark
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        remote = os.environ.get("SPARK_REMOTE")
        if remote:
            return connect_session(remote)
        return build_local_session("local[*]")


def connect_session(remote: str):
    """A Spark Connect session: ``sc://host:port``, or ``local[N]`` for a Connect server that
    pyspark starts on a JVM in this process (its Python workers run ``sys.executable``).

    Parameters
    ----------
    remote : str
        ``sc://...`` or ``local[N]``.

    Returns
    -------
    SparkSession
    """
    from pyspark.sql import SparkSession

    if not remote.startswith("sc://"):
        _start_local_jvm(remote)
    return SparkSession.builder.remote(remote).getOrCreate()


def build_local_session(master: str = "local[*]", conf: dict | None = None):
    """Create (or return) a classic local session configured like the embedded default.

    Parameters
    ----------
    master : str
        Spark master URL, e.g. ``"local[2]"``.
    conf : dict, optional
        Extra Spark configuration, e.g. ``{"spark.sql.shuffle.partitions": "4"}``.

    Returns
    -------
    SparkSession
    """
    from pyspark.sql import SparkSession

    options = _start_local_jvm(master, conf)
    builder = SparkSession.builder
    for key, value in options.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _default_conf() -> dict:
    log4j = f"-Dlog4j2.configurationFile={_LOG4J_CONFIG.as_uri()}"
    return {
        "spark.app.name": "spark_sklearn_bridge",
        # Workers must import the driver's packages (a venv's sklearn, not the system's).
        "spark.pyspark.python": sys.executable,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        # Workers fork with scikit-learn already imported (spark_sklearn_bridge._daemon).
        "spark.python.daemon.module": "spark_sklearn_bridge._daemon",
        # Python workers talk to the JVM over Unix sockets: over TCP every task waited
        # ~40 ms on delayed ACKs (28 vs 16 ms per trivial task, measured on local[2]).
        "spark.python.unix.domain.socket.enabled": "true",
        "spark.ui.enabled": "false",  # no port clash between processes
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": log4j,
        "spark.executor.extraJavaOptions": log4j,
        **_driver_memory_conf(),
    }


#: A local session (and a local Spark Connect server) listens on the loopback interface only:
#: it needs nothing reachable from other hosts, and its endpoints have no authentication.
#: Without these, the driver's RPC and block manager bind to the machine's network address.
LOOPBACK_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.connect.grpc.binding.address": "127.0.0.1",
}


def _driver_memory_conf() -> dict:
    """Heap for the local driver JVM, which also runs every task: a quarter of the machine's
    memory, between 1 and 8 GiB (Spark's 1 GiB default runs out when a few hundred fitted models
    travel through it). ``SPARK_DRIVER_MEMORY`` or an explicit conf wins."""
    if os.environ.get("SPARK_DRIVER_MEMORY"):
        return {}
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: keep Spark's default
        return {}
    gib = min(8, max(1, total // 4 // 2**30))
    return {"spark.driver.memory": f"{gib}g"}


# Printed by the JVM (Spark 4 loads the incubating Vector API; Spark's shell banner about log
# levels; pyspark.ml probing for a native BLAS before using its Java one); none of it is
# actionable for a library user.
_JVM_NOISE = (
    b"WARNING: Using incubator modules",
    b'Setting default log level to "',
    b"To adjust logging level use sc.setLogLevel(",
    b"netlib-blas: JNI_OnLoad",
    b"netlib-lapack: JNI_OnLoad",
)


def _start_local_jvm(master: str, conf: dict | None = None) -> dict:
    """Start the driver JVM for a local session; return the Spark conf it was started with.

    PySpark would start the same JVM the same way (``launch_gateway`` with the session's conf);
    we only pass ``stderr=PIPE`` and forward every line but start-up noise to our own stderr.
    That needs pyspark internals (``launch_gateway(popen_kwargs=...)``, ``SparkContext.
    _gateway``/``_jvm``/``_lock``): there is no public hook for the JVM's stderr. They are
    used here only; ``tests/test_compat.py`` fails when they move.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    local = master.startswith("local")
    loopback = LOOPBACK_CONF if local else {}
    options = {**_default_conf(), **loopback, "spark.master": master, **(conf or {})}
    if SparkContext._gateway is not None or "PYSPARK_GATEWAY_PORT" in os.environ:
        return options
    check_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark_conf = SparkConf(loadDefaults=False).setAll([(k, str(v)) for k, v in options.items()])
    # As pyspark's own local Connect start-up does: spark-submit must not see SPARK_REMOTE.
    remote = os.environ.pop("SPARK_REMOTE", None)
    # The web UI, when a user turns it on, binds to SPARK_LOCAL_IP (all interfaces without).
    local_ip = os.environ.get("SPARK_LOCAL_IP")
    if local and local_ip is None:
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    try:
        gateway = launch_gateway(spark_conf, popen_kwargs={"stderr": subprocess.PIPE})
    finally:
        if remote is not None:
            os.environ["SPARK_REMOTE"] = remote
        if local and local_ip is None:
            os.environ.pop("SPARK_LOCAL_IP", None)
    threading.Thread(
        target=_forward_stderr, args=(gateway.proc.stderr,), daemon=True, name="spark-jvm-stderr"
    ).start()
    with SparkContext._lock:
        if SparkContext._gateway is None:
            SparkContext._gateway = gateway
            SparkContext._jvm = gateway.jvm
    return options


def _forward_stderr(stream) -> None:
    for line in iter(stream.readline, b""):
        if not line.startswith(_JVM_NOISE):
            os.write(2, line)


def is_spark_connect(spark=None) -> bool:
    """Tell whether ``spark`` (default: :func:`get_spark`) is a Spark Connect session.

    A Connect session has no ``sparkContext``: no RDDs, broadcasts, accumulators or
    ``SparkTrials``.

    Parameters
    ----------
    spark : SparkSession, optional
        Default: :func:`get_spark`.

    Returns
    -------
    bool
        True for a Spark Connect session.

    Examples
    --------
    >>> from spark_sklearn_bridge import get_spark, is_spark_connect
    >>> is_spark_connect(get_spark()) in (True, False)
    True
    """
    spark = get_spark(spark)
    return type(spark).__module__.startswith("pyspark.sql.connect")


def require_spark_context(spark, feature: str, alternative: str):
    """Return ``spark.sparkContext``, or raise a clear error on Spark Connect.

    Parameters
    ----------
    spark : SparkSession
    feature : str
        What needs the SparkContext, e.g. ``"backend='spark_trials'"``.
    alternative : str
        What works on Spark Connect instead.
    """
    if is_spark_connect(spark):
        raise SparkConnectUnsupportedError(
            f"{feature} needs a classic SparkContext, which a Spark Connect session does not "
            f"have. {alternative}"
        )
    return spark.sparkContext


def _java_executable() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home, "bin", "java")
        if candidate.exists():
            return str(candidate)
    return shutil.which("java")


def parse_java_version(text: str) -> int | None:
    """Major Java version from ``java -version`` output (``1.8.0_292`` is 8, ``17.0.15`` is 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        return None
    major, minor = int(match.group(1)), match.group(2)
    return int(minor) if major == 1 and minor is not None else major


def check_java() -> int:
    """Check that a Java runtime Spark can use exists; return its major version.

    Raises
    ------
    JavaNotFoundError
        No ``java`` on PATH / JAVA_HOME, or one older than Java 17.
    """
    java = _java_executable()
    help_text = _JAVA_HELP.format(min=MIN_JAVA_VERSION)
    if java is None:
        raise JavaNotFoundError(
            f"No Java runtime found (JAVA_HOME unset or invalid, no `java` on PATH).\n{help_text}"
        )
    try:
        result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise JavaNotFoundError(f"Could not run {java!r}: {exc}.\n{help_text}") from exc
    version = parse_java_version(result.stderr + result.stdout)
    if version is None:
        raise JavaNotFoundError(
            f"Could not read the version of {java!r} (`java -version` printed "
            f"{(result.stderr or result.stdout).strip()!r}).\n{help_text}"
        )
    if version < MIN_JAVA_VERSION:
        raise JavaNotFoundError(
            f"{java!r} is Java {version}; Spark 4 needs Java {MIN_JAVA_VERSION}+.\n{help_text}"
        )
    return version
