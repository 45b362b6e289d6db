"""What a run's figures depend on: library versions and the measurement protocol."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ormbench import __version__

# How each timed execution is measured, numbered: bump it in the commit that changes the
# harness so that unchanged code reads other ratios, and say why here. The gate gives no
# timing verdict across two versions (docs/gate.md, "Measurement protocol").
#   1  paired rounds back to back (no settle): runs before cfd96e1;
#   2  every timed execution (strategy and floor) after settle_ms of idle, the round budget
#      as wall time, settles included (cfd96e1);
#   3  the floor's page freed after its clock stops, as the target's is (3b9172b: ratios
#      1-4% higher than version 2 on the same code).
#   4  each timed execution also reads the CPU clock (ormbench.measure.cpu) just outside its
#      wall clock, and benchmarks record cpu_ratio_samples: the gate judges CPU ratios where
#      both sides have them, so a version 3 run is not judged against a version 4 one.
PROTOCOL_VERSION = 4
# Distributions whose versions change the figures.
TRACKED = ("SQLAlchemy", "psycopg", "psycopg-binary", "pytest-benchmark", "orjson", "factory-boy")


def versions() -> dict[str, str]:
    """Python, ormbench and every tracked library's version."""
    out = {"python": platform.python_version(), "ormbench": __version__}
    for dist in TRACKED:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "absent"
    return out


def protocol(
    *, settle_ms: float, round_budget: float, min_rounds: int, turns: bool
) -> dict[str, Any]:
    """The measurement protocol of a run, as saved in ``machine_info["ormbench"]["protocol"]``."""
    return {
        "version": PROTOCOL_VERSION,
        "harness": f"ormbench {__version__}, protocol {PROTOCOL_VERSION}",
        "settle_ms": float(settle_ms),
        "round_budget": float(round_budget),
        "min_rounds": int(min_rounds),
        "turns": bool(turns),
    }
