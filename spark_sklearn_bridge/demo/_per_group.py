"""Step 1: one tuned model per country, with a fallback for the countries that have none."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..grouped import GroupedEstimator
from ._data import GROUP, NUMERIC, TARGET, forecast_split
from ._results import StepResult

MIN_ROWS = 6  # a country needs 6 training years for a model of its own


def per_country_search():
    """Each country's model: a Ridge whose alpha is tuned on that country's own history,
    with time-ordered splits (the rows of a group keep their input order)."""
    return GridSearchCV(
        make_pipeline(StandardScaler(), Ridge()),
        {"ridge__alpha": [0.01, 0.1, 1.0, 10.0]},
        cv=TimeSeriesSplit(n_splits=3),
        scoring="neg_mean_absolute_error",
    )


def global_model():
    """The fallback: one model of all countries' rows."""
    return HistGradientBoostingRegressor(max_iter=100, random_state=0)


def run(spark, frame: pd.DataFrame, tracking) -> StepResult:
    train, test, unseen, young = forecast_split(frame)
    model = GroupedEstimator(
        per_country_search(),
        group_cols=GROUP,
        feature_cols=NUMERIC,
        label_col=TARGET,
        min_rows=MIN_ROWS,
        fallback=global_model(),
        unseen_groups="fallback",
        spark=spark,
    )
    start = time.perf_counter()
    model.fit(spark.createDataFrame(train))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        scored = model.predict(spark.createDataFrame(test)).toPandas()
    seconds = time.perf_counter() - start
    fallback_note = "; ".join(str(w.message) for w in caught)

    table = model.model_table_.drop("model").toPandas()
    expected, sklearn_seconds, global_only = _by_hand(train, test)
    merged = test.merge(scored[[GROUP, "year", "prediction", "model_source"]], on=[GROUP, "year"])
    merged["by_hand"] = [expected[key] for key in zip(merged[GROUP], merged["year"])]
    difference = float(np.max(np.abs(merged["prediction"] - merged["by_hand"])))

    merged["abs_error"] = (merged["prediction"] - merged[TARGET]).abs()
    per_group = merged.groupby([GROUP, "model_source"], as_index=False)["abs_error"].mean()
    own = per_group[per_group["model_source"] == "group"]
    # The same countries scored by the global model alone: does a model per country pay?
    merged["global_error"] = (global_only.predict(merged[NUMERIC]) - merged[TARGET]).abs()
    global_per_group = merged.groupby(GROUP)["global_error"].mean()
    own_wins = int((own.set_index(GROUP)["abs_error"] < global_per_group[own[GROUP]]).sum())

    sources = merged["model_source"].value_counts().to_dict()
    counts = table["status"].value_counts().to_dict()
    mae = float(merged["abs_error"].mean())
    result = StepResult(
        step="per-group models (GroupedEstimator)",
        rows=len(train) + len(test),
        models=f"{model.n_groups_} groups + {len(unseen)} unseen",
        score=f"MAE {mae:.2f} years",
        seconds=seconds,
        sklearn_seconds=sklearn_seconds,
        agreement=f"max |prediction - by-hand loop| = {difference:.1e}",
        difference=difference,
        agrees=difference <= 1e-6 and len(merged) == len(test),  # every row scored
        metrics={
            "groups": model.n_groups_,
            "groups_ok": counts.get("ok", 0),
            "groups_too_few_rows": counts.get("too_few_rows", 0),
            "rows_scored_by_group_model": sources.get("group", 0),
            "rows_scored_by_fallback": sources.get("fallback", 0),
            "test_mae": mae,
            "own_model_beats_global_countries": own_wins,
            "max_abs_difference_vs_sklearn": difference,
        },
        details={
            "per_group_mae": own.set_index(GROUP)["abs_error"],
            "global_mae": global_per_group[own[GROUP]],
            "fallback_warning": fallback_note,
        },
    )
    with tracking.step_run("per-group models") as log:
        log(result)
        tracking.log_table(table.astype({"fitted_at": str}), "model_table.csv")
        tracking.log_table(_per_country_metrics(merged, table), "per_country_metrics.csv")
        example = test[[GROUP, *NUMERIC]].head(5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the example's fallback rows
            result.details["model_uri"] = model.log_to_mlflow(
                "grouped_model", input_example=example
            )
    return result


def _per_country_metrics(merged: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """One row per country of the test years: which model predicted it, its error and the
    global model's, and (for countries with a model) the tuned alpha and training rows."""
    metrics = merged.groupby(GROUP, as_index=False).agg(
        model_source=("model_source", "first"),
        test_mae=("abs_error", "mean"),
        global_model_mae=("global_error", "mean"),
    )
    fitted = table[[GROUP, "status", "n_rows", "best_params", "best_score"]]
    return metrics.merge(fitted, on=GROUP, how="left").fillna({"status": "unseen"})


def _by_hand(train: pd.DataFrame, test: pd.DataFrame):
    """The same models fitted and used by a plain loop over the countries: a dict
    (country, year) -> prediction, the loop's seconds, and its fallback (global) model."""
    start = time.perf_counter()
    models = {
        key: clone(per_country_search()).fit(rows[NUMERIC], rows[TARGET])
        for key, rows in train.groupby(GROUP, sort=False)
        if len(rows) >= MIN_ROWS
    }
    fallback = global_model().fit(train[NUMERIC], train[TARGET])
    predictions = {}
    for key, rows in test.groupby(GROUP, sort=False):
        values = models.get(key, fallback).predict(rows[NUMERIC])
        predictions.update(zip(((key, year) for year in rows["year"]), values))
    return predictions, time.perf_counter() - start, fallback
