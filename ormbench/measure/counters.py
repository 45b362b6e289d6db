"""Deterministic counters of one warm execution: Python calls (cProfile) and peak memory."""

from __future__ import annotations

import cProfile
import gc
import pstats
import tracemalloc
from collections.abc import Callable
from typing import Any


def call_count(fn: Callable[[], Any]) -> int:
    """Python function calls made by one execution of ``fn`` (run it once before, warm)."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        fn()
    finally:
        profiler.disable()
    return pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]


def peak_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes Python allocated during one execution of ``fn`` (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak
