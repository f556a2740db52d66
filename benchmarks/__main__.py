"""Run every benchmark in turn: ``python -m benchmarks`` (``make bench``)."""

import importlib
import sys

MODULES = [
    "bench_grouped",
    "bench_grouped_scale",
    "bench_batch_predict",
    "bench_search",
    "bench_joblib",
    "bench_text",
    "bench_scale",
    "bench_spark_ml",
]

for name in MODULES:
    print(f"\n=== {name}")
    importlib.import_module(f"benchmarks.{name}").main(sys.argv[1:])
