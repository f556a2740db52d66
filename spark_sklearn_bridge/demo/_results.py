"""What each demo step returns: one row of the summary table plus the details its plots need."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StepResult:
    """One step of the demo, as the summary table, MLflow and the report show it.

    ``seconds`` is the Spark side; ``sklearn_seconds`` the same work done by plain
    scikit-learn in this process; ``agreement`` says how the two results compare (e.g. the
    largest prediction difference), ``agrees`` whether that is within the step's tolerance.
    """

    step: str
    rows: int
    models: str  # "142 groups", "48 candidates", "1 model"
    score: str  # the step's headline metric, with its name
    seconds: float
    sklearn_seconds: float | None
    agreement: str
    agrees: bool
    difference: float | None = None  # the number ``agreement`` describes
    metrics: dict = field(default_factory=dict)  # logged to MLflow
    details: dict = field(default_factory=dict)  # the report's plot data, model URIs


#: The summary's columns before the agreement, which each table words its own way.
SUMMARY_COLUMNS = ["step", "rows", "groups/candidates", "score", "Spark s", "sklearn s"]


def summary_cells(result: StepResult) -> list[str]:
    """One result's cells under :data:`SUMMARY_COLUMNS`, as the tables print them."""
    sklearn = "-" if result.sklearn_seconds is None else f"{result.sklearn_seconds:.1f}"
    return [
        result.step,
        f"{result.rows:,}",
        result.models,
        result.score,
        f"{result.seconds:.1f}",
        sklearn,
    ]


def format_table(results: list[StepResult]) -> str:
    """The summary table, as plain text."""
    header = [*SUMMARY_COLUMNS, "agrees"]
    rows = [[*summary_cells(r), ("yes: " if r.agrees else "NO: ") + r.agreement] for r in results]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)) for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
