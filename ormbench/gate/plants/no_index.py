"""Planted: an index made unusable - every connection plans without index or bitmap scans.

The same as dropping the indexes the page query relies on, without touching the dataset:
each new DBAPI connection starts with ``enable_indexscan``, ``enable_indexonlyscan`` and
``enable_bitmapscan`` off (libpq ``options``), for the strategies, the floor and the plan
shapes alike. The server's recorded settings are untouched (they are read on a connection
of their own), so base and head stay comparable and the gate's exact tier reports the
changed plan shape, with the diff naming the scan that replaced the index scan.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

# Planner switches turned off on every connection of the run.
DISABLED = ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan")


@event.listens_for(Engine, "do_connect")
def _without_indexes(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
    extra = " ".join(f"-c {name}=off" for name in DISABLED)
    cparams["options"] = f"{cparams.get('options', '')} {extra}".strip()
