"""Plain-text tables for the terminal: the summary's ratio tables and the recommendation."""

from __future__ import annotations


def text_table(rows: list[list[str]]) -> str:
    """``rows`` (the first one is the header) as left-aligned columns under a rule of dashes."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
