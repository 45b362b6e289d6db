"""Loading strategies: one small function each, registered by name, docstring as label.

A strategy is ``fn(ctx: StrategyContext, req: ContentRequest) -> Page``. It sends the request's
statement its own way, consumes every column of every row it loads, and returns the page in
the one comparable shape (``ormbench.query.spec.Page``). ``STRATEGIES`` holds them in order,
most ORM first; the built-in ones come from ``ormbench.strategies.builtin``.

Users add their own three ways (see ``examples/my_strategy.py``):

* decorate a function with ``@register`` in a module ormbench imports:
  ``load_strategy_modules(["mypkg.mystrats"])`` (the ``--strategies-from`` option);
* name one function: ``load_strategy_modules(["mypkg.mystrats:my_fn"])``;
* declare an entry point in group ``ormbench.strategies`` (a module or a function);
  ``load_entry_points()`` loads them all.
"""

from __future__ import annotations

# Importing them registers the built-in strategies, then the fast paths.
from ormbench.strategies import builtin as _builtin
from ormbench.strategies import fast as _fast
from ormbench.strategies.registry import (
    ENTRY_POINT_GROUP,
    STRATEGIES,
    Strategy,
    StrategyContext,
    get_strategy,
    label,
    load_entry_points,
    load_strategy_modules,
    register,
)

# Built-in names in registration order (most ORM first), whatever users register later.
BUILTIN_STRATEGIES: tuple[str, ...] = tuple(
    name for name, fn in STRATEGIES.items() if fn.__module__ == _builtin.__name__
)

# The fast paths (ormbench.strategies.fast), registered after the built-in ones.
FAST_STRATEGIES: tuple[str, ...] = _fast.FAST_STRATEGIES

__all__ = [
    "BUILTIN_STRATEGIES",
    "ENTRY_POINT_GROUP",
    "FAST_STRATEGIES",
    "STRATEGIES",
    "Strategy",
    "StrategyContext",
    "get_strategy",
    "label",
    "load_entry_points",
    "load_strategy_modules",
    "register",
]
