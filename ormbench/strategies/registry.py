"""The strategy registry: what a strategy is, and the functions that register and find them.

``ormbench.strategies`` re-exports all of it (import it from there); the built-in strategies
(``builtin``, ``fast``) import it from here, so that the package imports them and no module
imports back into it.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ormbench.errors import ConfigError
from ormbench.query.spec import ContentRequest, Page

ENTRY_POINT_GROUP = "ormbench.strategies"
# Names become part of benchmark ids (canonical-p10-<name>): keep them plain.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass
class StrategyContext:
    """What a strategy may use: the Engine (its pool also serves raw DBAPI connections) and a
    Session factory bound to it."""

    engine: Engine
    session_factory: sessionmaker[Session] = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.session_factory is None:
            self.session_factory = sessionmaker(self.engine)


class Strategy(Protocol):
    """A loading strategy; its docstring's first line is its label."""

    __name__: str

    def __call__(self, ctx: StrategyContext, req: ContentRequest) -> Page: ...


# Name -> strategy, in registration order (built-ins most ORM first, then user strategies).
STRATEGIES: dict[str, Strategy] = {}


def label(fn: Callable[..., object]) -> str:
    """A strategy's label: the first line of its docstring."""
    doc = inspect.getdoc(fn) or ""
    return doc.splitlines()[0] if doc else fn.__name__


def register(
    fn: Strategy | None = None, *, name: str | None = None
) -> Strategy | Callable[[Strategy], Strategy]:
    """Register ``fn`` under ``name`` (default: its function name); usable as a decorator.

    Registering the same function again is a no-op, so re-importing a module is harmless;
    another function under a taken name is a ConfigError.
    """

    def add(strategy: Strategy) -> Strategy:
        key = name or strategy.__name__
        where = f"{getattr(strategy, '__module__', '?')}.{strategy.__name__}"
        if not callable(strategy):
            raise ConfigError(f"strategy {key!r} is not callable")
        if not _NAME.match(key):
            raise ConfigError(
                f"strategy name {key!r} ({where}) must be lower-case letters, digits and "
                "underscores, starting with a letter"
            )
        if not inspect.getdoc(strategy):
            raise ConfigError(f"strategy {key!r} ({where}) needs a docstring: it is its label")
        existing = STRATEGIES.get(key)
        if existing is not None and not _same_function(existing, strategy):
            raise ConfigError(
                f"strategy name {key!r} is already taken by "
                f"{existing.__module__}.{existing.__name__}; register {where} under another "
                "name (register(name=...))"
            )
        STRATEGIES[key] = strategy
        return strategy

    return add(fn) if fn is not None else add


def _same_function(a: Strategy, b: Strategy) -> bool:
    # A module imported twice (e.g. by path and by package) defines equal, not identical, fns.
    return a is b or (
        getattr(a, "__module__", None) == getattr(b, "__module__", None)
        and getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
    )


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``; a ConfigError lists the known ones otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)} "
            "(add your own with --strategies-from MODULE)"
        ) from None


def load_strategy_modules(specs: Iterable[str]) -> list[str]:
    """Import user strategy modules; return the names they added, in order.

    Each spec is ``package.module`` (its ``@register`` functions register themselves) or
    ``package.module:function`` (that one function is registered under its own name).
    """
    before = set(STRATEGIES)
    for spec in (s.strip() for s in specs):
        if not spec:
            continue
        module_name, _, attr = spec.partition(":")
        module = _import(module_name, spec)
        if attr:
            try:
                register(getattr(module, attr))
            except AttributeError:
                raise ConfigError(
                    f"module {module_name!r} has no function {attr!r} (from {spec!r})"
                ) from None
    return [n for n in STRATEGIES if n not in before]


def _import(module_name: str, spec: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"could not import strategy module {module_name!r} (from {spec!r}): {exc}; "
            "check --strategies-from / ORMBENCH_STRATEGIES_FROM and that it is on sys.path"
        ) from None


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Load every entry point of ``group``; return the strategy names they added.

    An entry point naming a module registers whatever it decorates; one naming a function
    registers it under the entry point's name.
    """
    before = set(STRATEGIES)
    for ep in entry_points(group=group):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken third-party plugin must say which one it is
            raise ConfigError(
                f"could not load strategy entry point {ep.name!r} = {ep.value!r} "
                f"(group {group}): {exc}"
            ) from None
        if not isinstance(obj, ModuleType):
            register(obj, name=ep.name)
    return [n for n in STRATEGIES if n not in before]
