"""Planted regressions: small modules that make the head run worse in one known way.

Each is loaded into a benchmark run like any user strategy module (``--strategies-from``,
``ORMBENCH_STRATEGIES_FROM``), before any engine exists, and changes one thing; the gate must
then fail on the right tier, naming the right benchmarks (tests/test_gate_planted.py).

=====================================  ==========================================  ==========
module                                 what it plants                              tier
=====================================  ==========================================  ==========
``ormbench.gate.plants.lazy_load``     ``orm_scalars`` touches ``item.tags``:      exact
                                       one lazy SELECT per row (N+1)
``ormbench.gate.plants.no_index``      every connection plans without index and    exact
                                       bitmap scans (an index made unusable)       (plan)
``ormbench.gate.plants.slow_json``     JSON decoding in the code under test        timing
                                       costs about twice as much; the floor's not
``ormbench.gate.plants.cpu``           ``ORMBENCH_PLANT_STRATEGY`` (orm_scalars)   timing
                                       spends ``ORMBENCH_PLANT_COST`` (0.25) more
                                       CPU time, <1% more Python calls
=====================================  ==========================================  ==========

Planted strategies replace the registered ones in ``STRATEGIES`` under the same name and
label, so benchmark ids do not change and the gate compares like with like.
"""

from __future__ import annotations

import os

from ormbench.errors import ConfigError
from ormbench.strategies import STRATEGIES, Strategy

# Strategy the cpu and lazy_load plants change unless ORMBENCH_PLANT_STRATEGY says otherwise.
DEFAULT_PLANT_STRATEGY = "orm_scalars"
STRATEGY_ENV = "ORMBENCH_PLANT_STRATEGY"
COST_ENV = "ORMBENCH_PLANT_COST"


def planted_strategy() -> str:
    """The strategy a plant targets: ``$ORMBENCH_PLANT_STRATEGY`` or orm_scalars."""
    name = os.environ.get(STRATEGY_ENV, DEFAULT_PLANT_STRATEGY)
    if name not in STRATEGIES:
        raise ConfigError(
            f"{STRATEGY_ENV}={name!r} is not a registered strategy; known: {', '.join(STRATEGIES)}"
        )
    return name


def replace_strategy(name: str, planted: Strategy) -> None:
    """Put ``planted`` where strategy ``name`` was (same id, same label)."""
    STRATEGIES[name] = planted


__all__ = [
    "COST_ENV",
    "DEFAULT_PLANT_STRATEGY",
    "STRATEGY_ENV",
    "planted_strategy",
    "replace_strategy",
]
