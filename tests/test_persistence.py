"""One save format for every saveable class: a directory with a sha256 manifest."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from spark_sklearn_bridge import GroupedEstimator, SparkMLEstimator
from spark_sklearn_bridge.exceptions import ModelIntegrityError


@pytest.fixture(scope="module")
def data():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X = X.iloc[:120].reset_index(drop=True)
    return X.assign(store=(X["sex"] > 0).astype(int)), y.to_numpy()[:120]


@pytest.fixture(scope="module")
def grouped(spark, data):
    X, y = data
    return GroupedEstimator(Ridge(), "store").fit(X[["store", "bmi", "bp"]], y)


@pytest.fixture(scope="module")
def spark_ml(spark, data):
    X, y = data
    return SparkMLEstimator(make_pipeline(StandardScaler(), Ridge())).fit(X[["bmi", "bp"]], y)


def test_grouped_round_trip_through_a_uri(grouped, data, tmp_path):
    X, _ = data
    uri = (tmp_path / "g").as_uri()  # file://...
    grouped.save(uri)
    manifest = json.loads((tmp_path / "g" / "manifest.json").read_text())
    assert set(manifest["files"]) == {"metadata.json", "models.parquet"}
    loaded = GroupedEstimator.load(uri)
    X_in = X[["store", "bmi", "bp"]]
    np.testing.assert_array_equal(loaded.predict(X_in), grouped.predict(X_in))


def test_spark_ml_round_trip_through_path_and_uri(spark_ml, data, tmp_path):
    X, y = data
    reference = make_pipeline(StandardScaler(), Ridge()).fit(X[["bmi", "bp"]], y)
    for target in (tmp_path / "m", (tmp_path / "u").as_uri()):
        spark_ml.save(target)
        loaded = SparkMLEstimator.load(target)
        np.testing.assert_allclose(loaded.predict(X[["bmi", "bp"]]), spark_ml.predict(X))
        np.testing.assert_allclose(loaded.coef_, reference[-1].coef_, rtol=1e-6)
    files = json.loads((tmp_path / "m" / "manifest.json").read_text())["files"]
    assert "metadata.json" in files and any(f.startswith("spark_model/") for f in files)


def _tamper_metadata(root):
    path = root / "metadata.json"
    metadata = json.loads(path.read_text())
    key = "feature_cols" if "feature_cols" in metadata else "features"
    metadata[key] = list(reversed(metadata[key]))  # would give wrong predictions silently
    path.write_text(json.dumps(metadata))


@pytest.mark.parametrize("which", ["grouped", "spark_ml"])
def test_every_file_is_covered_by_the_manifest(which, grouped, spark_ml, tmp_path):
    model, cls = (
        (grouped, GroupedEstimator) if which == "grouped" else (spark_ml, SparkMLEstimator)
    )
    model.save(tmp_path / "changed")
    _tamper_metadata(tmp_path / "changed")
    with pytest.raises(ModelIntegrityError, match="metadata.json does not match"):
        cls.load(tmp_path / "changed")
    model.save(tmp_path / "added")
    (tmp_path / "added" / "extra.pkl").write_bytes(b"not ours")
    with pytest.raises(ModelIntegrityError, match=r"files added \['extra.pkl'\]"):
        cls.load(tmp_path / "added")
    model.save(tmp_path / "removed")
    (tmp_path / "removed" / "metadata.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"missing \['metadata.json'\]"):
        cls.load(tmp_path / "removed")


def test_spark_written_files_are_covered_too(spark_ml, tmp_path):
    spark_ml.save(tmp_path / "m")
    parquet = next((tmp_path / "m" / "spark_model").rglob("*.parquet"))
    parquet.write_bytes(parquet.read_bytes()[:-10])
    with pytest.raises(ModelIntegrityError, match="does not match the sha256"):
        SparkMLEstimator.load(tmp_path / "m")


def test_saves_never_overwrite_and_foreign_directories_are_refused(grouped, spark_ml, tmp_path):
    (tmp_path / "taken").mkdir()
    for model in (grouped, spark_ml):
        with pytest.raises(FileExistsError, match="never overwrites"):
            model.save(tmp_path / "taken")
    with pytest.raises(ModelIntegrityError, match="no manifest.json"):
        GroupedEstimator.load(tmp_path / "taken")
    grouped.save(tmp_path / "g")
    with pytest.raises(ModelIntegrityError, match="'GroupedEstimator' save"):
        SparkMLEstimator.load(tmp_path / "g")


@pytest.mark.parametrize("which", ["grouped", "spark_ml"])
def test_skops_saves_load_without_pickle_and_equal_the_pickle_save(
    which, grouped, spark_ml, data, tmp_path
):
    model = grouped if which == "grouped" else spark_ml
    model.save(tmp_path / "skops", serializer="skops")
    model.save(tmp_path / "pickle")
    metadata = json.loads((tmp_path / "skops" / "metadata.json").read_text())
    assert bytes.fromhex(metadata["params"]).startswith(b"SSBSKOP\n")
    loaded = type(model).load(tmp_path / "skops")
    reference = type(model).load(tmp_path / "pickle")
    X = data[0] if isinstance(data, tuple) else data
    np.testing.assert_allclose(loaded.predict(X), reference.predict(X))
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))


def test_skops_refuses_untrusted_types_until_they_are_trusted(spark, tmp_path):
    from sklearn.ensemble import HistGradientBoostingRegressor

    from spark_sklearn_bridge.exceptions import UntrustedTypesError

    frame = pd.DataFrame({"g": [0] * 20 + [1] * 20, "x": np.tile(np.arange(20.0), 2)})
    y = frame["x"] * (1 + frame["g"])
    model = GroupedEstimator(HistGradientBoostingRegressor(max_iter=5), "g").fit(frame, y)
    model.save(tmp_path / "trees", serializer="skops")
    # Which types skops leaves untrusted depends on its version; TreePredictor in all.
    with pytest.raises(UntrustedTypesError, match="TreePredictor") as info:
        GroupedEstimator.load(tmp_path / "trees")
    loaded = GroupedEstimator.load(tmp_path / "trees", trusted=info.value.types)
    np.testing.assert_allclose(loaded.predict(frame), model.predict(frame))
    with pytest.raises(ValueError, match="serializer must be one of"):
        model.save(tmp_path / "other", serializer="json")
