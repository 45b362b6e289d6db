"""Explain as a library: where one page's time went, and why (analysis), two strategies side
by side (compare), the text report and the --json document (render, schema).

``ormbench explain`` (ormbench/commands/explain.py) only parses, calls these and prints.
"""

from ormbench.explain.analysis import StrategyReport, analyze, subject
from ormbench.explain.compare import Comparison, compare, sql_diff
from ormbench.explain.render import document, phase_lines, render
from ormbench.explain.schema import SCHEMA_VERSION, explain_schema

__all__ = [
    "SCHEMA_VERSION",
    "Comparison",
    "StrategyReport",
    "analyze",
    "compare",
    "document",
    "explain_schema",
    "phase_lines",
    "render",
    "sql_diff",
    "subject",
]
