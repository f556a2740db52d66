"""One on-disk format for every saved estimator: a directory with a sha256 manifest.

A save is a directory on any file system pyarrow can open (a local path, ``file://``,
``s3://``, ``gs://``, ``hdfs://``, ``abfs://``). ``manifest.json`` records the format, the
class that wrote it and the sha256 of every other file in the directory, recursively
(including files Spark's own ML writer put there). :func:`read_directory` refuses a
directory where any file is missing, added or changed, so everything ``load`` reads is
covered. The digests detect truncation and careless edits; they are not a signature:
load saves only from places you trust (some files are pickles).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .exceptions import ModelIntegrityError

__all__ = ["ModelDirectory", "filesystem"]

MANIFEST = "manifest.json"
FORMAT = "spark_sklearn_bridge.saved/1"


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

    def seal(self, kind: str) -> None:
        """Write ``manifest.json`` with the sha256 of every file now in the directory.

        Files another writer put there (Spark's ML writer) are read back through the same
        file system: a save split across two file systems (a driver-local path on a cluster)
        fails here instead of producing a directory that cannot be loaded.
        """
        files = {name: _sha256(self._read(name)) for name in self._list()}
        if not files:
            raise ModelIntegrityError(f"Nothing was written to {self.path}.")
        self.write_json(MANIFEST, {"format": FORMAT, "kind": kind, "files": files})

    # ------------------------------------------------------------------ read
    def verify(self, kind: str) -> dict:
        """Check the manifest against the files; return ``{name: bytes}`` of every file.

        Raises
        ------
        ModelIntegrityError
            Not a save of ``kind``, or a file is missing, added, truncated or modified.
        """
        try:
            manifest = json.loads(self._read(MANIFEST))
        except FileNotFoundError as exc:
            raise ModelIntegrityError(
                f"{self.path} has no {MANIFEST}: it is not a spark_sklearn_bridge save (or "
                "was written by a version before 0.2)."
            ) from exc
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
            if info.type == fs.FileType.File and info.path[prefix:] != MANIFEST
        )


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class SavedModelMixin:
    """``save``, ``load`` and ``log_to_mlflow`` for estimators saved as a model directory.

    A class sets ``_save_kind`` (recorded in the manifest) and ``_artifact_path`` (its MLflow
    artifact directory), and implements ``_save(directory, path, serializer)`` (write its
    files, Python objects through :func:`~spark_sklearn_bridge._serialization.dump_model`) and
    the classmethod ``_load(files, path, spark, trusted)`` (rebuild from the verified
    ``{name: bytes}``).
    """

    _save_kind: str = ""
    _artifact_path: str = ""

    def save(self, path, *, serializer="pickle"):
        """Save the fitted estimator to directory ``path`` (created; must not exist).

        Writes the model files, ``metadata.json`` (parameters, resolved columns) and
        ``manifest.json`` with the sha256 of every other file, which :meth:`load` checks.

        Parameters
        ----------
        serializer : {"pickle", "skops"}, default="pickle"
            How Python objects (models, parameters) are written. ``"pickle"`` (cloudpickle)
            takes anything but runs code when loaded: load such saves only from places you
            trust. ``"skops"`` writes `skops <https://skops.readthedocs.io>`_ files, which
            load without running code; types outside skops' trusted set must then be named
            in ``load(..., trusted=[...])``. It holds scikit-learn and numpy objects, not
            custom classes or functions.
        path : str or path-like
            A local path, or a URI of any file system pyarrow opens (``file://``, ``s3://``,
            ``gs://``, ``hdfs://``, ``abfs://``; credentials as pyarrow reads them). On a
            cluster, a location the driver and (for Spark-written files) the executors see.

        Returns
        -------
        path : str or path-like
            ``path``, as given.
        """
        self._check_fitted()
        from ._serialization import SERIALIZERS

        if serializer not in SERIALIZERS:
            raise ValueError(f"serializer must be one of {SERIALIZERS}; got {serializer!r}.")
        directory = ModelDirectory(path).create()
        self._save(directory, path, serializer)
        directory.seal(self._save_kind)
        return path

    @classmethod
    def load(cls, path, *, spark=None, trusted=None):
        """Load an estimator written by :meth:`save`, after checking every file's sha256.

        A save made with ``serializer="pickle"`` (the default) holds pickles: loading them
        runs code, so load such saves only from places you trust. The digests catch
        truncation and modification, not a forger. A ``serializer="skops"`` save loads no
        code; it refuses types that are not trusted.

        Parameters
        ----------
        path : str or path-like
            What was given to :meth:`save`.
        spark : SparkSession, optional
            Session for the loaded estimator.
        trusted : list of str, optional
            For skops saves: type names to accept beyond skops' trusted defaults (e.g.
            ``["sklearn.tree._tree.Tree"]``); the error for an untrusted type lists them.

        Returns
        -------
        estimator
            The fitted estimator.

        Raises
        ------
        ModelIntegrityError
            A file is missing, added or changed since the save, or the directory holds
            another kind of save.
        UntrustedTypesError
            A skops save holds a type neither skops nor ``trusted`` trusts.
        """
        return cls._load(ModelDirectory(path).verify(cls._save_kind), path, spark, trusted)

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
