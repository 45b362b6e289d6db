"""Settle: a fixed idle before every timed execution, so no timing depends on its neighbours.

How fast a 10-row page runs depends on how long ago the same code last ran. On the 2-core
machine the floor (``dbapi_fetchall``, no_tag p10) is 19% slower 1 ms after its previous run,
42% after 3 ms, 53% after 10 ms, and no slower after 30 ms; ``json.loads`` of that page
follows the same curve to +190% (``python benchmarks/figures/settle.py``). Back to back, a
strategy that got slower left the floor next to it colder, which hid part of its regression
from the paired ratio, and every ratio depended on the order of its neighbours. After a fixed
idle past that curve's knee, every timed execution starts from the same cold state, the state
of an endpoint that is not called in a tight loop.
"""

from __future__ import annotations

import time

# Seconds of idle before each timed execution (the ``settle_ms`` setting; 0 turns it off).
SETTLE_S = 0.010


def settle(seconds: float) -> None:
    """Idle before a timed execution: sleep, so that the other process (the server, the other
    side of a gate) gets the core instead of competing with a busy loop."""
    if seconds > 0:
        time.sleep(seconds)
