"""Timing and reporting helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results")


def timed(fn, *args, **kwargs):
    """Run ``fn`` once; return ``(seconds, result)``."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


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
