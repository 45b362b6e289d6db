"""Imports run one way: the commands (and the entry points) import the library, never back,
and no module of ormbench imports itself through others (no cycle, function-local imports
included; imports under ``if TYPE_CHECKING:`` never run and do not count)."""

from __future__ import annotations

import ast
from pathlib import Path

import ormbench

PACKAGE = Path(ormbench.__file__).resolve().parent
# The command layer: argument parsing and printing, above the library.
COMMANDS = ("ormbench.commands", "ormbench.cli")


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_command(module: str) -> bool:
    """The commands, the CLI and the ``python -m`` entry points (which call the CLI)."""
    in_commands = any(module == c or module.startswith(c + ".") for c in COMMANDS)
    return in_commands or module.endswith("__main__")


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Ids of the import nodes under ``if TYPE_CHECKING:``."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            ids.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return ids


def _owner(name: str) -> str | None:
    """The ormbench module ``name`` is, or is inside (an attribute of it)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> set[str]:
    """The ormbench modules ``module`` imports when it runs (anywhere in its code)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: none today, resolved all the same
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            # ``from a import b``: the submodule a.b when there is one, else module a.
            found.update(
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            )
    owners = {_owner(name) for name in found}
    return {o for o in owners if o is not None and o != module}


GRAPH: dict[str, set[str]] = {m: imports(m) for m in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_sees_every_kind_of_import() -> None:
    """From-module, submodule and function-local imports are all edges; cycles are found."""
    assert "ormbench.jsonable" in GRAPH["ormbench.commands.page"]
    assert "ormbench.strategies.registry" in GRAPH["ormbench.strategies.builtin"]
    assert "ormbench.response.decode" in GRAPH["ormbench.strategies.fast"]  # function-local
    assert "ormbench.explain.analysis" not in GRAPH["ormbench.explain.mechanisms"]  # TYPE_CHECKING
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_library_module_imports_a_command() -> None:
    up = sorted(
        f"{m} imports {dep}"
        for m, deps in GRAPH.items()
        if not _is_command(m)
        for dep in deps
        if _is_command(dep)
    )
    assert up == []


def test_no_import_cycle() -> None:
    assert cycles(GRAPH) == []
