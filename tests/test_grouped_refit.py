"""refit_groups: only the groups in the new data are refitted; every other group keeps its
model byte for byte and its record."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from spark_sklearn_bridge import GroupedEstimator
from spark_sklearn_bridge.exceptions import ColumnError, GroupFitError

FEATURES = ["f0", "f1"]


def rows(groups, n=20, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for g in groups:
        X = rng.normal(size=(n, 2))
        frames.append(pd.DataFrame(X, columns=FEATURES).assign(g=g, y=X @ [g + 1.0, seed - 1.0]))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("spark_input", [True, False])
def test_only_the_groups_in_the_new_data_are_refitted(spark, spark_input):
    first, update = rows([0, 1, 2, 3]), rows([1, 4], seed=5)
    model = GroupedEstimator(Ridge(), "g", feature_cols=FEATURES, label_col="y")
    model.fit(spark.createDataFrame(first))
    before = model.model_table_.toPandas().set_index("g")
    if spark_input:
        model.refit_groups(spark.createDataFrame(update))
    else:
        model.set_params(label_col=None)
        model.refit_groups(update[["g", *FEATURES]], update["y"])
    after = model.model_table_.toPandas().set_index("g").sort_index()
    assert list(after.index) == [0, 1, 2, 3, 4] and model.n_groups_ == 5
    for g in (0, 2, 3):  # untouched: same bytes, same record
        assert after.loc[g, "model"] == before.loc[g, "model"]
        assert after.loc[g, "fitted_at"] == before.loc[g, "fitted_at"]
    assert after.loc[1, "fitted_at"] > before.loc[1, "fitted_at"]
    for g, data in [(0, first), (1, update), (4, update), (3, first)]:
        part = data[data["g"] == g]
        expected = Ridge().fit(part[FEATURES], part["y"]).coef_
        np.testing.assert_allclose(model.get_group_model(g).coef_, expected)


def test_a_failing_refit_changes_nothing(spark):
    first = rows([0, 1])
    model = GroupedEstimator(Ridge(), "g", feature_cols=FEATURES)
    model.fit(first[["g", *FEATURES]], first["y"])
    table = model.model_table_.toPandas()
    bad = rows([1]).assign(f0=np.nan)
    with pytest.raises(GroupFitError, match=r"group \{'g': 1\}"):
        model.refit_groups(bad[["g", *FEATURES]], bad["y"])
    pd.testing.assert_frame_equal(model.model_table_.toPandas(), table)
    with pytest.raises(ColumnError, match="'g' is string in the refit data but was bigint"):
        model.refit_groups(first[["g", *FEATURES]].astype({"g": str}), first["y"])
