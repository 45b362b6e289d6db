"""What explain knows about one strategy on one request, gathered on executions of its own.

Every measurement is its own execution: capture, plan-mode probe, cProfile count and
tracemalloc peak each run the strategy once more, and no timed execution carries any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ormbench.measure.capture import Statement, capture
from ormbench.measure.counters import call_count, peak_memory
from ormbench.measure.phases import PhaseTable, measure_phases
from ormbench.measure.plans import PlanMode, PlanNode, plan_shapes, probe_plan_modes, seq_scans
from ormbench.query.spec import ContentRequest, Page
from ormbench.strategies import Strategy, StrategyContext, get_strategy, label
from ormbench.workspace import Workspace

# Untimed executions before the capture, so it records a warm execution's statements.
WARMUP = 2


@dataclass
class StrategyReport:
    """Everything explain knows about one strategy on one request."""

    strategy: str
    label: str
    page: Page
    statements: list[Statement]
    shapes: list[PlanNode]
    modes: list[PlanMode]
    calls: int
    peak_bytes: int
    warm: PhaseTable
    cold: PhaseTable | None

    @property
    def verdict(self) -> str:
        return self.warm.verdict()

    def as_dict(self) -> dict[str, Any]:
        statements = []
        for i, statement in enumerate(self.statements):
            shape = self.shapes[i]
            mode = self.modes[i] if i < len(self.modes) else PlanMode("unknown", False, "")
            statements.append(
                {
                    **statement.as_dict(),
                    "plan": shape.as_dict(),
                    "plan_mode": mode.as_dict(),
                    "seq_scans": seq_scans(shape),
                }
            )
        return {
            "strategy": self.strategy,
            "label": self.label,
            "statements": statements,
            "counters": {
                "statements": len(self.statements),
                "rows_fetched": sum(s.rows_fetched for s in self.statements),
                "rows_returned": len(self.page),
                "python_calls": self.calls,
                "peak_bytes": self.peak_bytes,
            },
            "phases": {
                "warm": self.warm.as_dict(),
                "cold": self.cold.as_dict() if self.cold else None,
            },
            "verdict": self.verdict,
        }


def analyze(
    ws: Workspace,
    strategy: Strategy | str,
    req: ContentRequest,
    *,
    loader: str = "json",
    cold: bool = False,
    repeats: int | None = None,
) -> StrategyReport:
    """Capture, plan, probe, count and attribute one strategy (a name or a function)."""
    fn = get_strategy(strategy) if isinstance(strategy, str) else strategy
    name = strategy if isinstance(strategy, str) else fn.__name__
    engine = ws.engine_for(loader)
    try:
        ctx = StrategyContext(engine)
        for _ in range(WARMUP):
            fn(ctx, req)
        with capture(engine) as captured:
            page = fn(ctx, req)
        statements = list(captured.statements)
        shapes = plan_shapes(engine, statements)
        modes = probe_plan_modes(engine, lambda: fn(ctx, req))
        calls = call_count(lambda: fn(ctx, req))
        peak = peak_memory(lambda: fn(ctx, req))
    finally:
        engine.dispose()
    common = {"loader": loader, "repeats": repeats, "statements": statements}
    warm = measure_phases(ws.server, ws.schema, fn, req, **common)
    cold_table = (
        measure_phases(ws.server, ws.schema, fn, req, cold=True, **common) if cold else None
    )
    return StrategyReport(
        name, label(fn), page, statements, shapes, modes, calls, peak, warm, cold_table
    )


__all__ = ["WARMUP", "StrategyReport", "analyze"]
