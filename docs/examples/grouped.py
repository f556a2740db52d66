"""One model per store: tuned per store, with a fallback for new stores (docs/guide/grouped)."""

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit

from spark_sklearn_bridge import GroupedEstimator, get_spark

spark = get_spark()

# Weekly sales of 20 stores: each store has its own price sensitivity.
rng = np.random.default_rng(0)
weeks = pd.DataFrame(
    {
        "store": np.repeat(np.arange(20), 52),
        "week": np.tile(np.arange(52), 20),
        "price": rng.uniform(1, 3, 20 * 52),
        "promo": rng.integers(0, 2, 20 * 52).astype(float),
    }
)
slope = np.repeat(rng.uniform(-30, -5, 20), 52)
weeks["sales"] = 200 + slope * weeks["price"] + 15 * weeks["promo"] + rng.normal(0, 3, 20 * 52)

# [fit]
per_store = GroupedEstimator(
    GridSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=TimeSeriesSplit(n_splits=3)),
    group_cols="store",
    feature_cols=["price", "promo"],
    label_col="sales",
    fallback="global",  # a model of all stores, for stores without one
    unseen_groups="fallback",
)
per_store.fit(spark.createDataFrame(weeks))  # one Spark task fits many stores' searches

per_store.model_table_.select("store", "status", "best_params", "best_score").show(3)
new_week = pd.DataFrame({"store": [3, 99], "week": 52, "price": 2.0, "promo": 1.0})
print(per_store.predict(new_week))  # store 99 is new: the fallback predicts it
# [end]

# The same as a loop of scikit-learn fits, store by store:
rows = weeks[weeks.store == 3]
by_hand = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=TimeSeriesSplit(n_splits=3))
by_hand.fit(rows[["price", "promo"]], rows["sales"])
assert per_store.get_group_model(3).best_params_ == by_hand.best_params_
assert np.isclose(per_store.predict(new_week)[0], by_hand.predict(new_week[["price", "promo"]])[0])
