"""Nothing runs that the user did not trust, nothing listens beyond loopback (issue #23).

A forger can rewrite any file of a save directory and its manifest's digests. Each test
builds such a forgery with a pickle whose unpickling would create a file; the file must
never appear. Then signatures, the decompression bound and the session's sockets.
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from spark_sklearn_bridge import GroupedEstimator, SparkMLEstimator, dump_model, load_model

sys.path.insert(0, str(Path(__file__).parent / "engines"))
from harness import LOOPBACK, listening_sockets

from spark_sklearn_bridge._persistence import SIGNING_KEY_ENV
from spark_sklearn_bridge._serialization import MAGIC_ZSTD
from spark_sklearn_bridge.exceptions import (
    ModelIntegrityError,
    PickleRefusedError,
    SignatureError,
)


class Payload:
    """Unpickling this creates ``path``: the stand-in for a forger's code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"g": np.repeat([0, 1], 20), "x": rng.normal(size=40)})
    return X, 2 * X["x"].to_numpy() + X["g"].to_numpy()


@pytest.fixture(scope="module")
def grouped(spark, frame):
    X, y = frame
    return GroupedEstimator(Ridge(), "g", fallback=Ridge()).fit(X, y)


def reseal(root: Path, serializer=None):
    """Rewrite the manifest's digests for the directory's files, as a forger would."""
    import hashlib

    manifest = json.loads((root / "manifest.json").read_text())
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256((root / name).read_bytes()).hexdigest()
    if serializer is not None:
        manifest["serializer"] = serializer
    (root / "manifest.json").write_text(json.dumps(manifest))


def forge_params(root: Path, blob: bytes):
    metadata = json.loads((root / "metadata.json").read_text())
    metadata["params"] = blob.hex()
    (root / "metadata.json").write_text(json.dumps(metadata))


def forge_group_model(root: Path, blob: bytes):
    table = pd.read_parquet(root / "models.parquet")
    table.loc[0, "model"] = blob
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    (root / "models.parquet").write_bytes(buffer.getvalue())


@pytest.mark.parametrize("where", ["parameters", "group model", "fallback"])
def test_a_forged_skops_save_runs_no_pickle(grouped, tmp_path, where):
    root = tmp_path / "save"
    grouped.save(root, serializer="skops")
    marker = tmp_path / "pwned"
    blob = dump_model(Payload(marker))
    if where == "parameters":
        forge_params(root, blob)
    elif where == "group model":
        forge_group_model(root, blob)
    else:
        (root / "fallback.model").write_bytes(blob)
    reseal(root)
    with pytest.raises(PickleRefusedError, match="pickles are refused"):
        GroupedEstimator.load(root, allow_pickle=True)  # a skops save admits no pickle
    assert not marker.exists()


def test_a_forged_skops_save_of_spark_ml_runs_no_pickle(spark, frame, tmp_path):
    X, y = frame
    model = SparkMLEstimator(Ridge()).fit(X[["x"]], y)
    root = tmp_path / "save"
    model.save(root, serializer="skops")
    marker = tmp_path / "pwned"
    forge_params(root, dump_model(Payload(marker)))
    reseal(root)
    with pytest.raises(PickleRefusedError, match="parameters"):
        SparkMLEstimator.load(root)
    assert not marker.exists()


def test_allow_pickle_false_refuses_any_pickle_save(grouped, frame, tmp_path):
    X, _ = frame
    grouped.save(tmp_path / "pickle")
    with pytest.raises(PickleRefusedError, match="parameters"):
        GroupedEstimator.load(tmp_path / "pickle", allow_pickle=False)
    # A forger who also claims the save is a pickle save meets the same refusal.
    root = tmp_path / "claims-pickle"
    grouped.save(root, serializer="skops")
    marker = tmp_path / "pwned"
    forge_group_model(root, dump_model(Payload(marker)))
    reseal(root, serializer="pickle")
    with pytest.raises(PickleRefusedError, match=r"model of group \{'g': 0\}"):
        GroupedEstimator.load(root, allow_pickle=False)
    assert not marker.exists()
    grouped.save(tmp_path / "skops", serializer="skops")
    loaded = GroupedEstimator.load(tmp_path / "skops", allow_pickle=False)
    np.testing.assert_allclose(loaded.predict(X), grouped.predict(X))


def test_signed_saves_refuse_forgeries_swaps_and_other_keys(grouped, frame, tmp_path):
    X, _ = frame
    key = "deployment key"
    grouped.save(tmp_path / "signed", signing_key=key)
    assert (tmp_path / "signed" / "manifest.sig").exists()
    loaded = GroupedEstimator.load(tmp_path / "signed", signing_key=key)
    np.testing.assert_allclose(loaded.predict(X), grouped.predict(X))
    GroupedEstimator.load(tmp_path / "signed")  # without a key: as before, not checked
    with pytest.raises(SignatureError, match=r"signed\b.*does not match|does not match"):
        GroupedEstimator.load(tmp_path / "signed", signing_key="another key")
    # A forged manifest (the digests rewritten for a forged file) fails the signature.
    root = tmp_path / "forged"
    grouped.save(root, signing_key=key)
    marker = tmp_path / "pwned"
    forge_params(root, dump_model(Payload(marker)))
    reseal(root)
    with pytest.raises(SignatureError, match=str(root)):
        GroupedEstimator.load(root, signing_key=key)
    assert not marker.exists()
    # A file swapped in from another signed save: its digest is not the manifest's.
    other = GroupedEstimator(Ridge(alpha=10.0), "g").fit(*frame)
    other.save(tmp_path / "other", signing_key=key)
    swapped = tmp_path / "swapped"
    grouped.save(swapped, signing_key=key)
    (swapped / "models.parquet").write_bytes((tmp_path / "other" / "models.parquet").read_bytes())
    with pytest.raises(ModelIntegrityError, match="models.parquet does not match"):
        GroupedEstimator.load(swapped, signing_key=key)
    # An unsigned save, when a key is required.
    grouped.save(tmp_path / "unsigned")
    with pytest.raises(SignatureError, match="is not signed"):
        GroupedEstimator.load(tmp_path / "unsigned", signing_key=key)


def test_the_signing_key_environment_variable_signs_and_verifies(grouped, tmp_path, monkeypatch):
    monkeypatch.setenv(SIGNING_KEY_ENV, "from the environment")
    grouped.save(tmp_path / "env")
    assert (tmp_path / "env" / "manifest.sig").exists()
    GroupedEstimator.load(tmp_path / "env")
    monkeypatch.setenv(SIGNING_KEY_ENV, "rotated")
    with pytest.raises(SignatureError):
        GroupedEstimator.load(tmp_path / "env")


def test_a_blob_that_declares_a_huge_size_is_refused_before_allocating():
    blob = dump_model(np.zeros(100_000))  # large enough to be zstd-compressed
    assert blob.startswith(MAGIC_ZSTD)
    import hashlib

    payload = (2**40).to_bytes(8, "little") + blob[48:]  # declares 1 TiB
    forged = MAGIC_ZSTD + hashlib.sha256(payload).digest() + payload
    expected = "forged model declares 1099511627776 bytes once decompressed, more than"
    with pytest.raises(ModelIntegrityError, match=expected):
        load_model(forged, what="forged model")


def test_the_grouped_pyfunc_follows_the_saves_serializer(grouped, frame, mlflow_store, tmp_path):
    import mlflow

    X, _ = frame
    uri = grouped.log_to_mlflow(serializer="skops")
    served = mlflow.pyfunc.load_model(uri)
    np.testing.assert_allclose(served.predict(X), grouped.predict(X))
    local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "model")))
    saved = local / "artifacts" / "saved_model"
    marker = tmp_path / "pwned"
    forge_group_model(saved, dump_model(Payload(marker)))
    reseal(saved)
    with pytest.raises(PickleRefusedError):
        mlflow.pyfunc.load_model(str(local))
    assert not marker.exists()


# ----------------------------------------------------------------------------- sockets
def test_the_embedded_session_listens_on_loopback_only(spark):
    if os.environ.get("SSB_ENGINE") or os.environ.get("SPARK_REMOTE"):
        pytest.skip("the embedded local session only")
    sockets = listening_sockets(os.getpid())  # this process, its JVM, the Python workers
    assert sockets  # the driver and block manager at least
    assert {ip for ip, _ in sockets} <= LOOPBACK, sockets


def test_a_session_with_the_web_ui_on_listens_on_loopback_only(tmp_path):
    """In a fresh process (one process holds one session): the UI turned on."""
    code = (
        "import os, json, sys\n"
        "sys.path.insert(0, {!r})\n"
        "from spark_sklearn_bridge._session import build_local_session\n"
        "from harness import listening_sockets\n"
        "spark = build_local_session('local[1]', {{'spark.ui.enabled': 'true'}})\n"
        "spark.range(10).count()\n"
        "print(json.dumps(sorted(listening_sockets(os.getpid()))))\n"
    ).format(str(Path(__file__).parent / "engines"))
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "SPARK_LOCAL_IP")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    sockets = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(sockets) >= 3  # the driver, the block manager and the web UI
    assert {ip for ip, _ in sockets} <= LOOPBACK, sockets
