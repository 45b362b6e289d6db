"""Planted: JSON decoding in the code under test costs about twice as much; the floor's does not.

What "a slower JSON decoder" must mean for a gate that measures ratios to the bare driver:
the JSON loader is a property of the psycopg *connection*, shared by every strategy and by
the ``dbapi_fetchall`` floor (ormbench.jsonload). Slowing it there adds the same absolute
cost ``X`` to a strategy's round and to its paired floor round, so a ratio ``S/F`` becomes
``(S+X)/(F+X)``: it *falls* towards 1 for every strategy slower than the floor. A shared
slowdown is not the ORM's cost, and the gate reports it as the floor's absolute shift
("shared cost moved", informational), not as a regression of any strategy.

The regression a ratio gate must catch is JSON decoding that the code under test adds or
slows on its own path - a TypeDecorator's ``process_result_value``, a result processor, a
validation step - while the bare driver decodes as before. That is what this plant does:
every strategy but the floor decodes with a decoder whose objects and numbers go through
hooks (``functools.partial`` of ``dict``, ``int`` and ``float``: same values and types, about
2x the decoding time), swapped in for the duration of the strategy's call. The hooks are C
callables called by the C scanner, so cProfile counts no extra call and the near-deterministic
tier stays quiet: the verdict comes from the timing tier. Strategies that load no JSON column
(``orm_defer_json``, ``orm_load_only``) and the floor are unaffected; those that decode JSON
are flagged.
"""

from __future__ import annotations

import functools
import json

from ormbench.gate.plants import replace_strategy
from ormbench.measure.paired import FLOOR
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import STRATEGIES, Strategy, StrategyContext

# Same values, same types as json.loads; every object and number through a C-level hook
# (a partial is not the exact type the scanner's fast paths test for), so about 2x slower.
SLOW_DECODER = json.JSONDecoder(
    object_pairs_hook=functools.partial(dict),
    parse_int=functools.partial(int),
    parse_float=functools.partial(float),
)
STOCK_DECODER = json._default_decoder  # type: ignore[attr-defined]


def _slow_json(strategy: Strategy) -> Strategy:
    @functools.wraps(strategy)
    def planted(ctx: StrategyContext, req: ContentRequest) -> Page:
        # json.loads() looks its default decoder up on every call; psycopg calls json.loads.
        json._default_decoder = SLOW_DECODER  # type: ignore[attr-defined]
        try:
            return strategy(ctx, req)
        finally:
            json._default_decoder = STOCK_DECODER  # type: ignore[attr-defined]

    return planted


for _name, _strategy in list(STRATEGIES.items()):
    # The floor keeps the stock decoder: it is the bare driver the ratios are measured against.
    if _name != FLOOR:
        replace_strategy(_name, _slow_json(_strategy))
