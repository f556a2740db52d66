"""Preprocessing translated for SparkMLEstimator (issue #24): every translated transformer
against scikit-learn's ``fit_transform`` on the same data (what ``toPandas`` gives scikit-learn:
strings with None, floats with NaN, integer categories), column by column; full pipelines'
predictions and their ``to_sklearn`` exports; each refusal names its parameter.

The Connect suite runs these same tests through a Connect session.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import tree
from sklearn.compose import ColumnTransformer, make_column_selector, make_column_transformer
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    Binarizer,
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    StandardScaler,
)

from spark_sklearn_bridge import SparkMLEstimator
from spark_sklearn_bridge.exceptions import ColumnError, UnsupportedEstimatorError
from spark_sklearn_bridge.spark_ml import _registry

#: KBinsDiscretizer's quantile method where the installed scikit-learn has one (1.7+).
LINEAR = (
    {"quantile_method": "linear"} if "quantile_method" in KBinsDiscretizer().get_params() else {}
)
CITIES = ["paris", "rome", "oslo", "zürich", "Ämsterdam", None]


def table(n=400, seed=0) -> pd.DataFrame:
    """Strings with nulls, integer categories, floats with NaN, clean floats, a label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "city": rng.choice(np.array(CITIES, dtype=object), n),
            "k": rng.integers(0, 4, n),
            "w": np.where(rng.random(n) < 0.1, np.nan, rng.normal(2.0, 3.0, n)),
            "x": rng.normal(size=n),
            "z": rng.normal(5.0, 2.0, n),
        }
    )
    signal = frame["x"] + (frame["city"] == "rome") - 0.5 * (frame["k"] == 2)
    frame["y"] = (signal + 0.3 * rng.normal(size=n) > 0.2).astype(int)
    return frame


@pytest.fixture(scope="module")
def frames(spark):
    """The Spark DataFrame and what scikit-learn sees of it (``toPandas``)."""
    sdf = spark.createDataFrame(table()).repartition(3).cache()
    return sdf, sdf.toPandas().sort_values("id").reset_index(drop=True)


def spark_transform(model, sdf):
    out = model.transform(sdf).select("id", "prediction").toPandas().sort_values("id")
    return np.vstack(out["prediction"].to_list())


def dense(matrix):
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix, dtype=float)


TRANSFORMERS = {
    "onehot": (OneHotEncoder(), ["city", "k"]),
    "onehot-drop-first": (OneHotEncoder(drop="first", sparse_output=False), ["city", "k"]),
    "onehot-if-binary": (OneHotEncoder(drop="if_binary"), ["k"]),
    "onehot-given-categories": (OneHotEncoder(categories=[[0, 1, 2, 3, 7]]), ["k"]),
    "ordinal": (OrdinalEncoder(), ["city", "k"]),
    "onehot-min-frequency": (OneHotEncoder(min_frequency=67), ["city", "k"]),
    "onehot-min-frequency-fraction": (OneHotEncoder(min_frequency=0.17), ["city"]),
    "onehot-max-categories": (
        OneHotEncoder(max_categories=3, handle_unknown="infrequent_if_exist"),
        ["city", "k"],
    ),
    "ordinal-infrequent": (OrdinalEncoder(min_frequency=67, max_categories=4), ["city", "k"]),
    "impute-mean": (SimpleImputer(), ["w", "x"]),
    "impute-median": (SimpleImputer(strategy="median"), ["w"]),
    "impute-most-frequent": (SimpleImputer(strategy="most_frequent"), ["k", "w"]),
    "impute-constant": (SimpleImputer(strategy="constant", fill_value=-1.5), ["w"]),
    "impute-strings": (
        make_pipeline(
            SimpleImputer(strategy="most_frequent", missing_values=None), OneHotEncoder()
        ),
        ["city"],
    ),
    "impute-strings-constant": (
        make_pipeline(SimpleImputer(strategy="constant", missing_values=None), OrdinalEncoder()),
        ["city"],
    ),
    "standard": (StandardScaler(), ["x", "z", "k"]),
    "standard-no-mean": (StandardScaler(with_mean=False), ["x", "z"]),
    "minmax-clip": (MinMaxScaler(feature_range=(-1, 2), clip=True), ["x", "z"]),
    "maxabs": (MaxAbsScaler(), ["x", "z"]),
    "binarizer": (Binarizer(threshold=0.25), ["x"]),
    "polynomial": (PolynomialFeatures(degree=2), ["x", "z"]),
    "polynomial-interactions": (
        PolynomialFeatures(degree=3, interaction_only=True, include_bias=False),
        ["x", "z", "k"],
    ),
    "kbins-uniform": (KBinsDiscretizer(n_bins=4, strategy="uniform", encode="ordinal"), ["x"]),
    "kbins-quantile": (
        KBinsDiscretizer(
            n_bins=5,
            strategy="quantile",
            encode="onehot-dense",
            subsample=None,
            **LINEAR,
        ),
        ["x", "z"],
    ),
    "impute-then-scale": (make_pipeline(SimpleImputer(), StandardScaler()), ["w", "x"]),
    "column-transformer-passthrough": (
        ColumnTransformer(
            [("cat", OneHotEncoder(), ["city"]), ("num", StandardScaler(), ["z"])],
            remainder="passthrough",
        ),
        ["city", "k", "x", "z"],
    ),
    "column-transformer-selectors": (
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_include=object)),
            (make_pipeline(SimpleImputer(strategy="median"), MinMaxScaler()), ["w"]),
            ("passthrough", ["x"]),
            remainder="drop",
        ),
        ["city", "k", "w", "x"],
    ),
}


@pytest.mark.parametrize("case", list(TRANSFORMERS))
def test_each_translated_transformer_equals_scikit_learn(frames, case):
    sdf, pdf = frames
    transformer, cols = TRANSFORMERS[case]
    expected = dense(transformer.fit_transform(pdf[cols]))
    model = SparkMLEstimator(transformer, feature_cols=cols).fit(sdf)
    ours = spark_transform(model, sdf)
    assert ours.shape == expected.shape
    for j in range(expected.shape[1]):  # column by column, in scikit-learn's order
        np.testing.assert_allclose(ours[:, j], expected[:, j], rtol=1e-9, atol=1e-12)
    # The export is scikit-learn's own fitted transformer, equal to Spark's output.
    exported = model.to_sklearn()
    np.testing.assert_allclose(dense(exported.transform(pdf[cols])), expected, atol=1e-12)


def test_unseen_categories_at_predict_time(frames):
    sdf, pdf = frames
    seen = sdf.filter("city IS NULL OR city != 'oslo'").filter("k != 3")
    encoder = OneHotEncoder(handle_unknown="ignore")
    expected = encoder.fit(pdf.query("city != 'oslo' and k != 3")[["city", "k"]]).transform(
        pdf[["city", "k"]]
    )
    model = SparkMLEstimator(encoder, feature_cols=["city", "k"]).fit(seen)
    np.testing.assert_array_equal(spark_transform(model, sdf), dense(expected))

    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    expected = ordinal.fit(pdf.query("city != 'oslo' and k != 3")[["city", "k"]]).transform(
        pdf[["city", "k"]]
    )
    model = SparkMLEstimator(ordinal, feature_cols=["city", "k"]).fit(seen)
    np.testing.assert_array_equal(spark_transform(model, sdf), expected)

    # An unseen value goes to the infrequent column, as in scikit-learn.
    rare = OneHotEncoder(max_categories=3, handle_unknown="infrequent_if_exist")
    expected = rare.fit(pdf.query("city != 'oslo' and k != 3")[["city", "k"]]).transform(
        pdf[["city", "k"]]
    )
    model = SparkMLEstimator(rare, feature_cols=["city", "k"]).fit(seen)
    np.testing.assert_array_equal(spark_transform(model, sdf), dense(expected))

    for strict in (OneHotEncoder(), OneHotEncoder(drop="first"), OrdinalEncoder()):
        model = SparkMLEstimator(strict, feature_cols=["city"]).fit(seen)
        with pytest.raises(Exception, match="unknown category in column 'city'.*oslo"):
            spark_transform(model, sdf)


def issue_pipeline(model=None):
    return make_pipeline(
        make_column_transformer((OneHotEncoder(), ["city"]), (StandardScaler(), ["x", "z"])),
        model or LogisticRegression(),
    )


def test_the_issue_pipeline_agrees_with_scikit_learn_and_exports(frames):
    sdf, pdf = frames
    features = ["city", "x", "z"]
    reference = issue_pipeline().fit(pdf[features], pdf["y"])
    model = SparkMLEstimator(issue_pipeline(), feature_cols=features, label_col="y").fit(sdf)
    predicted = model.predict(sdf).select("id", "prediction").toPandas().sort_values("id")
    expected = reference.predict(pdf[features])
    assert (predicted["prediction"].to_numpy() == expected).mean() >= 0.99
    np.testing.assert_allclose(
        model.predict_proba(pdf[features]), reference.predict_proba(pdf[features]), atol=5e-3
    )
    exported = model.to_sklearn()
    np.testing.assert_array_equal(exported.predict(pdf[features]), predicted["prediction"])
    # Local pandas input (strings included) takes the same path as scikit-learn's fit.
    local = SparkMLEstimator(issue_pipeline()).fit(pdf[features], pdf["y"])
    np.testing.assert_array_equal(local.predict(pdf[features]), predicted["prediction"])


def test_a_regression_pipeline_with_imputation_and_ordinal_codes(frames):
    sdf, pdf = frames
    features = ["city", "k", "w", "x"]
    estimator = make_pipeline(
        make_column_transformer(
            (
                make_pipeline(
                    SimpleImputer(missing_values=None, strategy="most_frequent"), OrdinalEncoder()
                ),
                ["city"],
            ),
            (OneHotEncoder(drop="first"), ["k"]),
            (SimpleImputer(strategy="median"), ["w"]),
            remainder="passthrough",
        ),
        Ridge(alpha=0.5),
    )
    reference = estimator.fit(pdf[features], pdf["z"])
    model = SparkMLEstimator(estimator, feature_cols=features, label_col="z").fit(sdf)
    np.testing.assert_allclose(model.coef_, reference[-1].coef_, rtol=1e-6)
    np.testing.assert_allclose(
        model.to_sklearn().predict(pdf[features]), reference.predict(pdf[features]), rtol=1e-6
    )


def test_saved_with_its_preprocessing(frames, tmp_path):
    sdf, pdf = frames
    features = ["city", "x", "z"]
    model = SparkMLEstimator(issue_pipeline(), feature_cols=features, label_col="y").fit(sdf)
    expected = model.predict_proba(pdf[features])
    for serializer in ("pickle", "skops"):
        path = tmp_path / serializer
        model.save(path, serializer=serializer)
        loaded = SparkMLEstimator.load(path, allow_pickle=serializer == "pickle")
        np.testing.assert_allclose(loaded.predict_proba(pdf[features]), expected)


REFUSALS = [
    (OneHotEncoder(min_frequency=5, drop="first"), ["city"], "drop='first'"),
    (OrdinalEncoder(max_categories=2, categories=[CITIES]), ["city"], "max_categories=2"),
    (OneHotEncoder(min_frequency=90), ["city", "k"], "column 'city' has only infrequent"),
    (KBinsDiscretizer(n_bins=[3, 4], subsample=None, **LINEAR), ["x", "k"], "n_bins="),
    (SimpleImputer(strategy=np.nanmax), ["w"], "SimpleImputer(strategy="),
    (PCA(n_components=0.9), ["x", "k"], "PCA(n_components=0.9)"),
    (KBinsDiscretizer(strategy="kmeans"), ["x"], "strategy='kmeans'"),
    (KBinsDiscretizer(subsample=100, **LINEAR), ["x"], "subsample=100"),
    (SimpleImputer(strategy="most_frequent"), ["city"], "missing_values=None"),
    (SimpleImputer(add_indicator=True), ["w"], "add_indicator=True"),
    (SimpleImputer(missing_values=-1.0), ["w"], "missing_values=-1.0"),
    (StandardScaler(), ["city"], "needs numeric input; column 'city'"),
    (make_column_transformer((FunctionTransformer(), ["x"])), ["x"], "part 'functiontrans"),
    (make_pipeline(StandardScaler(), Ridge()), ["x"], "Ridge has no translation"),
]
if "quantile_method" in KBinsDiscretizer().get_params():
    REFUSALS.append((KBinsDiscretizer(subsample=None), ["x"], "quantile_method="))


@pytest.mark.parametrize("transformer, cols, message", REFUSALS, ids=lambda v: str(v)[:30])
def test_each_refusal_names_its_parameter(frames, transformer, cols, message):
    sdf, _ = frames
    with pytest.raises((UnsupportedEstimatorError, ValueError), match=re.escape(message)):
        SparkMLEstimator(
            make_pipeline(transformer, Ridge()), feature_cols=cols, label_col="z"
        ).fit(sdf)


def test_bad_values_are_named_before_the_model(frames):
    sdf, _ = frames
    with pytest.raises(
        ValueError, match="column 'w' has .* null, NaN or infinite.*StandardScaler"
    ):
        SparkMLEstimator(
            make_pipeline(StandardScaler(), Ridge()), feature_cols=["w", "x"], label_col="z"
        ).fit(sdf)
    with pytest.raises(
        ColumnError, match=r"'remainder__city' \(string\) would reach the model unencoded"
    ):
        SparkMLEstimator(
            make_pipeline(
                make_column_transformer((StandardScaler(), ["x"]), remainder="passthrough"),
                Ridge(),
            ),
            feature_cols=["x", "city"],
            label_col="z",
        ).fit(sdf)
    with pytest.raises(ValueError, match="'k'.*OrdinalEncoder encodes as NaN"):
        SparkMLEstimator(OrdinalEncoder(), feature_cols=["k"]).fit(sdf.select(sdf["w"].alias("k")))
    fitted = SparkMLEstimator(OneHotEncoder(), feature_cols=["k"]).fit(sdf)
    with pytest.raises(ColumnError, match="Column 'k' is string here but was numeric"):
        fitted.transform(sdf.withColumn("k", sdf["k"].cast("string")))


def test_default_max_depth_trains_and_warns_only_at_the_cap(frames, monkeypatch):
    sdf, pdf = frames
    features = ["x", "z", "k"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no tree reaches 30 levels on 400 rows: no warning
        forest = SparkMLEstimator(
            RandomForestClassifier(random_state=0), feature_cols=features, label_col="y"
        ).fit(sdf)
        regressor = SparkMLEstimator(
            tree.DecisionTreeRegressor(), feature_cols=["z", "k"], label_col="x"
        ).fit(sdf)
    reference = RandomForestClassifier(random_state=0).fit(pdf[features], pdf["y"])
    agreement = (forest.predict(pdf[features]) == reference.predict(pdf[features])).mean()
    assert agreement >= 0.95
    # An unbounded tree grows deep and fits its training data (up to Spark's binning of z's
    # 400 values into 256 bins), as scikit-learn's unbounded tree does.
    assert regressor.spark_model_.stages[-1].depth > 8
    assert np.corrcoef(regressor.predict(pdf[["z", "k"]]), pdf["x"])[0, 1] > 0.9
    monkeypatch.setattr(_registry, "MAX_SPARK_DEPTH", 3)
    with pytest.warns(UserWarning, match="reached pyspark.ml's depth cap of 3"):
        SparkMLEstimator(tree.DecisionTreeRegressor(), feature_cols=["z", "k"], label_col="x").fit(
            sdf
        )


def test_default_feature_columns_follow_the_first_step(frames):
    sdf, pdf = frames
    # A ColumnTransformer selects its own columns: every column but the label is offered.
    picked = make_column_transformer((OneHotEncoder(), ["city"]), (StandardScaler(), ["x"]))
    model = SparkMLEstimator(make_pipeline(picked, Ridge()), label_col="z").fit(sdf)
    assert list(model.feature_names_in_) == [c for c in sdf.columns if c != "z"]
    reference = make_pipeline(picked, Ridge()).fit(pdf.drop(columns="z"), pdf["z"])
    # (all categories and an intercept: collinear, so compare predictions, not coefficients)
    np.testing.assert_allclose(
        model.predict(pdf.drop(columns="z")), reference.predict(pdf.drop(columns="z")), rtol=1e-6
    )
    # A scaler first: numeric columns only, as without preprocessing (strings are named).
    with pytest.raises(ColumnError, match=r"\['city'\] are not numeric"):
        SparkMLEstimator(make_pipeline(StandardScaler(), Ridge()), label_col="z").fit(sdf)
