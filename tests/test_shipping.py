"""Shipments: loaded once per worker process, cached by digest, bounded, integrity-checked."""

import numpy as np
import pytest

from spark_sklearn_bridge import _shipping, dump_model
from spark_sklearn_bridge._serialization import model_digest
from spark_sklearn_bridge._shipping import Shipment, ship, worker_cache_misses
from spark_sklearn_bridge.exceptions import ModelIntegrityError


def _inline(obj, what="object"):
    blob = dump_model(obj)
    return Shipment(model_digest(blob), blob, what)


def test_loaded_once_per_digest_and_shared_between_equal_shipments():
    value = np.arange(1000.0) + 0.123456  # an object no other test shipped
    first, second = _inline(value), _inline(value)
    before = worker_cache_misses()
    assert first.load() is first.load() is second.load()
    assert worker_cache_misses() - before == 1


def test_least_recently_used_entries_go_first_by_count_and_by_bytes(monkeypatch):
    monkeypatch.setattr(_shipping, "_cache", type(_shipping._cache)())
    monkeypatch.setattr(_shipping, "_CACHE_ENTRIES", 2)
    a, b, c = (_inline(f"object {i}") for i in range(3))
    a.load(), b.load(), a.load(), c.load()  # b is least recently used
    assert set(_shipping._cache) == {a.digest, c.digest}
    monkeypatch.setattr(_shipping, "_CACHE_BYTES", 1)  # smaller than any entry
    big = _inline(np.zeros(10_000))
    big.load()
    assert list(_shipping._cache) == [big.digest]  # the newest always stays


def test_tampered_bytes_are_refused_naming_the_object():
    blob = bytearray(dump_model({"model": 1}))
    blob[-2] ^= 0xFF
    shipment = Shipment(model_digest(bytes(blob)), bytes(blob), "model table")
    with pytest.raises(ModelIntegrityError, match="serialized model table does not match"):
        shipment.load()


def test_classic_spark_ships_a_broadcast_and_releases_it(spark):
    shipment = ship(spark, {"k": 1}, what="dict")
    assert not isinstance(shipment.source, bytes)  # a Broadcast on classic Spark
    assert shipment.load() == {"k": 1}
    shipment.release(destroy=True)
