"""Real Spark engines on 127.0.0.1 for the test suite, started from pyspark's own scripts and
stopped by process id.

- :func:`start_standalone`: a standalone cluster, one master and ``n_workers`` workers of one
  core each (``bin/spark-class ...deploy.master.Master`` / ``...deploy.worker.Worker``).
- :func:`start_connect_server`: a Spark Connect server (``sbin/start-connect-server.sh
  --wait``) on a free port, reached as ``sc://127.0.0.1:PORT``.

Each process runs in its own session (process group): stopping kills the group, so the
executors a worker started die with it. Logs go to files in ``workdir``; the start-up error
quotes their last lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).parent


#: Addresses a server bound to the loopback interface listens on.
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def listening_sockets(pid: int) -> set:
    """``{(ip, port)}`` of the TCP sockets process ``pid`` and its descendants listen on."""
    import psutil

    proc = psutil.Process(pid)
    sockets = set()
    for p in [proc, *proc.children(recursive=True)]:
        try:
            connections = p.net_connections(kind="inet")
        except psutil.Error:
            continue
        sockets |= {(c.laddr.ip, c.laddr.port) for c in connections if c.status == "LISTEN"}
    return sockets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ)
    env.pop("SPARK_REMOTE", None)
    env.update(
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOG_DIR=os.environ.get("SPARK_LOG_DIR", "/tmp"),
    )
    return env


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def children(self) -> list[int]:
        """Process ids in this process's group other than itself (e.g. a worker's executors)."""
        out = subprocess.run(
            ["pgrep", "-g", str(self.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(p) for p in out.split() if int(p) != self.pid]

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=30)


def _spawn(name: str, args: list, workdir: Path, **env) -> Process:
    log = workdir / f"{name}.log"
    popen = subprocess.Popen(
        args,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**_env(), **env},
        cwd=workdir,
        start_new_session=True,
    )
    return Process(name, popen, log)


def _wait(condition, what: str, processes, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        dead = [p for p in processes if p.popen.poll() is not None]
        if dead:
            raise RuntimeError(
                f"{dead[0].name} exited while waiting for {what}:\n{dead[0].tail()}"
            )
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready in {timeout} s:\n" + processes[0].tail())


@dataclass
class Standalone:
    """A running standalone cluster."""

    master_url: str
    ui_url: str
    master: Process
    workers: list = field(default_factory=list)

    def alive_workers(self) -> int:
        try:
            with urllib.request.urlopen(f"{self.ui_url}/json/", timeout=5) as response:
                return int(json.load(response).get("aliveworkers", 0))
        except OSError:
            return 0

    def stop(self) -> None:
        for process in [*self.workers, self.master]:
            process.stop()


def start_standalone(
    workdir: Path, n_workers: int = 2, memory: str = "1500m", cores: int = 1
) -> Standalone:
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    port, ui_port = free_port(), free_port()
    master = _spawn(
        "master",
        [
            spark_class,
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui_port),
        ],
        workdir,
    )
    cluster = Standalone(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}", master)
    try:
        _wait(lambda: _listening(port), "the master", [master])
        for i in range(n_workers):
            worker_dir = workdir / f"worker{i}"
            worker_dir.mkdir()
            worker = [spark_class, "org.apache.spark.deploy.worker.Worker", cluster.master_url]
            worker += ["--cores", str(cores), "--memory", memory, "--host", "127.0.0.1"]
            worker += ["--webui-port", str(free_port()), "--work-dir", str(worker_dir)]
            cluster.workers.append(_spawn(f"worker{i}", worker, workdir))
        _wait(
            lambda: cluster.alive_workers() == n_workers,
            f"{n_workers} workers",
            [master, *cluster.workers],
        )
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class ConnectServer:
    url: str
    process: Process

    def stop(self) -> None:
        self.process.stop()


def start_connect_server(workdir: Path, master: str = "local[2]", conf: dict | None = None):
    port = free_port()
    settings = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.pyspark.python": sys.executable,
        "spark.ui.enabled": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        **(conf or {}),
    }
    args = [str(SPARK_HOME / "sbin" / "start-connect-server.sh"), "--wait", "--master", master]
    for key, value in settings.items():
        args += ["--conf", f"{key}={value}"]
    process = _spawn("connect-server", args, workdir)
    try:
        _wait(lambda: _listening(port), "the Spark Connect server", [process], timeout=180)
    except BaseException:
        process.stop()
        raise
    return ConnectServer(f"sc://127.0.0.1:{port}", process)


@dataclass
class ModelServer:
    url: str
    process: Process

    def predict(self, frame) -> list:
        """POST ``frame`` (pandas) to ``/invocations``; the ``predictions`` of the answer."""
        # Python's json writes floats exactly (pandas' to_json keeps 10 digits).
        body = json.dumps({"dataframe_split": frame.to_dict(orient="split", index=False)})
        request = urllib.request.Request(
            f"{self.url}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())["predictions"]

    def stop(self) -> None:
        self.process.stop()


def start_model_server(model_uri: str, workdir: Path, tracking_uri: str) -> ModelServer:
    """``mlflow models serve`` of ``model_uri`` on 127.0.0.1 (this environment: ``--env-manager
    local``), ready when ``/ping`` answers."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    args = [str(mlflow_cli), "models", "serve", "-m", model_uri, "--env-manager", "local"]
    args += ["-h", "127.0.0.1", "-p", str(port), "--workers", "1"]
    # --env-manager local runs uvicorn from PATH: this environment's, as if it were activated.
    path = os.pathsep.join([str(mlflow_cli.parent), os.environ.get("PATH", "")])
    process = _spawn(
        f"model-server-{port}", args, workdir, MLFLOW_TRACKING_URI=tracking_uri, PATH=path
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    try:
        _wait(ready, f"the model server of {model_uri}", [process], timeout=120)
    except BaseException:
        process.stop()
        raise
    return ModelServer(url, process)
