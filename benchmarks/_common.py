"""Timing and reporting helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results")


def timed(fn, *args, repeat: int = 1, **kwargs):
    """Run ``fn`` ``repeat`` times; return ``(best seconds, last result)``.

    The best of a few runs (as ``timeit`` reports) is the least noisy figure on a shared
    2-core machine, where one run can vary by 30 %.
    """
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def report(name: str, rows: list[dict], notes: str = "") -> None:
    """Print a table of ``rows`` and save it as JSON under ``benchmarks/results``."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"rows": rows, "notes": notes}, indent=1))
    keys = list(rows[0])
    widths = [max(len(k), *(len(_fmt(r[k])) for r in rows)) for k in keys]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
    for row in rows:
        print("  ".join(_fmt(row[k]).ljust(w) for k, w in zip(keys, widths)))
    if notes:
        print(notes)


def _fmt(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
