import pandas as pd
import pytest
from pyspark.ml.linalg import Vectors

from spark_sklearn_bridge._inputs import (
    as_column_list,
    is_spark_dataframe,
    pandas_column_kinds,
    resolve_columns,
    spark_column_kinds,
)
from spark_sklearn_bridge.exceptions import ColumnError


@pytest.fixture(scope="module")
def frame():
    return pd.DataFrame(
        {
            "store": ["a", "b"],
            "x1": [1.0, 2.0],
            "x2": [3, 4],
            "y": [0.5, 1.5],
            "flag": [True, False],
        }
    )


def test_spark_and_pandas_kinds_agree(spark, frame):
    sdf = spark.createDataFrame(frame)
    numeric = {c: k == "numeric" for c, k in spark_column_kinds(sdf.schema).items()}
    assert numeric == {c: k == "numeric" for c, k in pandas_column_kinds(frame).items()}
    assert spark_column_kinds(sdf.schema)["store"] == "string"  # type names for messages
    assert is_spark_dataframe(sdf) and not is_spark_dataframe(frame)


def test_vector_and_array_columns_are_vectors(spark):
    sdf = spark.createDataFrame([(Vectors.dense([1.0, 2.0]), [1.0, 2.0], "s")], ["v", "a", "s"])
    assert spark_column_kinds(sdf.schema) == {"v": "vector", "a": "vector", "s": "string"}


def test_default_features_are_the_other_numeric_columns(frame):
    kinds = pandas_column_kinds(frame)
    assert resolve_columns(kinds, label_col="y", group_cols="store") == ["x1", "x2", "flag"]
    assert resolve_columns(kinds, label_col="y", group_cols="store", exclude=["flag"]) == [
        "x1",
        "x2",
    ]


def test_non_numeric_default_features_are_named(frame):
    with pytest.raises(ColumnError, match=r"\['store'\] are not numeric.*feature_cols=\["):
        resolve_columns(pandas_column_kinds(frame), label_col="y")


def test_missing_columns_are_named_with_a_suggestion(frame):
    kinds = pandas_column_kinds(frame)
    with pytest.raises(ColumnError, match=r"feature_cols.*\['X2'\].*did you mean 'x2'"):
        resolve_columns(kinds, feature_cols=["x1", "X2"], label_col="y")
    with pytest.raises(ColumnError, match=r"label_col.*\['label'\]"):
        resolve_columns(kinds, label_col="label")
    with pytest.raises(ColumnError, match=r"group_cols.*\['shop'\]"):
        resolve_columns(kinds, group_cols=["shop"])


def test_duplicated_and_overlapping_columns(frame):
    kinds = pandas_column_kinds(frame)
    with pytest.raises(ColumnError, match=r"more than once: \['x1'\]"):
        resolve_columns(kinds, feature_cols=["x1", "x2", "x1"])
    with pytest.raises(ColumnError, match="can play only one role"):
        resolve_columns(kinds, feature_cols=["x1", "y"], label_col="y")
    with pytest.raises(ColumnError, match="also one of group_cols"):
        resolve_columns(kinds, label_col="store", group_cols=["store"])
    with pytest.raises(ColumnError, match="at least one column"):
        as_column_list([], "group_cols", allow_none=False)


def test_explicit_non_numeric_feature_is_refused(frame):
    with pytest.raises(ColumnError, match=r"\['store'\] are neither numeric"):
        resolve_columns(pandas_column_kinds(frame), feature_cols=["store", "x1"])


def test_vector_features_only_where_allowed(spark):
    sdf = spark.createDataFrame([([1.0, 2.0], 1.0)], ["a", "x"])
    kinds = spark_column_kinds(sdf.schema)
    assert resolve_columns(kinds, feature_cols=["a"], allow_vector=True) == ["a"]
    with pytest.raises(ColumnError, match="one scalar column per feature"):
        resolve_columns(kinds, feature_cols=["a"])
    with pytest.raises(ColumnError, match="use one such column alone"):
        resolve_columns(kinds, feature_cols=["a", "x"], allow_vector=True)
