"""What a run's figures depend on: library versions, recorded with every run."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from ormbench import __version__

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
