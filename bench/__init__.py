"""Benchmarks: each `bench/bench_*.py` has `run(quick: bool) -> dict` comparing against a baseline measured in
the same run and reporting a ratio (speed goals live here, never in timed tests)."""
