"""Benchmarks: each script runs the baselines and spark_sklearn_bridge side by side in one run."""
