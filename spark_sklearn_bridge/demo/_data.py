"""The demo's data: Gapminder (life expectancy, GDP and population of 142 countries, 1952-2007)
as shipped inside ``plotly`` (no download), and generators that scale it up.

The per-country task is a forecast: each country's model is fitted on 1952-1997 and scored on
2002 and 2007. Two kinds of countries exercise the fallback model: a few are left out of the
training data entirely (unseen at predict time), a few keep only their last years of history
(too few rows for a model of their own).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Feature columns of every step, the target, and the group column of the per-country step.
NUMERIC = ["year", "log_gdp", "log_pop"]
TARGET = "lifeExp"
GROUP = "country"
LAST_TRAIN_YEAR = 1997


def load_gapminder() -> pd.DataFrame:
    """Gapminder's 1,704 country-years with the log features; sorted by country, then year."""
    try:
        from plotly.data import gapminder
    except ImportError as error:  # pragma: no cover - the `demo` extra installs plotly
        raise ImportError(
            "The demo's data set ships with plotly: pip install 'spark-sklearn-bridge[demo]'"
        ) from error
    frame = gapminder()[["country", "continent", "year", "lifeExp", "pop", "gdpPercap"]]
    return (
        frame.assign(
            country=frame["country"].astype(str),
            continent=frame["continent"].astype(str),
            year=frame["year"].astype(np.int64),
            log_gdp=np.log10(frame["gdpPercap"]),
            log_pop=np.log10(frame["pop"]),
        )
        .drop(columns=["pop", "gdpPercap"])
        .sort_values(["country", "year"], ignore_index=True)
    )


def scale_up(frame: pd.DataFrame, scale: int, seed: int = 0) -> pd.DataFrame:
    """``scale`` copies of every country: copy k > 0 is ``"<country> #k"`` with its GDP,
    population and life expectancy perturbed (a realistic, larger set of groups)."""
    if scale == 1:
        return frame
    rng = np.random.default_rng(seed)
    copies = [frame]
    for k in range(1, scale):
        n_countries = frame[GROUP].nunique()
        shift = rng.normal(0.0, 0.1, n_countries)[frame.groupby(GROUP).ngroup()]
        copies.append(
            frame.assign(
                country=frame[GROUP] + f" #{k}",
                log_gdp=frame["log_gdp"] + shift + rng.normal(0.0, 0.02, len(frame)),
                log_pop=frame["log_pop"] + rng.normal(0.0, 0.02, len(frame)),
                lifeExp=frame[TARGET] + 5 * shift + rng.normal(0.0, 0.3, len(frame)),
            )
        )
    return pd.concat(copies, ignore_index=True)


def forecast_split(frame: pd.DataFrame, seed: int = 0, n_unseen: int = 8, n_young: int = 5):
    """Train (up to 1997) and test (2002, 2007) rows of the per-country forecast.

    ``n_unseen`` countries (per 142) have no training rows; ``n_young`` keep only their last
    four training years. Returns ``(train, test, unseen, young)``.
    """
    rng = np.random.default_rng(seed)
    countries = frame[GROUP].unique()
    scale = max(1, len(countries) // 142)
    picked = rng.choice(countries, size=(n_unseen + n_young) * scale, replace=False)
    unseen, young = picked[: n_unseen * scale], picked[n_unseen * scale :]
    past = frame[frame["year"] <= LAST_TRAIN_YEAR]
    train = past[~past[GROUP].isin(unseen) & (~past[GROUP].isin(young) | (past["year"] >= 1982))]
    test = frame[frame["year"] > LAST_TRAIN_YEAR]
    return train.reset_index(drop=True), test.reset_index(drop=True), set(unseen), set(young)


def scoring_rows(spark, frame: pd.DataFrame, n_rows: int, seed: int = 0):
    """A Spark DataFrame of ``n_rows`` new country-years (``id``, ``continent``, the numeric
    features and ``lifeExp``): Gapminder's rows repeated with noise, generated on the
    executors (cache it: the noise is drawn anew by each computation)."""
    from pyspark.sql import functions as F

    base = spark.createDataFrame(
        frame[["continent", *NUMERIC, TARGET]]
        .reset_index(names="base")
        .astype({"year": "float64"})
    )
    n_base = len(frame)
    rows = (
        spark.range(n_rows)
        .withColumn("base", (F.col("id") % n_base).cast("long"))
        .join(F.broadcast(base), "base")
        .select(
            "id",
            "continent",
            (F.col("year") + F.floor(F.rand(seed) * 5)).alias("year"),
            (F.col("log_gdp") + F.randn(seed + 1) * 0.05).alias("log_gdp"),
            (F.col("log_pop") + F.randn(seed + 2) * 0.05).alias("log_pop"),
            (F.col(TARGET) + F.randn(seed + 3) * 0.5).alias(TARGET),
        )
    )
    return rows
