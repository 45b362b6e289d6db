"""Benchmark wiring: the matrix's cases (fixtures/matrix.py), for benchmarks/ only."""

from fixtures.matrix import case, pytest_configure, pytest_generate_tests

__all__ = ["case", "pytest_configure", "pytest_generate_tests"]
