"""The measurement protocol of a saved run: recorded by the plugin, or inferred for older runs.

A protocol is how each timed execution was measured (``ormbench.runinfo.PROTOCOL_VERSION``:
back to back, settled, the floor's page freed after its clock) and the options that shape the
rounds: ``settle_ms``, the round budget, the minimum rounds, and whether base and head took
turns round by round. A change of protocol moves every ratio on unchanged code (the settle
made orm_scalars on canonical p10 read 1.70 instead of 1.84), so the gate never reads a
difference across protocols as a regression or an improvement: its timing tier gives no
verdict and says why.

Runs saved before the protocol was recorded are inferred from what they did record:

* no ``settle_ms`` in any benchmark: before cfd96e1, back to back - protocol 1, settle 0;
* ``settle_ms`` but no protocol: cfd96e1 to this recording - protocol 2 or 3 (3b9172b freed
  the floor's page after its clock without a marker), so its version is unknown.

The round budget, minimum rounds and turn-taking were not recorded before; they shape how
many rounds a benchmark gets (its noise), not what a round measures, so they are compared
only when both runs recorded them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ormbench.errors import UnusableInputError

if TYPE_CHECKING:
    from ormbench.gate.config import RunPolicy
    from ormbench.gate.runs import Run

# The version of runs that recorded no settle_ms: paired rounds back to back.
PRE_SETTLE_VERSION = 1
# Options compared only when both runs recorded them (older runs did not).
ROUND_OPTIONS = ("round_budget", "min_rounds", "turns")


@dataclass(frozen=True)
class Protocol:
    """One run's protocol; ``None`` where it was not recorded and cannot be inferred."""

    version: int | None
    settle_ms: float | None
    round_budget: float | None = None
    min_rounds: int | None = None
    turns: bool | None = None
    harness: str = ""
    inferred: str = ""  # how an unrecorded protocol was inferred ("" when recorded)

    def describe(self) -> str:
        """One line: what the report shows for a side."""
        version = "?" if self.version is None else str(self.version)
        parts = [f"protocol {version}"]
        if self.settle_ms is not None:
            parts.append(f"settle {self.settle_ms:g} ms" if self.settle_ms else "back to back")
        if self.round_budget is not None:
            parts.append(f"{self.round_budget:g} s of rounds")
        if self.min_rounds is not None:
            parts.append(f"≥{self.min_rounds} rounds")
        if self.turns is not None:
            parts.append("turns with the other side" if self.turns else "no turns")
        text = ", ".join(parts)
        return f"{text} (inferred: {self.inferred})" if self.inferred else text


def of_run(run: Run) -> Protocol:
    """The recorded protocol of ``run``, else the one inferred from its benchmarks."""
    raw = run.ormbench.get("protocol")
    if raw is not None:
        return _recorded(run, raw)
    settles = {b.extra.get("settle_ms") for b in run.benchmarks.values()} - {None}
    if not settles:
        return Protocol(
            PRE_SETTLE_VERSION, 0.0, inferred="no settle_ms recorded: before cfd96e1, back to back"
        )
    settle = _settle(run, settles)
    return Protocol(
        None,
        settle,
        inferred="settle_ms recorded, protocol not: protocol 2 or 3 (cfd96e1 to 3b9172b and after)",
    )


def _settle(run: Run, settles: set[Any]) -> float:
    if len(settles) > 1 or not all(_is_number(s) for s in settles):
        shown = ", ".join(sorted(map(str, settles)))
        raise UnusableInputError(
            f"{run.paths[0]}: benchmarks disagree on settle_ms ({shown}); one run has one "
            "settle, so it was edited or merged by hand: rerun it"
        )
    return float(next(iter(settles)))


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _recorded(run: Run, raw: Any) -> Protocol:
    where = f"{run.paths[0]}: machine_info.ormbench.protocol"
    if not isinstance(raw, Mapping):
        raise UnusableInputError(f"{where} is not an object; rerun with ormbench's plugin")
    kinds = {
        "version": int,
        "settle_ms": float,
        "round_budget": float,
        "min_rounds": int,
        "turns": bool,
    }
    values: dict[str, Any] = {}
    for key, kind in kinds.items():
        value = raw.get(key)
        ok = isinstance(value, bool) if kind is bool else _is_number(value)
        if not ok or (kind is int and int(value) != value):
            raise UnusableInputError(
                f"{where}.{key} is {value!r:.40}, not a {kind.__name__}; rerun with ormbench's "
                "plugin"
            )
        values[key] = kind(value)
    return Protocol(**values, harness=str(raw.get("harness") or ""))


# Options a further look changes on purpose (more rounds of the undecided benchmarks): runs
# of one side may differ in them, and are pooled.
LOOK_OPTIONS = ("round_budget", "min_rounds")


def differences(base: Protocol, head: Protocol, *, looks: bool = False) -> list[str]:
    """Plain reasons why base and head were not measured under one protocol (none: same).

    ``looks``: the two are runs of one side, where ``LOOK_OPTIONS`` may differ."""
    out: list[str] = []
    if base.version != head.version:
        out.append(f"protocol {_version(base)} != {_version(head)}")
    settles = base.settle_ms, head.settle_ms
    if None not in settles and settles[0] != settles[1]:
        out.append(f"settle_ms {base.settle_ms:g} != {head.settle_ms:g}")
    for key in ROUND_OPTIONS:
        if looks and key in LOOK_OPTIONS:
            continue
        a, b = getattr(base, key), getattr(head, key)
        if a is not None and b is not None and a != b:
            out.append(f"{key} {a} != {b}")
    return out


def departures(side: str, p: Protocol, policy: RunPolicy) -> list[str]:
    """Where one side's recorded options depart from the gate policy the threshold was
    calibrated at (verdicts still stand; their false-alarm rate is not the calibrated one)."""
    out = []
    if p.round_budget is not None and p.round_budget != policy.round_budget:
        out.append(f"{side} ran {p.round_budget:g} s of rounds (policy {policy.round_budget:g})")
    if p.min_rounds is not None and p.min_rounds != policy.min_rounds:
        out.append(f"{side} ran at least {p.min_rounds} rounds (policy {policy.min_rounds})")
    if p.turns is False:
        out.append(f"{side} did not take turns with the other side (perf.yml's runs do)")
    return out


def _version(p: Protocol) -> str:
    if p.version is None:
        return "2 or 3 (not recorded)"
    return f"{p.version}" + (" (inferred)" if p.inferred else "")


__all__ = [
    "LOOK_OPTIONS",
    "PRE_SETTLE_VERSION",
    "ROUND_OPTIONS",
    "Protocol",
    "departures",
    "differences",
    "of_run",
]
