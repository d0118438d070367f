"""Benchmarks. Run ``python -m bench NAME [--quick] [--json]`` from the repository root."""
