"""One on-disk format for every saved estimator: a directory with a sha256 manifest.

A save is a directory on any file system pyarrow can open (a local path, ``file://``,
``s3://``, ``gs://``, ``hdfs://``, ``abfs://``). ``manifest.json`` records the format, the
class that wrote it, the serializer of its Python objects and the sha256 of every other file
in the directory, recursively (including files Spark's own ML writer put there).
:meth:`ModelDirectory.verify` refuses a directory where any file is missing, added or
changed, so everything ``load`` reads is covered.

What each layer protects against (docs/guide/security.rst):

- the digests: accidents (truncation, a careless edit); anyone who can write the directory
  can rewrite them;
- a signature (``signing_key=``, or the ``SPARK_SKLEARN_BRIDGE_SIGNING_KEY`` environment
  variable): forgery. ``manifest.sig`` holds an HMAC-SHA256 of ``manifest.json`` under the
  key; a save made with a key loads only with a key that verifies it;
- ``serializer="skops"`` (with no pickle admitted in such a save) or ``allow_pickle=False``:
  code execution at load.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

from .exceptions import ModelIntegrityError, SignatureError

__all__ = ["ModelDirectory", "SavedModelMixin", "filesystem", "signing_key_bytes"]

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
FORMAT = "spark_sklearn_bridge.saved/1"
#: The environment variable that holds a deployment's signing key (text, UTF-8).
SIGNING_KEY_ENV = "SPARK_SKLEARN_BRIDGE_SIGNING_KEY"


def signing_key_bytes(key=None) -> bytes | None:
    """The key to sign or verify saves with: ``key`` (str or bytes), else the
    ``SPARK_SKLEARN_BRIDGE_SIGNING_KEY`` environment variable, else None."""
    if key is None:
        key = os.environ.get(SIGNING_KEY_ENV) or None
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, (bytes, bytearray)) or not key:
        kind = type(key).__name__
        raise ValueError(f"signing_key must be a non-empty str or bytes; got {kind}.")
    return bytes(key)


def filesystem(path):
    """``(pyarrow FileSystem, path inside it)`` for a local path or a filesystem URI.

    ``s3a://`` and ``s3n://`` (Hadoop's names, as Spark writes them) are read as ``s3://``.
    """
    from pyarrow import fs

    text = os.fspath(path)
    if "://" not in text:
        return fs.LocalFileSystem(), Path(text).absolute().as_posix()
    scheme, rest = text.split("://", 1)
    if scheme in ("s3a", "s3n"):
        text = f"s3://{rest}"
    return fs.FileSystem.from_uri(text)


def spark_uri(path) -> str:
    """The same location as a URI Spark's Hadoop file system reads (local paths made absolute)."""
    text = os.fspath(path)
    return text if "://" in text else Path(text).absolute().as_uri()


class ModelDirectory:
    """A save directory: write files, then seal it with the manifest; or open and verify it.

    Parameters
    ----------
    path : str or path-like
        Local path or filesystem URI.
    """

    def __init__(self, path):
        self.path = path
        self.fs, self.root = filesystem(path)

    # ----------------------------------------------------------------- write
    def create(self) -> ModelDirectory:
        """Create the directory; refuse to overwrite anything."""
        if self.fs.get_file_info(self.root).type.name != "NotFound":
            raise FileExistsError(f"{self.path} exists; saving never overwrites.")
        self.fs.create_dir(self.root, recursive=True)
        return self

    def write(self, name: str, content: bytes) -> None:
        with self.fs.open_output_stream(f"{self.root}/{name}") as stream:
            stream.write(content)

    def write_json(self, name: str, value) -> None:
        self.write(name, json.dumps(value, indent=1, sort_keys=True).encode())

    def seal(self, kind: str, serializer: str, key: bytes | None = None) -> None:
        """Write ``manifest.json`` with the sha256 of every file now in the directory, and
        with a ``key``, ``manifest.sig``: its HMAC-SHA256.

        Files another writer put there (Spark's ML writer) are read back through the same
        file system: a save split across two file systems (a driver-local path on a cluster)
        fails here instead of producing a directory that cannot be loaded.
        """
        files = {name: _sha256(self._read(name)) for name in self._list()}
        if not files:
            raise ModelIntegrityError(f"Nothing was written to {self.path}.")
        manifest = {"format": FORMAT, "kind": kind, "serializer": serializer, "files": files}
        self.write_json(MANIFEST, manifest)
        if key is not None:
            self.write(SIGNATURE, _hmac(key, self._read(MANIFEST)).encode())

    # ------------------------------------------------------------------ read
    def verify(self, kind: str, key: bytes | None = None) -> dict:
        """Check the signature (with a ``key``) and the manifest against the files; return
        ``{name: bytes}`` of every file. The manifest itself is :attr:`manifest` after.

        Raises
        ------
        SignatureError
            With a ``key``: the signature is missing or does not match.
        ModelIntegrityError
            Not a save of ``kind``, or a file is missing, added, truncated or modified.
        """
        try:
            raw = self._read(MANIFEST)
        except FileNotFoundError as exc:
            raise ModelIntegrityError(
                f"{self.path} has no {MANIFEST}: it is not a spark_sklearn_bridge save (or "
                "was written by a version before 0.2)."
            ) from exc
        if key is not None:
            self._check_signature(raw, key)
        manifest = json.loads(raw)
        self.manifest = manifest
        if manifest.get("format") != FORMAT or manifest.get("kind") != kind:
            raise ModelIntegrityError(
                f"{self.path} holds a {manifest.get('kind')!r} save in format "
                f"{manifest.get('format')!r}; expected {kind!r} in {FORMAT!r}."
            )
        expected = manifest["files"]
        present = set(self._list())
        extra, missing = sorted(present - set(expected)), sorted(set(expected) - present)
        if extra or missing:
            raise ModelIntegrityError(
                f"{self.path} does not match its manifest: files added {extra}, missing "
                f"{missing}. Refusing to load it."
            )
        contents = {}
        for name, digest in expected.items():
            content = self._read(name)
            if _sha256(content) != digest:
                raise ModelIntegrityError(
                    f"{self.path}/{name} does not match the sha256 in {MANIFEST}: it was "
                    "modified or truncated after saving. Refusing to load it."
                )
            contents[name] = content
        return contents

    def _check_signature(self, raw_manifest: bytes, key: bytes) -> None:
        try:
            signature = self._read(SIGNATURE).decode("ascii", "replace").strip()
        except FileNotFoundError:
            raise SignatureError(
                f"{self.path} is not signed ({SIGNATURE} is missing), and a signing key was "
                "given (signing_key= or SPARK_SKLEARN_BRIDGE_SIGNING_KEY): refusing to load "
                "it. Save it again with that key."
            ) from None
        if not hmac.compare_digest(signature, _hmac(key, raw_manifest)):
            raise SignatureError(
                f"The signature of {self.path} ({SIGNATURE}) does not match its {MANIFEST} "
                "under the signing key given: the save was changed after it was signed, or "
                "signed with another key. Refusing to load it."
            )

    # --------------------------------------------------------------- helpers
    def _read(self, name: str) -> bytes:
        with self.fs.open_input_stream(f"{self.root}/{name}") as stream:
            return stream.readall()

    def _list(self) -> list:
        from pyarrow import fs

        selector = fs.FileSelector(self.root, recursive=True)
        prefix = len(self.root.rstrip("/")) + 1
        return sorted(
            info.path[prefix:]
            for info in self.fs.get_file_info(selector)
            if info.type == fs.FileType.File and info.path[prefix:] not in (MANIFEST, SIGNATURE)
        )


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _hmac(key: bytes, content: bytes) -> str:
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def _params_are_skops(files: dict) -> bool:
    """A save from before the manifest recorded its serializer: its parameters' format."""
    from ._serialization import blob_format

    try:
        params = bytes.fromhex(json.loads(files["metadata.json"])["params"])
    except (KeyError, ValueError, TypeError):
        return False
    return blob_format(params) == "skops"


class SavedModelMixin:
    """``save``, ``load`` and ``log_to_mlflow`` for estimators saved as a model directory.

    A class sets ``_save_kind`` (recorded in the manifest) and ``_artifact_path`` (its MLflow
    artifact directory), and implements ``_save(directory, path, serializer)`` (write its
    files, Python objects through :func:`~spark_sklearn_bridge._serialization.dump_model`) and
    the classmethod ``_load(files, path, spark, trusted, allow_pickle)`` (rebuild from the
    verified ``{name: bytes}``; check every blob's format before loading any of them).
    """

    _save_kind: str = ""
    _artifact_path: str = ""

    def save(self, path, *, serializer="pickle", signing_key=None):
        """Save the fitted estimator to directory ``path`` (created; must not exist).

        Writes the model files, ``metadata.json`` (parameters, resolved columns) and
        ``manifest.json`` with the sha256 of every other file, which :meth:`load` checks;
        with a signing key, also ``manifest.sig``.

        Parameters
        ----------
        path : str or path-like
            A local path, or a URI of any file system pyarrow opens (``file://``, ``s3://``,
            ``gs://``, ``hdfs://``, ``abfs://``; credentials as pyarrow reads them). On a
            cluster, a location the driver and (for Spark-written files) the executors see.
        serializer : {"pickle", "skops"}, default="pickle"
            How Python objects (models, parameters) are written. ``"pickle"`` (cloudpickle)
            takes anything but runs code when loaded: load such saves only from places you
            trust. ``"skops"`` writes `skops <https://skops.readthedocs.io>`_ files, which
            load without running code; :meth:`load` then refuses any pickle found in the
            save, and types outside skops' trusted set must be named in
            ``load(..., trusted=[...])``. It holds scikit-learn and numpy objects, not
            custom classes or functions.
        signing_key : str or bytes, optional
            Sign the save: ``manifest.sig`` holds an HMAC-SHA256 of the manifest (which holds
            every file's sha256) under this key. Default: the
            ``SPARK_SKLEARN_BRIDGE_SIGNING_KEY`` environment variable, if set; else unsigned.

        Returns
        -------
        path : str or path-like
            ``path``, as given.
        """
        self._check_fitted()
        from ._serialization import SERIALIZERS

        if serializer not in SERIALIZERS:
            raise ValueError(f"serializer must be one of {SERIALIZERS}; got {serializer!r}.")
        key = signing_key_bytes(signing_key)
        directory = ModelDirectory(path).create()
        self._save(directory, path, serializer)
        directory.seal(self._save_kind, serializer, key)
        return path

    @classmethod
    def load(cls, path, *, spark=None, trusted=None, allow_pickle=True, signing_key=None):
        """Load an estimator written by :meth:`save`, after checking every file's sha256.

        What is checked before anything is unpickled: the signature (with a signing key),
        every file's sha256, and every serialized object's format (pickle or skops). A save
        made with ``serializer="pickle"`` (the default) holds pickles: loading them runs
        code, so load such saves only from places you trust, sign them, or refuse them with
        ``allow_pickle=False``. A ``serializer="skops"`` save loads no code: any pickle in it
        is refused, whatever ``allow_pickle`` says.

        Parameters
        ----------
        path : str or path-like
            What was given to :meth:`save`.
        spark : SparkSession, optional
            Session for the loaded estimator.
        trusted : list of str, optional
            For skops saves: type names to accept beyond skops' trusted defaults (e.g.
            ``["sklearn.tree._tree.Tree"]``); the error for an untrusted type lists them.
        allow_pickle : bool, default=True
            False refuses every save that holds a pickle (as ``numpy.load`` does), before
            anything is unpickled: only skops saves load.
        signing_key : str or bytes, optional
            Require a signature made with this key (default: the
            ``SPARK_SKLEARN_BRIDGE_SIGNING_KEY`` environment variable, if set). Without a
            key, a signature is not checked.

        Returns
        -------
        estimator
            The fitted estimator.

        Raises
        ------
        SignatureError
            With a signing key: the save is unsigned, or signed with another key, or its
            manifest was changed since.
        ModelIntegrityError
            A file is missing, added or changed since the save, or the directory holds
            another kind of save.
        PickleRefusedError
            A pickle where pickles are refused (a skops save, or ``allow_pickle=False``).
        UntrustedTypesError
            A skops save holds a type neither skops nor ``trusted`` trusts.
        """
        directory = ModelDirectory(path)
        files = directory.verify(cls._save_kind, signing_key_bytes(signing_key))
        skops = directory.manifest.get("serializer") == "skops" or _params_are_skops(files)
        return cls._load(files, path, spark, trusted, allow_pickle and not skops)

    def log_to_mlflow(self, artifact_path=None):
        """Log :meth:`save`'s directory as artifacts of the active MLflow run.

        Parameters
        ----------
        artifact_path : str, optional
            Artifact directory inside the run; default: the class's own name for it.

        Returns
        -------
        str
            The artifact URI; ``load(mlflow.artifacts.download_artifacts(uri))`` restores it.
        """
        from ._mlflow import log_directory

        return log_directory(self.save, artifact_path or self._artifact_path)
