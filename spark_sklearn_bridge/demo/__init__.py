"""The project's main job: a realistic workload over all four paradigms, end to end.

``python -m spark_sklearn_bridge demo`` (``make demo``) runs it on Gapminder (shipped with
``plotly``, the ``demo`` extra): one tuned model per country with a fallback, a Pipeline tuned
by grid, successive-halving and TPE searches, a million rows scored in batch, and a
data-parallel fit, each compared with scikit-learn on the same data. Every step is tracked in
MLflow (a sqlite store under the output directory by default) and drawn in
``report/report.html``.
"""

from ._cli import main
from ._results import StepResult
from ._workload import run_demo

__all__ = ["StepResult", "main", "run_demo"]
