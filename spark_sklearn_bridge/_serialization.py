"""Model bytes: cloudpickle plus a sha256 digest that is checked before anything is unpickled.

Layout of a blob: ``MAGIC (8 bytes) | sha256(payload) (32 bytes) | payload``. Pickles larger than
64 KiB (forests, pipelines) are stored zstd-compressed under a second magic: they shrink 3-4x for
under a millisecond per 200 KB, which matters when hundreds of per-group models travel from the
executors to the driver. Unpickling runs
code, so bytes that fail the check are rejected before ``pickle.loads`` ever sees them. The digest
protects against truncation and accidental or careless tampering; it is not a signature (anyone
who can rewrite the bytes can rewrite the digest), so load models only from places you trust.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle

import cloudpickle

from .exceptions import ModelIntegrityError, PickleRefusedError, UntrustedTypesError

__all__ = [
    "SharedObjects",
    "refuse_pickles",
    "write_shared",
    "blob_format",
    "dump_model",
    "dump_shared",
    "load_model",
    "load_shared",
    "model_digest",
]

MAGIC = b"SSBMDL1\n"
MAGIC_ZSTD = b"SSBMDLZ\n"  # same layout; payload: uint64 LE pickle size | zstd(pickle)
MAGIC_SKOPS = b"SSBSKOP\n"  # same layout; payload: a skops file (no code runs on loading)
#: Same layout; payload: uint64 LE count n, n+1 uint64 LE sizes, then a protocol-5 pickle and
#: its n out-of-band buffers (see :func:`dump_shared`).
MAGIC_SHARED = b"SSBSHR5\n"
_MAGICS = (MAGIC, MAGIC_ZSTD, MAGIC_SKOPS, MAGIC_SHARED)
SERIALIZERS = ("pickle", "skops")
_DIGEST_SIZE = 32
_HEADER_SIZE = len(MAGIC) + _DIGEST_SIZE
COMPRESS_ABOVE = 64 * 1024


def dump_model(model, serializer: str = "pickle") -> bytes:
    """Serialize ``model`` (any picklable object) into integrity-checked bytes.

    Parameters
    ----------
    model : object
        Anything cloudpickle can pickle (fitted estimators, Pipelines, dicts of them).
    serializer : {"pickle", "skops"}, default="pickle"
        ``"skops"`` writes a `skops <https://skops.readthedocs.io>`_ file instead, which
        loads without running code (types outside skops' trusted set must be trusted
        explicitly at load time); it holds scikit-learn and numpy objects, not arbitrary code.

    Returns
    -------
    bytes
        A header, the sha256 of the payload, and the (zstd-compressed above 64 KiB) pickle.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> blob = dump_model(Ridge(alpha=2.0))
    >>> load_model(blob).alpha
    2.0
    """
    if serializer == "skops":
        import skops.io

        payload = skops.io.dumps(model)
        return MAGIC_SKOPS + hashlib.sha256(payload).digest() + payload
    if serializer != "pickle":
        raise ValueError(f"serializer must be one of {SERIALIZERS}; got {serializer!r}.")
    payload = cloudpickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    magic = MAGIC
    if len(payload) > COMPRESS_ABOVE:
        import pyarrow as pa

        size = len(payload).to_bytes(8, "little")
        payload, magic = size + pa.compress(payload, codec="zstd", asbytes=True), MAGIC_ZSTD
    return magic + hashlib.sha256(payload).digest() + payload


def model_digest(blob: bytes) -> str:
    """Hex sha256 digest recorded in ``blob`` (what :func:`load_model` checks against)."""
    _check_header(blob)
    return bytes(blob[len(MAGIC) : _HEADER_SIZE]).hex()


def load_model(blob: bytes, *, what: str = "model", trusted=None, allow_pickle: bool = True):
    """Check ``blob``'s digest, then unpickle it (or load it with skops).

    Parameters
    ----------
    blob : bytes
        Bytes made by :func:`dump_model`.
    what : str
        Names the object in error messages, e.g. ``"model of group {'store': 3}"``.
    trusted : list of str, optional
        For skops bytes: type names to load beyond skops' default trusted set (e.g.
        ``["sklearn.tree._tree.Tree"]``). Ignored for pickles.
    allow_pickle : bool, default=True
        False refuses pickle bytes before anything is unpickled (only skops bytes load).

    Returns
    -------
    object
        The loaded object. Unpickling runs code: load pickle bytes only from places you
        trust.

    Raises
    ------
    ModelIntegrityError
        The bytes are not ours, are truncated, do not match their digest, are a pickle
        while ``allow_pickle`` is False, or declare an impossible decompressed size.
    UntrustedTypesError
        skops bytes hold types that are neither trusted by skops nor listed in ``trusted``.
    """
    _check_header(blob, what)
    blob = bytes(blob)
    magic = blob[: len(MAGIC)]
    if magic == MAGIC_SHARED:
        raise ModelIntegrityError(
            f"The serialized {what} holds shared task objects (load_shared), not a model."
        )
    if not allow_pickle and magic != MAGIC_SKOPS:
        raise PickleRefusedError(
            f"The serialized {what} is a pickle, and pickles are refused here "
            "(allow_pickle=False, or a save written with serializer='skops'). Refusing to "
            "unpickle it: it could run any code."
        )
    payload = blob[_HEADER_SIZE:]
    if hashlib.sha256(payload).digest() != blob[len(MAGIC) : _HEADER_SIZE]:
        raise ModelIntegrityError(
            f"The serialized {what} does not match its sha256 digest ({len(payload)} payload "
            "bytes): it was truncated or modified after it was saved. Refusing to unpickle it."
        )
    if magic == MAGIC_SKOPS:
        return _load_skops(payload, what, trusted)
    if magic == MAGIC_ZSTD:
        import pyarrow as pa

        size = _checked_size(payload, what)
        payload = pa.decompress(payload[8:], size, codec="zstd", asbytes=True)
    return pickle.loads(payload)


#: zstd cannot compress more than this: a block of 128 KiB is at least a 4-byte RLE block.
_ZSTD_MAX_RATIO = 32_768


def _checked_size(payload: bytes, what: str) -> int:
    """The decompressed size a zstd payload declares, refused before anything is allocated
    when its compressed bytes cannot hold that much, or when it exceeds the machine's memory."""
    size = int.from_bytes(payload[:8], "little")
    compressed = len(payload) - 8
    possible = _ZSTD_MAX_RATIO * max(compressed, 1) + 2**17
    limit = _memory_limit()
    if size > possible or size > limit:
        reason = (
            f"more than its {compressed} compressed bytes can hold (at most {possible})"
            if size > possible
            else f"more than this machine's memory ({limit} bytes)"
        )
        raise ModelIntegrityError(
            f"The serialized {what} declares {size} bytes once decompressed, {reason}. "
            "Refusing to allocate it: the blob was forged or damaged."
        )
    return size


def _memory_limit() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: only the ratio applies
        return 2**62


def refuse_pickles(blobs: dict) -> None:
    """Raise :class:`PickleRefusedError` naming the first of ``{what: blob}`` (None values
    skipped) that is not a skops blob: the check a save that admits no pickle makes before
    it loads anything."""
    for what, blob in blobs.items():
        if blob is not None and blob_format(blob) != "skops":
            raise PickleRefusedError(
                f"The saved {what} is a pickle, and pickles are refused here (a save written "
                "with serializer='skops', or allow_pickle=False). Refusing to load anything "
                "of it: a pickle could run any code."
            )


def blob_format(blob: bytes) -> str:
    """``"skops"`` or ``"pickle"``: the serializer that made ``blob``."""
    return "skops" if bytes(blob[: len(MAGIC)]) == MAGIC_SKOPS else "pickle"


def _load_skops(payload: bytes, what: str, trusted):
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=payload)
    refused = [t for t in untrusted if t not in set(trusted or ())]
    if refused:
        raise UntrustedTypesError(
            f"The {what} (skops format) holds types that are not trusted: {refused}. "
            "If you trust where the save comes from, pass them: load(path, trusted=[...]).",
            types=refused,
        )
    return skops.io.loads(payload, trusted=untrusted)


#: Arrays at least this large are shared read-only by every copy :func:`load_shared` makes
#: (joblib's ``max_nbytes`` default: its process workers get such arrays as read-only
#: memory maps); smaller ones are copied with the rest.
SHARE_ARRAYS_ABOVE = 2**20


def dump_shared(obj, references=None) -> bytes:
    """Serialize ``obj`` so that every :meth:`SharedObjects.copy` of it is a fresh object
    whose large arrays are read-only views of one shared buffer.

    This is how joblib's process workers see large arguments (read-only memory maps) and
    everything else (their own unpickled copy), so a task that mutates an argument cannot
    affect another task, and a 500 MiB ``X`` still exists once per process. The buffers of
    numpy arrays (inside DataFrames, sparse matrices, fitted estimators ...) of at least
    :data:`SHARE_ARRAYS_ABOVE` bytes are written out of band (pickle protocol 5), not
    compressed; the digest covers everything.

    ``references`` (optional) returns a token for an object to write as a reference instead
    of by value (None for the others): each copy then asks its ``resolve`` for that object
    (:meth:`SharedObjects.copy`). It is asked about the objects pickle hands to
    ``reducer_override`` only: never about None, booleans, or exact ints, floats, strings,
    bytes, lists, tuples, dicts and sets, so a column of a million strings costs nothing
    more to write.
    """
    header, inband, raws = _shared_parts(obj, references)
    payload = b"".join([header, inband, *raws])
    return MAGIC_SHARED + hashlib.sha256(payload).digest() + payload


def write_shared(obj, stream, references=None) -> str:
    """:func:`dump_shared` into a seekable binary ``stream``, without a second copy of the
    large buffers in memory; returns the hex digest (what :func:`model_digest` reads)."""
    header, inband, raws = _shared_parts(obj, references)
    digest = hashlib.sha256()
    stream.write(MAGIC_SHARED + bytes(_DIGEST_SIZE))
    for part in (header, inband, *raws):
        digest.update(part)
        stream.write(part)
    stream.seek(len(MAGIC_SHARED))
    stream.write(digest.digest())
    stream.seek(0, 2)
    return digest.hexdigest()


def _shared_parts(obj, references=None):
    """``(header, in-band pickle, out-of-band buffers)`` of ``obj`` (see :func:`dump_shared`)."""
    buffers = []

    def out_of_band(buffer):
        if buffer.raw().nbytes >= SHARE_ARRAYS_ABOVE:
            buffers.append(buffer)
            return False
        return True

    if references is None:
        inband = cloudpickle.dumps(obj, protocol=5, buffer_callback=out_of_band)
    else:
        stream = io.BytesIO()
        _ReferencingPickler(stream, references, buffer_callback=out_of_band).dump(obj)
        inband = stream.getvalue()
    raws = [buffer.raw() for buffer in buffers]
    sizes = [len(inband), *(raw.nbytes for raw in raws)]
    header = b"".join(n.to_bytes(8, "little") for n in (len(raws), *sizes))
    return header, inband, raws


def _reference(token):
    """Stands for an object written as a reference by :func:`dump_shared`: the unpickler of
    :meth:`SharedObjects.copy` calls its ``resolve`` in its place."""
    raise pickle.UnpicklingError(
        f"Reference {token!r} to a shared object: unpickle it with SharedObjects.copy(resolve)."
    )


class _ReferencingPickler(cloudpickle.Pickler):
    """Protocol 5; writes the objects ``references`` names as calls of :func:`_reference`.

    ``reducer_override`` rather than ``persistent_id``: pickle calls the latter for every
    object, strings and numbers included (an object array of a million strings took 0.24 s
    to write instead of 0.195 s), the former only for objects of other types (cloudpickle
    already has it look at them: 0.196 s)."""

    def __init__(self, file, references, buffer_callback):
        super().__init__(file, protocol=5, buffer_callback=buffer_callback)
        self.references = references

    def reducer_override(self, obj):
        token = self.references(obj)
        if token is not None:
            return _reference, (token,)
        return super().reducer_override(obj)


class _ResolvingUnpickler(pickle.Unpickler):
    """Resolves the references :class:`_ReferencingPickler` wrote with ``resolve(token)``."""

    def __init__(self, file, buffers, resolve):
        super().__init__(file, buffers=buffers)
        self.resolve = resolve

    def find_class(self, module, name):
        if module == __name__ and name == _reference.__name__:
            return self.resolve
        return super().find_class(module, name)


class SharedObjects:
    """What :func:`load_shared` returns: :meth:`copy` unpickles a fresh copy each time."""

    def __init__(self, inband, buffers):
        self.inband, self.buffers = inband, buffers

    def copy(self, resolve=None):
        """A new copy of the object; its large arrays are read-only shared views.
        ``resolve(token)`` gives the objects ``dump_shared(..., references)`` wrote as
        references."""
        if resolve is None:
            return pickle.loads(self.inband, buffers=self.buffers)
        stream = io.BytesIO(self.inband)
        return _ResolvingUnpickler(stream, self.buffers, resolve).load()


def load_shared(blob, *, what: str = "shared objects") -> SharedObjects:
    """Check the digest of bytes made by :func:`dump_shared`; return their
    :class:`SharedObjects` (no copy of the buffers is made).

    Raises
    ------
    ModelIntegrityError
        The bytes are truncated, modified or of another format.
    """
    _check_header(blob, what)
    view = memoryview(blob)
    if bytes(view[: len(MAGIC)]) != MAGIC_SHARED:
        raise ModelIntegrityError(f"The serialized {what} is not in the shared-objects format.")
    payload = view[_HEADER_SIZE:]
    if hashlib.sha256(payload).digest() != bytes(view[len(MAGIC) : _HEADER_SIZE]):
        raise ModelIntegrityError(
            f"The serialized {what} does not match its sha256 digest ({len(payload)} payload "
            "bytes): it was truncated or modified. Refusing to unpickle it."
        )
    count = int.from_bytes(payload[:8], "little")
    sizes = [int.from_bytes(payload[8 * i : 8 * i + 8], "little") for i in range(1, count + 2)]
    parts, offset = [], 8 * (count + 2)
    for size in sizes:
        parts.append(payload[offset : offset + size])
        offset += size
    return SharedObjects(parts[0], parts[1:])


def _check_header(blob, what: str = "model") -> None:
    if blob is None:
        raise ModelIntegrityError(f"The serialized {what} is missing (null bytes).")
    if len(blob) < _HEADER_SIZE or bytes(blob[: len(MAGIC)]) not in _MAGICS:
        raise ModelIntegrityError(
            f"The serialized {what} is not a spark_sklearn_bridge model blob "
            f"({len(blob)} bytes, expected a {MAGIC!r} header and a sha256 digest)."
        )
