import pickle

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor

from spark_sklearn_bridge import dump_model, load_model
from spark_sklearn_bridge._serialization import model_digest
from spark_sklearn_bridge.exceptions import ModelIntegrityError


@pytest.fixture(scope="module")
def fitted():
    X, y = load_diabetes(return_X_y=True)
    return RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y), X


def test_round_trip_keeps_predictions(fitted):
    model, X = fitted
    blob = dump_model(model)
    np.testing.assert_array_equal(load_model(blob).predict(X), model.predict(X))
    assert len(model_digest(blob)) == 64


def test_lambdas_and_local_objects_survive():
    offset = 3
    restored = load_model(dump_model(lambda x: x + offset))
    assert restored(1) == 4


@pytest.mark.parametrize("position", [8, 20, 45, -1])
def test_tampered_bytes_are_rejected_before_unpickling(fitted, monkeypatch, position):
    blob = bytearray(dump_model(fitted[0]))
    blob[position] ^= 0xFF
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled bad bytes"))
    with pytest.raises(ModelIntegrityError, match="Refusing to unpickle|not a spark_sklearn"):
        load_model(bytes(blob))


def test_truncated_bytes_are_rejected(fitted):
    blob = dump_model(fitted[0])
    with pytest.raises(ModelIntegrityError, match="does not match its sha256 digest"):
        load_model(blob[:-10])
    with pytest.raises(ModelIntegrityError, match="not a spark_sklearn_bridge model blob"):
        load_model(blob[:20])


def test_foreign_pickles_and_nulls_are_rejected():
    with pytest.raises(ModelIntegrityError, match="not a spark_sklearn_bridge model blob"):
        load_model(pickle.dumps({"a": 1}), what="model of group {'g': 1}")
    with pytest.raises(ModelIntegrityError, match="missing"):
        load_model(None)


def test_error_names_what_was_loaded(fitted):
    blob = bytearray(dump_model(fitted[0]))
    blob[-1] ^= 1
    with pytest.raises(ModelIntegrityError, match=r"model of group \{'store': 3\}"):
        load_model(bytes(blob), what="model of group {'store': 3}")


def test_large_pickles_are_compressed_small_ones_are_not(fitted, monkeypatch):
    from sklearn.linear_model import Ridge

    from spark_sklearn_bridge import _serialization

    model, X = fitted
    blob = dump_model(model)
    assert blob.startswith(_serialization.MAGIC_ZSTD)
    assert len(blob) < len(pickle.dumps(model)) / 2
    np.testing.assert_array_equal(load_model(blob).predict(X), model.predict(X))
    assert dump_model(Ridge()).startswith(_serialization.MAGIC)

    tampered = bytearray(blob)
    tampered[-3] ^= 0xFF
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled bad bytes"))
    with pytest.raises(ModelIntegrityError, match="Refusing to unpickle"):
        load_model(bytes(tampered))


def test_shared_objects_copy_fresh_objects_with_shared_large_arrays_and_resolved_references():
    """dump_shared: each copy is a new object; arrays of SHARE_ARRAYS_ABOVE bytes or more are
    read-only views of one buffer; what ``references`` names is resolved by each copy's
    ``resolve`` instead of being unpickled (a worker's one copy of a link)."""
    from spark_sklearn_bridge._serialization import SHARE_ARRAYS_ABOVE, dump_shared, load_shared

    big = np.arange(SHARE_ARRAYS_ABOVE // 8 + 1, dtype=np.float64)
    link, resolved = RandomForestRegressor(n_estimators=3), object()
    obj = {"big": big, "small": [1, 2], "link": link, "again": [link]}
    plain = load_shared(dump_shared(obj))
    asked = []
    referenced = load_shared(
        dump_shared(obj, lambda o: asked.append(o) or ("ref" if o is link else None))
    )
    assert not [o for o in asked if type(o) in (str, int, float, list, dict)]  # never asked
    first, second = plain.copy(), plain.copy()
    assert first is not second and first["small"] is not second["small"]
    assert first["link"].n_estimators == 3 and first["link"] is not link
    np.testing.assert_array_equal(first["big"], big)
    assert not first["big"].flags.writeable and np.shares_memory(first["big"], second["big"])
    tokens = []
    copy = referenced.copy(lambda token: tokens.append(token) or resolved)
    assert copy["link"] is resolved and copy["again"][0] is resolved and tokens == ["ref"]
    assert copy["small"] == [1, 2]
    with pytest.raises(pickle.UnpicklingError, match="Reference 'ref'"):
        referenced.copy()  # a reference needs its resolver
