"""mockserver's modules import one another without cycles.

A cycle makes import order matter (a module half-initialised when another reads it) and
hides which module is the lower one.  Every ``import`` and ``from ... import`` counts,
wherever it is: at the top, inside a function, under ``if TYPE_CHECKING:`` — an
annotation-only import still ties the two modules together for a reader and for mypy.

The graph is read from the source with :mod:`ast`, not by importing, so a cycle that
Python happens to tolerate at runtime is caught too.  A module importing a submodule
does not count as importing the package around it: Python initialises the package first,
but that is how every package's ``__init__`` re-exports its parts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mockserver

ROOT = Path(mockserver.__file__).parent
PACKAGE = "mockserver"


def module_name(path: Path, root: Path) -> str:
    """``root/site/graph.py`` -> ``mockserver.site.graph``; a package is its ``__init__``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of the package that ``name`` (at ``path``) imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, up level - 1 more
                package = name.split(".") if is_package else name.split(".")[:-1]
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # ``from pkg import mod`` imports the module; ``from mod import name``, the module.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # ``import mockserver.site.graph`` names the module itself, the longest match.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    mods = modules(root)
    known = set(mods)
    return {name: imports(name, path, known) for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a path ``[a, b, ..., a]``, or None (depth-first search)."""
    mark: dict[str, str] = {}  # "path": on the current path; "done": no cycle through it
    for start in sorted(graph):
        if start in mark:
            continue
        path = [start]
        mark[start] = "path"
        stack = [iter(sorted(graph[start]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                mark[path.pop()] = "done"
            elif mark.get(nxt) == "path":
                return path[path.index(nxt) :] + [nxt]
            elif nxt not in mark:
                mark[nxt] = "path"
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_graph_is_read() -> None:
    """The scan sees the package's real edges (so an empty graph cannot pass by accident)."""
    graph = import_graph()
    assert f"{PACKAGE}.routes" in graph[f"{PACKAGE}.server"]
    assert f"{PACKAGE}.site.graph" in graph[f"{PACKAGE}.site.handler"]
    assert f"{PACKAGE}.loop" in graph[f"{PACKAGE}.testing"]
    assert all(name.startswith(PACKAGE) for edges in graph.values() for name in edges)


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in mockserver: " + " -> ".join(cycle or [])


def test_a_cycle_is_found(tmp_path: Path) -> None:
    """The checker itself: a cycle through a function-level and a TYPE_CHECKING import."""
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from mockserver.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import C\n"
    )
    (pkg / "c.py").write_text("import mockserver.a\n")
    graph = import_graph(pkg)
    assert find_cycle(graph) == [f"{PACKAGE}.a", f"{PACKAGE}.sub.b", f"{PACKAGE}.c", f"{PACKAGE}.a"]
    (pkg / "c.py").write_text("")
    assert find_cycle(import_graph(pkg)) is None
