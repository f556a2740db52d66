"""The demo's report: ``report.html`` and its PNG plots, rendered with matplotlib."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from ._results import SUMMARY_COLUMNS, summary_cells

PLOTS = {
    "per_group_mae.png": "Per-country forecast error",
    "search_curves.png": "Search: best score vs evaluations",
    "scoring_throughput.png": "Batch scoring throughput",
    "agreement.png": "Spark vs scikit-learn agreement",
}


def write_report(directory: Path, results: list, context: dict) -> Path:
    """Render the plots and ``report.html`` into ``directory``; return the HTML path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    by_step = {r.step.split(" (")[0]: r for r in results}
    painters = {
        "per_group_mae.png": lambda ax: _per_group(ax, by_step["per-group models"]),
        "search_curves.png": lambda ax: _search(ax, by_step),
        "scoring_throughput.png": lambda ax: _throughput(ax, by_step["batch scoring"]),
        "agreement.png": lambda ax: _agreement(ax, results),
    }
    captions = {}
    for name, paint in painters.items():
        figure, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
        captions[name] = paint(ax)
        ax.set_title(PLOTS[name])
        figure.savefig(directory / name, dpi=110)
        plt.close(figure)
    path = directory / "report.html"
    path.write_text(_html(results, context, captions), encoding="utf-8")
    return path


def _per_group(ax, result) -> str:
    own = result.details["per_group_mae"]
    global_mae = result.details["global_mae"]
    bins = np.linspace(0, max(own.max(), global_mae.max()) * 1.02, 30)
    ax.hist(global_mae, bins=bins, alpha=0.55, label="one global model", color="tab:gray")
    ax.hist(own, bins=bins, alpha=0.75, label="each country's tuned model", color="tab:blue")
    ax.set_xlabel("mean absolute error on 2002 and 2007 (years of life expectancy)")
    ax.set_ylabel("countries")
    ax.legend()
    wins = result.metrics["own_model_beats_global_countries"]
    return (
        f"{len(own)} countries with a model of their own: it beats the global model for "
        f"{wins} of them (median error {own.median():.2f} vs {global_mae.median():.2f} years). "
        f"{result.metrics['rows_scored_by_fallback']} rows of unseen or too-young countries "
        f"were predicted by the fallback model. {result.details['fallback_warning']}"
    )


def _search(ax, by_step) -> str:
    curves = by_step["TPE search"].details["curves"]
    for algo, style in (
        ("random", {"color": "tab:gray", "ls": "--", "lw": 3}),
        ("tpe", {"color": "tab:blue", "lw": 2}),
    ):
        values = curves[algo]
        ax.step(
            np.arange(1, len(values) + 1),
            values,
            where="post",
            label={"tpe": "TPE", "random": "random"}[algo],
            **style,
        )
    grid = by_step["grid search"]
    ax.axhline(
        grid.metrics["best_mae"], color="tab:orange", ls="--", label=f"grid's best ({grid.models})"
    )
    ax.set_xlabel("evaluations (candidates)")
    ax.set_ylabel("best cross-validated MAE so far (years)")
    ax.legend()
    return (
        f"Best mean absolute error after each evaluation: TPE ends at {curves['tpe'][-1]:.3f}, "
        f"random search at {curves['random'][-1]:.3f}, the grid at "
        f"{grid.metrics['best_mae']:.3f} years."
    )


def _throughput(ax, result) -> str:
    rates = result.details["rates"]
    names = list(rates)
    ax.barh(names, [rates[n] for n in names], color=["tab:gray", "tab:blue", "tab:orange"])
    for i, name in enumerate(names):
        ax.text(rates[name], i, f" {rates[name]:,.0f}", va="center")
    ax.xaxis.set_major_formatter(lambda value, _: f"{value / 1000:,.0f}k")
    ax.set_xlabel(f"rows per second ({result.rows:,} rows)")
    ax.set_xlim(0, max(rates.values()) * 1.3)
    ax.invert_yaxis()
    return (
        f"{result.rows:,} rows scored by the best Pipeline: "
        f"{rates['SparkBatchPredictor']:,.0f} rows/s on Spark, "
        f"{rates['scikit-learn predict, one process']:,.0f} rows/s by predict in one process."
    )


def _agreement(ax, results) -> str:
    floor = 1e-17  # identical results are drawn at the bottom of the log axis
    compared = [r for r in results if r.difference is not None]
    ax.barh(
        [r.step.split(" (")[0] for r in compared],
        [max(r.difference, floor) for r in compared],
        color=["tab:green" if r.agrees else "tab:red" for r in compared],
    )
    for i, r in enumerate(compared):
        text = "identical" if r.difference == 0 else f"{r.difference:.0e}"
        ax.text(max(r.difference, floor), i, f" {text}", va="center")
    ax.set_xscale("log")
    ax.set_xlim(floor / 10, 1)
    ax.set_xlabel("largest difference from scikit-learn (log scale; 1e-17 = identical)")
    ax.invert_yaxis()
    return "; ".join(f"{r.step}: {r.agreement}" for r in results) + "."


def _html(results, context, captions) -> str:
    e = html.escape
    head = [*SUMMARY_COLUMNS[:-1], "scikit-learn s", "agreement"]
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{e(c)}</td>"
            for c in (*summary_cells(r), ("" if r.agrees else "DIFFERS: ") + r.agreement)
        )
        + "</tr>"
        for r in results
    )
    figures = "".join(
        f'<figure><img src="{name}" alt="{e(title)}"><figcaption>{e(captions[name])}'
        "</figcaption></figure>"
        for name, title in PLOTS.items()
    )
    setup = "".join(f"<li>{e(k)}: {e(str(v))}</li>" for k, v in context.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spark_sklearn_bridge demo</title>
<style>
body {{ font-family: sans-serif; max-width: 62rem; margin: 2rem auto; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .3rem .5rem; }}
th {{ background: #f3f3f3; }} figure {{ margin: 2rem 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>spark_sklearn_bridge demo</h1>
<p>Gapminder (life expectancy of 142 countries, 1952-2007), scaled as below.</p>
<ul>{setup}</ul>
<table><tr>{"".join(f"<th>{e(h)}</th>" for h in head)}</tr>{rows}</table>
{figures}
</body></html>
"""
