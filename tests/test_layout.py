"""The house's shape, checked: a short front door, no import cycles, nothing imported upward.

Read from the source with ``ast`` (every ``import`` and ``from`` statement, including
those inside functions and under ``if TYPE_CHECKING:``), so a cycle or an upward import
fails here before it confuses a reader or breaks a lazy import at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import concur

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"concur": ROOT / "src" / "concur", "mockserver": ROOT / "mockserver"}

# Lower layers first: a module may import its own layer and the ones before it, never
# one after it.  (Within a layer, the cycle check below keeps the order honest.)
LAYERS = [
    [
        "concur.records",
        "concur.errors",
        "concur.attempt",
        "concur.retry",
        "concur.meter",
        "concur.collector",
        "concur.args",
        "concur.loops",
    ],
    ["concur.lifetime", "concur.lazy", "concur.warc"],
    ["concur.crawl"],
    ["concur.store"],
    ["concur.cluster"],
    ["concur.jobs"],
    ["concur.engines"],
    ["concur.api"],
    ["concur.report", "concur.progress", "concur.experiment", "concur.budget"],
    ["concur.bench", "concur.gil", "concur.path"],
    ["concur.commands"],
    ["concur.cli", "concur.__main__", "concur"],
]


def _modules() -> dict[str, Path]:
    found = {}
    for name, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [name, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``module`` imports (``from a import b`` counts a.b if it is one)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {m: _imports(m, p, known) for m, p in modules.items()}
    # importing a.b.c runs a and a.b first: a package's own __init__ is no dependency of
    # its modules in the sense that matters here, so leave parents out of the edges
    return {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def _layer(module: str) -> int | None:
    best = None
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (i, len(prefix))
    return None if best is None else best[0]


def test_nothing_imports_upward() -> None:
    upward = []
    for module, deps in _graph().items():
        mine = _layer(module)
        for dep in deps:
            theirs = _layer(dep)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{module} imports {dep}")
    assert not upward, "\n".join(sorted(upward))


def test_the_checks_catch_what_they_look_for() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    assert _layer("concur.crawl.scheduler") < _layer("concur.jobs")  # type: ignore[operator]


def test_the_front_door_is_what_the_package_exports() -> None:
    assert concur.__all__ == sorted(concur.__all__)
    assert set(concur.__all__) == set(concur._WHERE)  # every name it says it has, it has
    for name in concur.__all__:
        assert getattr(concur, name).__doc__, f"{name} has no docstring"
    public = {n for n in dir(concur) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(concur, n)).__name__ == "module"}
    assert public - modules - {"annotations", "importlib", "TYPE_CHECKING", "Any"} == set(
        concur.__all__
    )
