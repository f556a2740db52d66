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
