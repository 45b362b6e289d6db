"""The strategy matrix: the unified content page through every loading strategy.

One benchmark per scenario x page size x strategy (x JSON loader), id ``canonical-p10-orm_scalars``;
each (scenario, page size) is one pytest-benchmark group. Every timed round is paired with a
``dbapi_fetchall`` execution; the summary after the tables gives the ratios.
"""

from __future__ import annotations

from collections.abc import Callable

from ormbench.measure.paired import Case


def test_page(bench_page: Callable[[Case], None], case: Case) -> None:
    """Load one page of one scenario through one strategy."""
    bench_page(case)
