"""Measuring a strategy: captured statements, paired timing statistics, deterministic counters."""
