"""An example user strategy: register your own way of loading the page.

Load it with any of:

* ``pytest --strategies-from my_strategy`` (or ``ORMBENCH_STRATEGIES_FROM=my_strategy``),
  with this directory on ``sys.path`` (e.g. ``PYTHONPATH=examples``);
* ``load_strategy_modules(["my_strategy"])`` from code;
* an entry point in your package's ``pyproject.toml``::

      [project.entry-points."ormbench.strategies"]
      orm_bundle = "my_strategy:orm_bundle"   # one function, named by the entry point
      mine = "my_strategy"                    # or a module whose @register functions count

Rules every strategy follows, so that its figures compare with the built-in ones:

* the docstring's first line is the label shown in tables;
* send the request's statement (``ormbench.query.build``), not a hand-tuned variant, unless
  the variant is the point; then say so in the label;
* consume every column of every row it loads, and return a ``Page`` whose ``columns`` name
  exactly the fields it loaded: the correctness tests hold it to those against the oracle.
"""

from __future__ import annotations

from sqlalchemy.orm import Bundle

from ormbench.data.models import LIST_COLUMNS, ContentItem
from ormbench.query.build import page_select, total_select
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import StrategyContext, register


@register
def orm_bundle(ctx: StrategyContext, req: ContentRequest) -> Page:
    """ORM select(Bundle(list columns)) -> one tuple-like bundle per row"""
    bundle = Bundle("item", *(getattr(ContentItem, c) for c in LIST_COLUMNS))
    with ctx.session_factory() as session:
        result = session.execute(page_select(req, bundle))
        if req.with_username:
            rows = tuple((*item, username) for item, username in result)
        else:
            rows = tuple(tuple(item) for (item,) in result)
        total = session.execute(total_select(req)).scalar_one() if req.with_total else None
    return Page(req.columns, rows, total)
