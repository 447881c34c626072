"""Benchmarks: `python -m bench [GROUP ...] [--write]` from the repository root."""
